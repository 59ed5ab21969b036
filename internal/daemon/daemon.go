// Package daemon wires the heartbeat daemon together: it reads the
// configuration, opens the media, runs the engine, the resource runner and
// the control socket, speaks the systemd notify protocol (READY, STATUS,
// STOPPING, RELOADING, WATCHDOG), re-reads the configuration on SIGHUP and
// stops everything in order. cmd/heartbeat only parses flags and calls Run.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/coreos/go-systemd/v22/activation"
	"golang.org/x/sys/unix"

	"github.com/linuxha/heartbeat/internal/config"
	"github.com/linuxha/heartbeat/internal/control"
	"github.com/linuxha/heartbeat/internal/dbusapi"
	"github.com/linuxha/heartbeat/internal/engine"
	"github.com/linuxha/heartbeat/internal/ktimer"
	"github.com/linuxha/heartbeat/internal/loadavg"
	"github.com/linuxha/heartbeat/internal/media"
	"github.com/linuxha/heartbeat/internal/ping"
	"github.com/linuxha/heartbeat/internal/resource/resolve"
	"github.com/linuxha/heartbeat/internal/resource/unit"
	"github.com/linuxha/heartbeat/internal/resource/vip"
	"github.com/linuxha/heartbeat/internal/version"
	"github.com/linuxha/heartbeat/internal/watchdog"
)

// Options are the daemon's command-line settings.
type Options struct {
	ConfigDir  string // /etc/ha.d
	NodeName   string // "" = uname -n
	StateDir   string // /var/lib/heartbeat
	RuntimeDir string // /run/heartbeat
	// WatchdogDirect makes the daemon open and pet the ha.cf watchdog
	// device itself instead of leaving it to systemd.
	WatchdogDirect bool
	// AnnounceCount and AnnounceInterval tune the gratuitous ARP /
	// unsolicited NA bursts sent when a VIP is taken (zero: the defaults,
	// vip.DefaultCount and vip.DefaultInterval). Flags, not ha.cf
	// directives: a 3.0.6 node reading the same ha.cf would refuse them.
	AnnounceCount    int
	AnnounceInterval time.Duration
	Stderr           io.Writer
}

// check reports option values that cannot work.
func (o Options) check() error {
	var errs []error
	if o.AnnounceCount < 0 || o.AnnounceCount > 100 {
		errs = append(errs, fmt.Errorf("--announce-count %d: want 1 to 100 (0: default %d)", o.AnnounceCount, vip.DefaultCount))
	}
	if o.AnnounceInterval < 0 || o.AnnounceInterval > time.Minute {
		errs = append(errs, fmt.Errorf("--announce-interval %v: want up to 1m (0: default %v)", o.AnnounceInterval, vip.DefaultInterval))
	}
	return errors.Join(errs...)
}

// resolveConfig is how resources are found and driven.
func (d *daemon) resolveConfig(units *unit.Manager) resolve.Config {
	return resolve.Config{Units: units, Logger: d.log,
		VIPOptions: vip.Options{Count: d.opts.AnnounceCount, Interval: d.opts.AnnounceInterval, Logger: d.log}}
}

// Socket names passed by systemd (FileDescriptorName= in the socket units).
const (
	fdUDP     = "udp"
	fdControl = "control"
)

// Run runs the daemon until ctx is cancelled (SIGTERM, SIGINT).
func Run(ctx context.Context, opts Options) error {
	if err := opts.check(); err != nil {
		return err
	}
	cfg, warnings, err := config.Load(opts.ConfigDir, config.Options{NodeName: opts.NodeName})
	log, closeLog := newLogger(opts.Stderr, cfg)
	defer closeLog()
	for _, w := range warnings {
		log.Warn("configuration warning", "err", w.String())
	}
	if err != nil {
		return fmt.Errorf("configuration errors:\n%w", err)
	}
	d := &daemon{opts: opts, log: log, notify: newNotifier(log)}
	d.cfg.Store(cfg)
	return d.run(ctx)
}

type daemon struct {
	opts   Options
	log    *slog.Logger
	notify *notifier
	cfg    atomic.Pointer[config.Config]
	eng    *engine.Engine
	runner *runner
}

func (d *daemon) run(ctx context.Context) error {
	cfg, log := d.cfg.Load(), d.log
	// systemd socket activation: every helper unsets LISTEN_*, so read
	// them exactly once.
	files := activation.FilesWithNames()
	uuid, err := loadUUID(d.opts.StateDir)
	if err != nil {
		return err
	}
	gen, err := nextGeneration(d.opts.StateDir, time.Now())
	if err != nil {
		return err
	}
	specs, err := mediaSpecs(cfg.Media, cfg.Path)
	if err != nil {
		return err
	}
	sockets, err := activatedSockets(files[fdUDP], specs, log)
	if err != nil {
		return err
	}
	ms, err := media.Open(ctx, specs, media.Options{Logger: log, ConfigName: cfg.Path, Sockets: sockets})
	if err != nil {
		return err
	}
	defer func() {
		for _, m := range ms {
			m.Close()
		}
	}()
	if len(ms) == 0 {
		return fmt.Errorf("%s: no usable medium: every ucast line names this host", cfg.Path)
	}

	// Resources: what a crashed run left behind goes first, then what runs
	// outside our control blocks its group (3.0.6's verifyallidle).
	units := unit.NewManager(log)
	defer units.Close()
	res := resolve.New(d.resolveConfig(units))
	held := &heldFile{path: filepath.Join(d.opts.RuntimeDir, "held-groups")}
	if err := cleanupHeld(ctx, log, held, res); err != nil {
		log.Error("cleaning up after the previous run", "err", err)
	}
	d.runner = newRunner(log, cfg.Groups, res, held, fencer(log))
	busChanges := make(chan struct{}, 1)
	d.runner.onChange = func() { poke(busChanges) }
	groups := d.engineGroups(ctx, cfg, true)
	d.orderAgainstUnits(ctx, orderingDropIn)

	ecfg := engine.Config{
		LocalNode:    cfg.LocalNode,
		Nodes:        cfg.Nodes,
		Keepalive:    cfg.Keepalive,
		Deadtime:     cfg.Deadtime,
		Warntime:     cfg.Warntime,
		Initdead:     cfg.Initdead,
		Hopfudge:     cfg.Hopfudge,
		Keys:         &cfg.Keys,
		UUID:         uuid,
		Generation:   gen,
		Logger:       log,
		Groups:       groups,
		AutoFailback: failback(cfg.AutoFailback),
		Runner:       d.runner,
		// A timerfd: no wake-up of the Go runtime's monitor thread per
		// keepalive (CPU per packet, docs/benchmarks.md), repeating every
		// keepalive so that the next keepalive needs no re-arming.
		NewTimer: func(d time.Duration) (engine.Timer, error) {
			return ktimer.NewPeriodicKernelTimer(d, cfg.Keepalive)
		},
	}
	// The ld field, read by one raw pread a second (internal/loadavg).
	if la, err := loadavg.Open(loadavg.Path); err == nil {
		ecfg.LoadAvg = la.Read
		defer la.Close()
	} else {
		log.Warn("load average unavailable, the engine reads it by path", "err", err)
	}
	targets, pingNames, err := pingTargets(cfg)
	if err != nil {
		return err
	}
	ecfg.PingNodes, ecfg.Deadping = pingNames, cfg.Deadping
	pets := d.watchdogs(cfg)
	if len(pets) > 0 {
		ecfg.Watchdog = d.watchdogInterval(cfg)
		ecfg.Pet = func() {
			for _, p := range pets {
				p.pet()
			}
		}
		defer func() {
			for _, p := range pets {
				p.close()
			}
		}()
	}
	d.eng, err = engine.New(ecfg, ms)
	if err != nil {
		return err
	}

	ln, err := controlListener(files[fdControl], filepath.Join(d.opts.RuntimeDir, "control"))
	if err != nil {
		return err
	}
	svcCtx, stopSvc := context.WithCancel(context.Background())
	defer stopSvc()
	go func() {
		if err := control.Serve(svcCtx, ln, &controlHandler{eng: d.eng, cfg: &d.cfg}, authorize, log); err != nil {
			log.Error("control socket failed", "err", err)
		}
	}()

	// The engine runs until we tell it to stop, after STOPPING=1. It
	// starts before anything slow: it pets the service watchdog, which may
	// have been shortened to deadtime/2 already.
	engCtx, stopEngine := context.WithCancel(context.Background())
	defer stopEngine()
	engDone := make(chan error, 1)
	log.Info("heartbeat starting", "node", cfg.LocalNode, "version", version.String(), "generation", gen)
	go func() { engDone <- d.eng.Run(engCtx) }()

	// Respawn children: transient units ordered After=heartbeat.service,
	// so their start jobs finish only once we are up (READY=1). They are
	// started off this goroutine: waiting here would deadlock the start.
	respawner := units.Respawner(unit.RespawnOptions{BindsTo: "heartbeat.service", Logger: log})
	rsCtx, rsCancel := context.WithCancel(svcCtx)
	rsDone := make(chan struct{})
	go func() {
		defer close(rsDone)
		d.startRespawn(rsCtx, respawner, cfg)
	}()
	defer func() {
		rsCancel()
		<-rsDone
		sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := respawner.StopAll(sctx); err != nil {
			log.Warn("stopping respawn children", "err", err)
		}
	}()
	changes := make(chan struct{}, 1)
	go d.watchEvents(svcCtx, changes, busChanges)
	busReady := make(chan struct{})
	reloads := make(chan chan error)
	go d.serveBus(svcCtx, busChanges, busReady, reloads)
	if len(targets) > 0 {
		prober := ping.New(targets, cfg.Keepalive, log)
		go func() {
			if err := prober.Run(svcCtx, func(r ping.Reply) { d.eng.PingReply(r.Node, r.At) }); err != nil {
				log.Error("ping nodes cannot be probed", "err", err)
			}
		}()
	}

	// Ready once the media are bound, the engine answers with its state and
	// the bus name is owned (or the bus is absent: we run without it).
	select {
	case <-busReady:
	case <-time.After(2 * time.Second):
		log.Warn("not on the system bus yet; starting without it (it is retried)")
	case <-ctx.Done():
	}
	if s, err := d.eng.Snapshot(ctx); err == nil {
		d.notify.ready(statusText(s))
	}

	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	for {
		select {
		case <-ctx.Done():
			d.notify.stopping()
			log.Info("stopping", "node", cfg.LocalNode)
			stopEngine()
			err := <-engDone
			log.Info("heartbeat stopped", "node", cfg.LocalNode)
			return err
		case err := <-engDone:
			return fmt.Errorf("engine stopped: %w", err)
		case <-hup:
			d.reload(ctx)
			poke(busChanges)
		case reply := <-reloads:
			reply <- d.reload(ctx)
			poke(busChanges)
		case <-changes:
			if s, err := d.eng.Snapshot(ctx); err == nil {
				d.notify.status(statusText(s))
			}
		}
	}
}

// watchEvents drains the engine's events and coalesces them into change
// notifications (STATUS=, D-Bus).
func (d *daemon) watchEvents(ctx context.Context, outs ...chan<- struct{}) {
	for {
		select {
		case <-d.eng.Events():
			for _, c := range outs {
				select {
				case c <- struct{}{}:
				default:
				}
			}
		case <-ctx.Done():
			return
		}
	}
}

// serveBus exports the cluster on the system bus (org.linuxha.Heartbeat1),
// re-registering when the bus comes back.
func (d *daemon) serveBus(ctx context.Context, changes <-chan struct{}, ready chan<- struct{}, reloads chan chan error) {
	var once sync.Once
	err := dbusapi.Run(ctx, &busBackend{eng: d.eng, reloads: reloads}, changes, dbusapi.Options{
		Logger:  d.log,
		Current: d.busInfo,
		Ready: func() {
			once.Do(func() { close(ready) })
			d.log.Info("on the system bus", "name", "org.linuxha.Heartbeat1")
		},
	})
	if err != nil {
		d.log.Error("d-bus api stopped", "err", err)
	}
}

// busInfo is what the D-Bus API shows of the configuration in force.
func (d *daemon) busInfo() (dbusapi.Info, map[string][]string) {
	cfg := d.cfg.Load()
	groups := map[string][]string{}
	for _, g := range cfg.Groups {
		groups[g.Key()] = tokens(g)
	}
	var states map[string][]string
	if d.runner != nil {
		states = d.runner.resourceStates()
	}
	return dbusapi.Info{
		ResourceStates: states,
		Version:        version.String(), Keepalive: cfg.Keepalive, Deadtime: cfg.Deadtime,
		Warntime: cfg.Warntime, Initdead: cfg.Initdead, AutoFailback: cfg.AutoFailback.String(),
		Parameter: func(name string) (string, bool) {
			if name == "hbversion" {
				return version.String(), true
			}
			return cfg.Parameter(name)
		},
	}, groups
}

type busBackend struct {
	eng     *engine.Engine
	reloads chan chan error
}

func (b *busBackend) Snapshot(ctx context.Context) (engine.Snapshot, error) {
	return b.eng.Snapshot(ctx)
}
func (b *busBackend) Standby(ctx context.Context, w engine.Which) error { return b.eng.Standby(ctx, w) }
func (b *busBackend) Takeover(ctx context.Context, w engine.Which) error {
	return b.eng.Takeover(ctx, w)
}
func (b *busBackend) Reload(ctx context.Context) error {
	reply := make(chan error, 1)
	select {
	case b.reloads <- reply:
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

func failback(a config.AutoFailback) engine.Failback {
	switch a {
	case config.AutoFailbackOn:
		return engine.FailbackOn
	case config.AutoFailbackOff:
		return engine.FailbackOff
	}
	return engine.FailbackLegacy
}

// engineGroups maps haresources to engine groups; at start (verify) groups
// with resources already running are blocked.
func (d *daemon) engineGroups(ctx context.Context, cfg *config.Config, verify bool) []engine.GroupConfig {
	var busy map[string]string
	if verify {
		busy = d.runner.busy(ctx)
	}
	var groups []engine.GroupConfig
	for _, g := range cfg.Groups {
		gc := engine.GroupConfig{Key: g.Key(), Preferred: g.Node}
		if why, ok := busy[gc.Key]; ok {
			gc.Blocked = true
			d.log.Error("refusing to manage resource group: "+why, "group", gc.Key)
		}
		groups = append(groups, gc)
	}
	return groups
}

func (d *daemon) startRespawn(ctx context.Context, r *unit.Respawner, cfg *config.Config) {
	for _, ch := range cfg.Respawn {
		name, err := r.Start(ctx, unit.Program{User: ch.User, Path: ch.Path, Args: ch.Args, Failfast: ch.Failfast})
		switch {
		case errors.Is(err, unit.ErrIpfailBuiltin):
			d.log.Info("ipfail is built in: respawn line not needed", "line", ch.Line)
		case err != nil:
			d.log.Error("cannot start respawn child", "line", ch.Line, "err", err)
		default:
			d.log.Info("respawn child started", "unit", name)
		}
	}
}

// activatedSockets hands the UDP socket systemd passed (heartbeat-udp.socket,
// ListenDatagram=694) to the first bcast/ucast medium on that port, bound to
// its interface.
func activatedSockets(fs []*os.File, specs []media.Spec, log *slog.Logger) (map[string]*os.File, error) {
	if len(fs) == 0 {
		return nil, nil
	}
	out := map[string]*os.File{}
	for _, f := range fs {
		sa, err := socketPort(f)
		if err != nil {
			return nil, fmt.Errorf("socket from systemd: %w", err)
		}
		for _, s := range specs {
			if (s.Kind != media.Ucast && s.Kind != media.Bcast) || portOf(s) != sa {
				continue
			}
			key := media.ReceiveSocketKey(s)
			if _, taken := out[key]; taken {
				continue
			}
			if err := bindToDevice(f, s.Dev); err != nil {
				return nil, fmt.Errorf("socket from systemd: %w", err)
			}
			out[key] = f
			log.Info("using the socket passed by systemd", "medium", s.Dev, "port", sa)
			break
		}
	}
	return out, nil
}

func portOf(s media.Spec) int {
	if s.Port == 0 {
		return media.DefaultPort
	}
	return s.Port
}

func socketPort(f *os.File) (int, error) {
	sa, err := unix.Getsockname(int(f.Fd()))
	if err != nil {
		return 0, err
	}
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		return a.Port, nil
	case *unix.SockaddrInet6:
		return a.Port, nil
	}
	return 0, errors.New("not an IP socket")
}

func bindToDevice(f *os.File, dev string) error {
	return unix.SetsockoptString(int(f.Fd()), unix.SOL_SOCKET, unix.SO_BINDTODEVICE, dev)
}

// controlListener uses the control socket systemd passed, or binds one.
func controlListener(fs []*os.File, path string) (net.Listener, error) {
	if len(fs) > 0 {
		ln, err := net.FileListener(fs[0])
		fs[0].Close()
		if err != nil {
			return nil, fmt.Errorf("control socket from systemd: %w", err)
		}
		return ln, nil
	}
	return listenControl(path)
}

// CheckEnvironment returns warnings about the machine (not the files) that
// --check-config prints: a watchdog directive without a watchdog device.
func CheckEnvironment(cfg *config.Config) []string {
	var out []string
	if cfg.Watchdog != "" {
		if err := watchdog.Check(cfg.Watchdog); err != nil {
			out = append(out, fmt.Sprintf("%s:%d: watchdog %s: %v; the hardware watchdog cannot be armed on this machine (heartbeat runs without it)",
				cfg.Path, cfg.Line("watchdog"), cfg.Watchdog, err))
		}
	}
	return out
}

// pingTargets maps the ping, ping6 and ping_group lines to probe targets
// and the ping node names the engine tracks: a ping address is its own node
// (named by the address, as 3.0.6 does), a ping_group one node for all its
// addresses.
func pingTargets(cfg *config.Config) ([]ping.Target, []string, error) {
	var targets []ping.Target
	var names []string
	var errs []error
	resolveHost := func(h config.Host) (netip.Addr, error) {
		if h.Addr.IsValid() {
			return h.Addr, nil
		}
		addrs, err := net.LookupIP(h.Name)
		if err != nil || len(addrs) == 0 {
			return netip.Addr{}, fmt.Errorf("%s: ping node %q: cannot resolve: %w", cfg.Path, h.Name, err)
		}
		a, _ := netip.AddrFromSlice(addrs[0])
		return a.Unmap(), nil
	}
	for _, pn := range cfg.PingNodes {
		a, err := resolveHost(pn.Host)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		name := pn.Host.Name
		if name == "" {
			name = a.String()
		}
		names = append(names, name)
		targets = append(targets, ping.Target{Node: name, Addr: a})
	}
	for _, pg := range cfg.PingGroups {
		names = append(names, pg.Name)
		for _, h := range pg.Hosts {
			a, err := resolveHost(h)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			targets = append(targets, ping.Target{Node: pg.Name, Addr: a})
		}
	}
	return targets, names, errors.Join(errs...)
}

// mediaSpecs maps the media of ha.cf to media specs, resolving host names.
func mediaSpecs(in []config.Medium, path string) ([]media.Spec, error) {
	var out []media.Spec
	var errs []error
	for _, m := range in {
		s := media.Spec{Dev: m.Dev, Port: m.Port, Group: m.Group, TTL: m.TTL, Loop: m.Loop, Line: m.Line}
		switch m.Type {
		case config.Bcast:
			s.Kind = media.Bcast
		case config.Mcast:
			s.Kind = media.Mcast
		case config.Mcast6:
			s.Kind = media.Mcast6
		case config.Ucast, config.Ucast6:
			s.Kind = media.Ucast
			if m.Type == config.Ucast6 {
				s.Kind = media.Ucast6
			}
			peer := m.Peer
			if !peer.IsValid() {
				addrs, err := net.LookupIP(m.PeerHost)
				if err != nil || len(addrs) == 0 {
					errs = append(errs, fmt.Errorf("%s:%d: ucast %s: cannot resolve %q: %w", path, m.Line, m.Dev, m.PeerHost, err))
					continue
				}
				peer, _ = netip.AddrFromSlice(addrs[0])
				peer = peer.Unmap()
			}
			s.Peers = []netip.Addr{peer}
		case config.Serial:
			s = media.Spec{Kind: media.Serial, Path: m.Dev, Baud: m.Baud, Line: m.Line}
		default:
			errs = append(errs, fmt.Errorf("%s:%d: unsupported medium %v", path, m.Line, m.Type))
			continue
		}
		out = append(out, s)
	}
	return out, errors.Join(errs...)
}

func listenControl(path string) (net.Listener, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	// Reading the state is for everyone, as with cl_status; actions are
	// checked against the peer's credentials.
	if err := os.Chmod(path, 0o666); err != nil {
		ln.Close()
		return nil, fmt.Errorf("control socket: %w", err)
	}
	return ln, nil
}

type controlHandler struct {
	eng *engine.Engine
	cfg *atomic.Pointer[config.Config]
}

func (h *controlHandler) Status(ctx context.Context) (control.Status, error) {
	s, err := h.eng.Snapshot(ctx)
	if err != nil {
		return control.Status{}, err
	}
	cfg := h.cfg.Load()
	st := control.Status{
		Node:       s.LocalNode,
		State:      s.Status.String(),
		Generation: s.Generation,
		Version:    version.String(),
		Keepalive:  cfg.Keepalive.String(),
		Deadtime:   cfg.Deadtime.String(),
		Counters: map[string]uint64{
			"received":     s.Stats.Received,
			"malformed":    s.Stats.Malformed,
			"bad_auth":     s.Stats.BadAuth,
			"unknown_node": s.Stats.UnknownNode,
			"replayed":     s.Stats.Replayed,
			"duplicate":    s.Stats.Duplicate,
			"rexmit_asked": s.Stats.RexmitAsked,
			"rexmit_sent":  s.Stats.RexmitSent,
			"gap_filled":   s.Stats.GapFilled,
		},
	}
	for _, g := range s.Groups {
		st.Groups = append(st.Groups, control.Group{Key: g.Key, Preferred: g.Preferred, Owner: g.Owner, State: g.State.String(), Standby: g.Standby, Failed: g.Failed})
	}
	for _, n := range s.Nodes {
		typ := "normal"
		if n.Ping {
			typ = "ping"
		}
		cn := control.Node{Name: n.Name, Type: typ, Status: n.Status.String(), Local: n.Local, Generation: n.Generation, LastHeard: n.LastHeard}
		for _, l := range n.Links {
			cn.Links = append(cn.Links, control.Link{Name: l.Name, Status: l.Status.String(), LastHeard: l.LastHeard})
		}
		st.Nodes = append(st.Nodes, cn)
	}
	return st, nil
}

func (h *controlHandler) Standby(ctx context.Context, which string) error {
	w, ok := engine.ParseWhich(which)
	if !ok {
		return fmt.Errorf("unknown selection %q: want all, local, foreign or failback", which)
	}
	return h.eng.Standby(ctx, w)
}

func (h *controlHandler) Takeover(ctx context.Context, which string) error {
	w, ok := engine.ParseWhich(which)
	if !ok {
		return fmt.Errorf("unknown selection %q: want all, local, foreign or failback", which)
	}
	return h.eng.Takeover(ctx, w)
}

// authorize lets root and members of group haclient act.
func authorize(uid, gid uint32) bool {
	if uid == 0 {
		return true
	}
	g, err := user.LookupGroup("haclient")
	if err != nil {
		return false
	}
	if strconv.FormatUint(uint64(gid), 10) == g.Gid {
		return true
	}
	u, err := user.LookupId(strconv.FormatUint(uint64(uid), 10))
	if err != nil {
		return false
	}
	ids, err := u.GroupIds()
	return err == nil && slices.Contains(ids, g.Gid)
}

// CheckConfig is `heartbeat --check-config`: the configuration check of
// package config, plus warnings about this machine (watchdog device).
func CheckConfig(w io.Writer, opts Options) int {
	code := config.CheckConfig(w, opts.ConfigDir, config.Options{NodeName: opts.NodeName})
	if cfg, _, err := config.Load(opts.ConfigDir, config.Options{NodeName: opts.NodeName}); err == nil {
		for _, m := range CheckEnvironment(cfg) {
			fmt.Fprintln(w, "warning: "+m)
		}
	}
	return code
}

// Cleanup is `heartbeat --cleanup` (ExecStopPost=): it releases the groups
// the last run recorded as held, addresses first. After a clean stop there
// is nothing to do.
func Cleanup(ctx context.Context, opts Options) error {
	log, closeLog := newLogger(opts.Stderr, nil)
	defer closeLog()
	units := unit.NewManager(log)
	defer units.Close()
	res := resolve.New(resolve.Config{Units: units, Logger: log})
	return cleanupHeld(ctx, log, &heldFile{path: filepath.Join(opts.RuntimeDir, "held-groups")}, res)
}

func poke(c chan<- struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}
