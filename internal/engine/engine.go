package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/linuxha/heartbeat/internal/wire"
)

// Config is what the engine needs to know; the daemon builds it from ha.cf
// and authkeys.
type Config struct {
	LocalNode  string   // this node, lower-case
	Nodes      []string // every normal node, the local one included, lower-case
	Keepalive  time.Duration
	Deadtime   time.Duration
	Warntime   time.Duration
	Initdead   time.Duration
	Hopfudge   int
	Keys       *wire.Keyring
	UUID       [16]byte
	Generation uint64
	// LoadAvg returns the first line of /proc/loadavg for the ld field; nil
	// reads /proc/loadavg (at most once a second).
	LoadAvg func() string
	Logger  *slog.Logger

	// PingNodes are the ping and ping_group pseudo-members (ipfail); a
	// ping node is reachable while replies come within Deadping.
	PingNodes []string
	Deadping  time.Duration

	// Groups are the haresources lines; Runner starts and stops them.
	Groups       []GroupConfig
	AutoFailback Failback
	Runner       Runner
	// StopTimeout bounds a graceful stop (releasing every group); 0 = 10 min.
	StopTimeout time.Duration

	// Watchdog, when set, makes the loop itself call Pet every Watchdog/2
	// (systemd's WATCHDOG=1), so that a wedged loop stops petting.
	Watchdog time.Duration
	Pet      func()

	// NewTimer makes the loop's one timer, armed to fire after d; nil (or
	// an error) means a time.Timer. The daemon passes a kernel timer
	// (ktimer.NewKernelTimer): the Go runtime's monitor thread wakes at
	// every expiry of a runtime timer, twice per keepalive; a timerfd read
	// through the poller does not wake it (docs/benchmarks.md).
	NewTimer func(d time.Duration) (Timer, error)
}

// Timer is the engine loop's timer, in the manner of time.Timer. A value
// on C that is stale after a Reset (a race the caller cannot see) is
// harmless: the loop re-reads the clock and acts only on what is due.
type Timer interface {
	C() <-chan time.Time
	Reset(d time.Duration)
	Stop()
}

// DeadlineTimer is a Timer that can also be armed with the deadline itself.
// The loop uses it when its timer has it: successive keepalives are then
// exactly one keepalive apart, which a periodic kernel timer recognises
// (ktimer.NewPeriodicKernelTimer), where a duration from time.Until would
// be off by the time spent since the deadline was computed. period is the
// keepalive of the moment, which a reload may change.
type DeadlineTimer interface {
	ResetAt(deadline time.Time, period time.Duration)
}

type stdTimer struct{ t *time.Timer }

func (t stdTimer) C() <-chan time.Time   { return t.t.C }
func (t stdTimer) Reset(d time.Duration) { t.t.Reset(d) }
func (t stdTimer) Stop()                 { t.t.Stop() }

func (e *Engine) newTimer(d time.Duration) Timer {
	if e.cfg.NewTimer != nil {
		t, err := e.cfg.NewTimer(d)
		if err == nil {
			return t
		}
		e.log.Warn("kernel timer unavailable, using the runtime's", "err", err)
	}
	return stdTimer{time.NewTimer(d)}
}

func (c *Config) validate() error {
	var errs []error
	if c.LocalNode == "" {
		errs = append(errs, errors.New("no local node name"))
	}
	if !slices.Contains(c.Nodes, c.LocalNode) {
		errs = append(errs, fmt.Errorf("local node %q is not a cluster node", c.LocalNode))
	}
	if c.Keepalive <= 0 {
		errs = append(errs, errors.New("keepalive must be positive"))
	}
	if c.Deadtime <= c.Keepalive {
		errs = append(errs, errors.New("deadtime must be longer than keepalive"))
	}
	if c.Keys == nil {
		errs = append(errs, errors.New("no authentication keys"))
	}
	if len(c.Groups) > 0 && c.Runner == nil {
		errs = append(errs, errors.New("resource groups without a runner"))
	}
	seen := map[string]bool{}
	for _, g := range c.Groups {
		if seen[g.Key] {
			errs = append(errs, fmt.Errorf("duplicate group %q", g.Key))
		}
		seen[g.Key] = true
		if !slices.Contains(c.Nodes, g.Preferred) {
			errs = append(errs, fmt.Errorf("group %q: unknown node %q", g.Key, g.Preferred))
		}
	}
	return errors.Join(errs...)
}

// Engine runs the membership protocol over a set of media.
type Engine struct {
	cfg     Config
	media   []Medium
	log     *slog.Logger
	reqs    chan func(*core, time.Time)
	results chan opResult
	pings   chan pingReply
	events  chan Event
	lost    uint64
	opCtx   context.Context
	drops   map[string]*dropLog // per link and kind of bad packet; loop only
}

// dropLog rate-limits the warning for dropped packets: a node with a wrong
// key or a stray sender would otherwise log every keepalive.
type dropLog struct {
	last       time.Time
	suppressed int
}

// dropEvery is how often a recurring kind of bad packet is logged again.
const dropEvery = time.Minute

func dropKind(err error) string {
	switch {
	case errors.Is(err, wire.ErrAuth), errors.Is(err, wire.ErrUnknownKey):
		return "auth"
	case errors.As(err, new(errUnknownNode)):
		return "unknown node"
	}
	return "malformed"
}

// ErrNoPeer is returned by Standby when no other node could take the groups.
var ErrNoPeer = errors.New("no other node can take over")

// ErrBusy is returned by Standby when a Heartbeat 3.0.6 peer or this node is
// in the middle of a resource transition; try again later.
var ErrBusy = errors.New("resource transition in progress")

// ErrFenced is Run's result when it stopped without a good-bye because a
// group that could not be stopped is left to the node's reboot.
var ErrFenced = errors.New("stopped while fencing: no good-bye sent")

// New returns an engine; nothing runs until Run is called.
func New(cfg Config, media []Medium) (*Engine, error) {
	cfg.Nodes = slices.Clone(cfg.Nodes)
	for i, n := range cfg.Nodes {
		cfg.Nodes[i] = strings.ToLower(n)
	}
	cfg.Groups = slices.Clone(cfg.Groups)
	for i := range cfg.Groups {
		cfg.Groups[i].Preferred = strings.ToLower(cfg.Groups[i].Preferred)
	}
	if cfg.Deadping <= 0 {
		cfg.Deadping = cfg.Deadtime
	}
	if cfg.StopTimeout <= 0 {
		cfg.StopTimeout = 10 * time.Minute
	}
	cfg.LocalNode = strings.ToLower(cfg.LocalNode)
	if cfg.Warntime <= 0 || cfg.Warntime > cfg.Deadtime {
		cfg.Warntime = cfg.Deadtime / 2
	}
	if cfg.Initdead < cfg.Deadtime {
		cfg.Initdead = cfg.Deadtime
	}
	if cfg.Hopfudge == 0 {
		cfg.Hopfudge = 1
	}
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("engine config: %w", err)
	}
	if len(media) == 0 {
		return nil, errors.New("engine config: no media")
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Engine{
		cfg:     cfg,
		media:   media,
		log:     log,
		reqs:    make(chan func(*core, time.Time)),
		results: make(chan opResult, 16),
		pings:   make(chan pingReply, 64),
		events:  make(chan Event, 1024),
	}, nil
}

// Events delivers what changed, after the change is committed. A reader that
// falls behind loses events; the engine never waits for it.
func (e *Engine) Events() <-chan Event { return e.events }

// Snapshot asks the engine loop for its current state.
func (e *Engine) Snapshot(ctx context.Context) (Snapshot, error) {
	reply := make(chan Snapshot, 1)
	select {
	case e.reqs <- func(c *core, _ time.Time) { reply <- c.snapshot() }:
	case <-ctx.Done():
		return Snapshot{}, ctx.Err()
	}
	select {
	case s := <-reply:
		return s, nil
	case <-ctx.Done():
		return Snapshot{}, ctx.Err()
	}
}

// Standby gives up the selected groups to another node (hb_standby).
func (e *Engine) Standby(ctx context.Context, which Which) error {
	return e.request(ctx, func(c *core, now time.Time) error {
		acts, err := c.standbyReq(now, which)
		e.exec(acts)
		return err
	})
}

// Takeover pulls the selected groups to this node (hb_takeover).
func (e *Engine) Takeover(ctx context.Context, which Which) error {
	return e.request(ctx, func(c *core, now time.Time) error {
		e.exec(c.takeoverReq(now, which))
		return nil
	})
}

func (e *Engine) request(ctx context.Context, f func(*core, time.Time) error) error {
	reply := make(chan error, 1)
	select {
	case e.reqs <- func(c *core, now time.Time) { reply <- f(c, now) }:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-reply:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

type pingReply struct {
	node string
	at   time.Time
}

// PingReply tells the engine that ping node answered at the given time. It
// never blocks: under a flood, replies are dropped (the next one counts).
func (e *Engine) PingReply(node string, at time.Time) {
	select {
	case e.pings <- pingReply{node, at}:
	default:
	}
}

type received struct {
	Packet
	link int
}

// Run runs the engine until ctx is cancelled, then says good-bye to the
// peers (shutdone) and returns nil. It does not close the media.
func (e *Engine) Run(ctx context.Context) error {
	links := make([]string, len(e.media))
	for i, m := range e.media {
		links[i] = m.Name()
	}
	c := newCore(e.cfg, links)
	// The loop reads the first three media directly (one goroutine hand-off
	// less per packet); more media are funnelled through pump goroutines.
	var direct [3]<-chan Packet
	in := make(chan received, 256)
	pumpCtx, stopPumps := context.WithCancel(context.Background())
	defer stopPumps()
	for i, m := range e.media {
		if i < len(direct) {
			direct[i] = m.Packets()
			continue
		}
		go pump(pumpCtx, i, m, in)
	}
	recvDirect := func(i int, p Packet, ok bool) {
		if !ok {
			direct[i] = nil // medium closed
			return
		}
		t := time.Now()
		e.exec(c.recv(t, p.At, i, p.Data))
	}
	loadavg := e.cfg.LoadAvg
	if loadavg == nil {
		loadavg = readLoadavg
	}
	var ldAt time.Time
	refreshLd := func(now time.Time) {
		if now.Sub(ldAt) >= time.Second {
			ldAt = now
			if s := loadavg(); s != "" {
				c.loadavg = s
			}
		}
	}
	now := time.Now()
	refreshLd(now)
	e.log.Info("heartbeat engine started", "node", e.cfg.LocalNode, "generation", e.cfg.Generation,
		"keepalive", e.cfg.Keepalive, "deadtime", e.cfg.Deadtime, "media", strings.Join(links, ","))
	opCtx, cancelOps := context.WithCancel(context.Background())
	defer cancelOps()
	e.opCtx = opCtx
	e.exec(c.start(now))
	// The watchdog is petted from the loop every Watchdog/2 at the latest,
	// and earlier when the loop is awake anyway (a keepalive, a packet):
	// no wake-up of its own, which at tight timers costs more than the
	// pet. One timer serves the core's deadlines and the pet's.
	petting := e.cfg.Watchdog > 0 && e.cfg.Pet != nil
	petEvery := e.cfg.Watchdog / 2
	petEarly := petEvery - min(petEvery/2, e.cfg.Keepalive)
	var lastPet time.Time
	if petting {
		e.cfg.Pet()
		lastPet = time.Now()
	}
	wake := func() time.Time {
		next := c.nextWake()
		if petting {
			if t := lastPet.Add(petEvery); t.Before(next) {
				next = t
			}
		}
		return next
	}
	armed := wake()
	timer := e.newTimer(time.Until(armed))
	defer timer.Stop()
	timerC := timer.C()
	at, _ := timer.(DeadlineTimer)
	done := ctx.Done()
	var stopDeadline <-chan time.Time
	for !c.saidBye && !c.abandoned {
		select {
		case <-done:
			done = nil
			e.log.Info("stopping: releasing resource groups", "node", e.cfg.LocalNode)
			stopDeadline = time.After(e.cfg.StopTimeout)
			e.exec(c.stop(time.Now()))
		case <-stopDeadline:
			e.log.Error("graceful stop timed out: groups still held", "node", e.cfg.LocalNode)
			return errors.New("graceful stop timed out")
		case p, ok := <-direct[0]:
			recvDirect(0, p, ok)
		case p, ok := <-direct[1]:
			recvDirect(1, p, ok)
		case p, ok := <-direct[2]:
			recvDirect(2, p, ok)
		case r := <-in:
			now = time.Now()
			e.exec(c.recv(now, r.At, r.link, r.Data))
		case r := <-e.results:
			e.exec(c.opDone(time.Now(), r))
		case <-timerC:
			armed = time.Time{} // fired: arm again whatever the deadline
			now = time.Now()
			refreshLd(now)
			e.exec(c.tick(now))
		case req := <-e.reqs:
			req(c, time.Now())
		case pr := <-e.pings:
			e.exec(c.pingReply(time.Now(), pr))
		}
		if petting {
			if t := time.Now(); !t.Before(lastPet.Add(petEarly)) {
				e.cfg.Pet()
				lastPet = t
			}
		}
		// Most packets leave the next deadline where it was (the next
		// keepalive): re-arming the timer anyway costs a wake-up of the
		// runtime's poller thread per packet.
		if next := wake(); !next.Equal(armed) {
			armed = next
			if at != nil {
				at.ResetAt(next, c.cfg.Keepalive)
			} else {
				timer.Reset(time.Until(next))
			}
		}
	}
	if c.abandoned {
		e.log.Error("stopped without a good-bye: a group that could not be stopped is left to the reboot", "node", e.cfg.LocalNode)
		return ErrFenced
	}
	e.log.Info("heartbeat engine stopped", "node", e.cfg.LocalNode)
	return nil
}

func pump(ctx context.Context, i int, m Medium, in chan<- received) {
	ch := m.Packets()
	for {
		select {
		case p, ok := <-ch:
			if !ok {
				return
			}
			select {
			case in <- received{Packet: p, link: i}:
			case <-ctx.Done():
				return
			}
		case <-ctx.Done():
			return
		}
	}
}

func (e *Engine) exec(acts []action) {
	for _, a := range acts {
		if a.op != 0 {
			go e.runOp(a.op, a.group)
			continue
		}
		if a.data != nil {
			for _, m := range e.media {
				if err := m.Send(a.data); err != nil {
					e.log.Debug("send failed", "medium", m.Name(), "err", err)
				}
			}
			continue
		}
		e.logEvent(a.ev)
		select {
		case e.events <- a.ev:
		default:
			e.lost++
		}
	}
}

func (e *Engine) logEvent(ev Event) {
	switch ev := ev.(type) {
	case NodeEvent:
		lvl := slog.LevelInfo
		if ev.New == StatusDead {
			lvl = slog.LevelWarn
		}
		attrs := []any{"node", ev.Node, "state", ev.New.String(), "old_state", ev.Old.String(), "reason", ev.Reason}
		if !ev.LastHeard.IsZero() {
			attrs = append(attrs, "last_heard", ev.LastHeard.Format(time.RFC3339Nano))
		}
		if ev.New == StatusDead {
			attrs = append(attrs, "message_id", MsgNodeDead)
		}
		e.log.Log(context.Background(), lvl, "node status changed", attrs...)
	case LinkEvent:
		lvl := slog.LevelInfo
		if ev.New == LinkDead {
			lvl = slog.LevelWarn
		}
		e.log.Log(context.Background(), lvl, "link status changed", "node", ev.Node, "link", ev.Link, "state", ev.New.String(), "old_state", ev.Old.String())
	case LateEvent:
		e.log.Warn("late heartbeat", "node", ev.Node, "silence", ev.Silence)
	case RestartEvent:
		e.log.Info("heartbeat restart on node", "node", ev.Node, "old_generation", ev.OldGen, "generation", ev.NewGen)
	case GroupEvent:
		attrs := []any{"group", ev.Group, "state", ev.New.String(), "old_state", ev.Old.String()}
		if ev.Node != "" {
			attrs = append(attrs, "node", ev.Node)
		}
		if ev.Reason != "" {
			attrs = append(attrs, "reason", ev.Reason)
		}
		if ev.Err != nil {
			e.log.Error("resource group", append(attrs, "err", ev.Err, "message_id", MsgGroupFailed)...)
			return
		}
		switch {
		case ev.New == GroupRunning:
			attrs = append(attrs, "message_id", MsgGroupAcquired)
		case ev.Old == GroupStopping && (ev.New == GroupStopped || ev.New == GroupFailed):
			attrs = append(attrs, "message_id", MsgGroupReleased)
		}
		e.log.Info("resource group", attrs...)
	case StandbyEvent:
		e.log.Info("standby exchange", "node", ev.Peer, "state", ev.Phase, "role", ev.Role, "which", ev.Which, "reason", ev.Reason)
	case OwnerEvent:
		e.log.Debug("group owner changed", "group", ev.Group, "node", ev.Owner, "old_node", ev.Old)
	case BadPacketEvent:
		// Logged at warning level, the first of each kind per link at once,
		// then once a minute with the number left out.
		kind := dropKind(ev.Err)
		key := ev.Link + "\x00" + kind
		if e.drops == nil {
			e.drops = map[string]*dropLog{}
		}
		d := e.drops[key]
		if d == nil {
			d = &dropLog{}
			e.drops[key] = d
		}
		if !d.last.IsZero() && ev.At.Sub(d.last) < dropEvery {
			d.suppressed++
			return
		}
		e.log.Warn("packet dropped", "link", ev.Link, "reason", kind, "err", ev.Err, "suppressed", d.suppressed)
		d.last, d.suppressed = ev.At, 0
	case SendErrorEvent:
		e.log.Error("cannot build message", "err", ev.Err)
	}
}

// runOp runs one resource operation off the loop and reports back.
func (e *Engine) runOp(kind opKind, grp string) {
	var err error
	r := e.cfg.Runner
	switch kind {
	case opAcquire:
		err = r.Acquire(e.opCtx, grp)
	case opRelease:
		err = r.Release(e.opCtx, grp)
	case opAnnounce:
		err = r.Announce(e.opCtx, grp)
	case opFence:
		err = r.Fence(e.opCtx, "cannot stop resource group "+grp)
	}
	select {
	case e.results <- opResult{kind: kind, group: grp, err: err}:
	case <-e.opCtx.Done():
	}
}

func readLoadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}
