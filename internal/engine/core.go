package engine

import (
	"bytes"
	"errors"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/linuxha/heartbeat/internal/wire"
)

// Message types of Heartbeat 3.0.6 the membership core handles itself.
const (
	tStatus     = "status"
	tAck        = "NS_ackmsg"
	tRexmit     = "NS_rexmit"
	tNakRexmit  = "NS_nak_rexmit"
	tReqNodes   = "reqnodes"
	tRepNodes   = "repnodes"
	tShutdone   = "shutdone"
	maxRexmit   = 250 * time.Millisecond // max_rexmit_delay of 3.0.6
	rexmitTries = 10                     // requests per gap before we give up on it
	histSize    = 512                    // sent messages kept for retransmission
	ackEvery    = 10                     // acknowledge every 10 messages of a peer
)

// action is one thing the loop must do after a step.
type action struct {
	data  []byte // datagram to send on every medium
	ev    Event  // event to publish
	op    opKind // resource operation to run on group
	group string
}

type linkState struct {
	status    LinkStatus
	lastHeard time.Time
	maxSeq    uint64 // highest seq heard on this link (current generation)
}

type peer struct {
	name       string
	uuid       []byte
	status     NodeStatus
	gen        uint64
	heard      bool // a sequenced message of some generation was accepted
	left       bool // sent shutdone in this generation
	lastHeard  time.Time
	lateWarned bool
	rx         seqWindow
	links      []linkState
	lastAck    uint64 // last ackseq we sent for this peer
	ackedUs    uint64 // highest ackseq the peer sent for our messages
	pingCount  int    // ping nodes the peer reaches (-1: it does not say)
	stSeq      uint64 // seq of the newest status message applied
	// retransmission requests for the current gap
	gapFirst uint64
	askAt    time.Time
	tries    int
	groups   peerGroups
}

type histEntry struct {
	seq    uint64
	data   []byte
	keys   *wire.Keyring // what data is signed with
	resent time.Time
}

// core is the pure membership state machine. Methods take the current time
// and an input and append actions to out; they do no I/O.
type core struct {
	cfg          Config
	links        []string
	status       NodeStatus
	seq          uint64
	started      time.Time
	activeAt     time.Time // when we go active at the latest
	peers        []*peer
	byName       map[string]*peer
	hist         [histSize]histEntry
	stats        Stats
	loadavg      string
	ttl          string
	nodeList     string
	asked        bool // reqnodes sent
	stopping     bool
	nextSend     time.Time
	out          []action
	msg          wire.Message // the message being built (build, send)
	rmsg         wire.Message // the datagram being handled (recv)
	firstWait    time.Duration
	groups       []*group
	reportDue    bool
	saidBye      bool
	abandoned    bool // stopped while a group is fenced: leave without a good-bye
	pingNodes    []*pingNode
	askedReports time.Time // last `starting` sent for missing reports
	weakSince    time.Time // since when a live peer reaches more ping nodes
	weakActed    bool
	// 3.0.6 resource protocol (legacy.go)
	discovered bool      // we have known every live peer's holdings once
	xchg       *exchange // hb_standby exchange with a 3.0.6 peer in flight
	xRetryAt   time.Time // no automatic standby before
	sentStable bool      // isstable of our last report
	sentHold   string    // rsc_hold of our last report
}

type pingNode struct {
	name   string
	status NodeStatus // init, ping (reachable), dead
	last   time.Time
}

func newCore(cfg Config, links []string) *core {
	c := &core{
		cfg:     cfg,
		links:   links,
		status:  StatusInit,
		byName:  make(map[string]*peer),
		loadavg: "0.00 0.00 0.00 1/1 1",
	}
	var nl strings.Builder
	for _, n := range cfg.Nodes {
		nl.WriteString(n)
		nl.WriteByte(' ')
		if n == cfg.LocalNode {
			continue
		}
		p := &peer{name: n, status: StatusInit, links: make([]linkState, len(links)), pingCount: -1}
		for i := range p.links {
			p.links[i].status = LinkDead
		}
		c.peers = append(c.peers, p)
		c.byName[n] = p
	}
	c.nodeList = nl.String()
	for _, n := range cfg.PingNodes {
		c.pingNodes = append(c.pingNodes, &pingNode{name: n, status: StatusInit})
	}
	for _, gc := range cfg.Groups {
		c.groups = append(c.groups, &group{GroupConfig: gc, state: GroupStopped, failed: gc.Blocked})
	}
	c.ttl = strconv.Itoa(cfg.Hopfudge + len(cfg.Nodes))
	c.firstWait = min(cfg.Keepalive/2, 50*time.Millisecond)
	return c
}

func (c *core) emit(ev Event) { c.out = append(c.out, action{ev: ev}) }

// start sends the start-up burst (status init, up, up) as 3.0.6 does.
func (c *core) start(now time.Time) []action {
	c.out = c.out[:0]
	c.started = now
	c.activeAt = now.Add(c.cfg.Keepalive)
	c.sendStatus(now) // init
	c.status = StatusUp
	c.sendStatus(now)
	c.sendStatus(now)
	c.nextSend = now.Add(c.cfg.Keepalive)
	return c.out
}

// tick runs the timers: keepalive sends, warntime, deadtime, link death and
// retransmission requests.
func (c *core) tick(now time.Time) []action {
	c.out = c.out[:0]
	if c.status == StatusUp && !now.Before(c.activeAt) {
		c.goActive(now)
	}
	if !now.Before(c.nextSend) && !c.saidBye {
		c.sendStatus(now)
		c.nextSend = c.nextSend.Add(c.cfg.Keepalive)
		if !c.nextSend.After(now) { // we were late (suspended): do not burst
			c.nextSend = now.Add(c.cfg.Keepalive)
		}
	}
	for _, p := range c.peers {
		c.checkPeer(now, p)
	}
	c.checkPingNodes(now)
	c.pingWeak(now)
	c.askMissingReports(now)
	c.retryStops(now)
	c.xchgTimers(now)
	c.afterGroupChange(now)
	return c.out
}

func (c *core) goActive(now time.Time) {
	if c.status != StatusUp {
		return
	}
	old := c.status
	c.status = StatusActive
	c.emit(NodeEvent{At: now, Node: c.cfg.LocalNode, Old: old, New: StatusActive, Reason: "start"})
	c.sendStatus(now)
	if len(c.groups) > 0 {
		// Ask the peers what they hold, and tell them what we hold.
		c.send(now, c.build(tStarting, ""))
		c.sendReport(now, "")
	}
}

func (c *core) checkPeer(now time.Time, p *peer) {
	for i := range p.links {
		l := &p.links[i]
		if l.status == LinkUp && now.Sub(l.lastHeard) >= c.cfg.Deadtime {
			l.status = LinkDead
			c.emit(LinkEvent{At: now, Node: p.name, Link: c.links[i], Old: LinkUp, New: LinkDead})
		}
	}
	if p.status == StatusDead {
		return
	}
	ref, limit, reason := p.lastHeard, c.cfg.Deadtime, "deadtime"
	if !p.heard {
		ref, limit, reason = c.started, c.cfg.Initdead, "initdead"
	}
	silence := now.Sub(ref)
	if p.heard && !p.lateWarned && silence >= c.cfg.Warntime {
		p.lateWarned = true
		c.emit(LateEvent{At: now, Node: p.name, Silence: silence})
	}
	if silence >= limit {
		c.setStatus(now, p, StatusDead, reason)
		p.gapFirst, p.tries = 0, 0
		return
	}
	if p.heard && !p.askAt.IsZero() && !now.Before(p.askAt) {
		c.askRexmit(now, p)
	}
}

func (c *core) setStatus(now time.Time, p *peer, st NodeStatus, reason string) {
	if p.status == st {
		return
	}
	old := p.status
	p.status = st
	c.emit(NodeEvent{At: now, Node: p.name, Old: old, New: st, Reason: reason, LastHeard: p.lastHeard})
	if st == StatusDead && old != StatusDead && p.heard && len(c.groups) > 0 {
		c.sendStonith(now, p, len(p.groups.held) > 0 || !p.groups.reported)
	}
	if st == StatusDead || old == StatusDead {
		// Its claims die with it; when it comes back they are stale until
		// it reports again, and it needs to hear ours.
		p.groups.reset()
		if old == StatusDead && len(c.groups) > 0 {
			c.reportDue = true
		}
	}
}

// nextWake is the earliest time tick must run again.
func (c *core) nextWake() time.Time {
	next := c.nextSend
	if c.status == StatusUp && c.activeAt.Before(next) {
		next = c.activeAt
	}
	for _, pn := range c.pingNodes {
		if pn.status != StatusDead {
			ref := pn.last
			if ref.IsZero() {
				ref = c.started
			}
			if t := ref.Add(c.cfg.Deadping); t.Before(next) {
				next = t
			}
		}
	}
	if !c.weakSince.IsZero() {
		if t := c.weakSince.Add(c.ipfailHold()); t.After(c.started) && t.Before(next) && !c.weakActed {
			next = t
		}
	}
	for _, p := range c.peers {
		for i := range p.links {
			if l := &p.links[i]; l.status == LinkUp {
				if t := l.lastHeard.Add(c.cfg.Deadtime); t.Before(next) {
					next = t
				}
			}
		}
		if p.status == StatusDead {
			continue
		}
		var t time.Time
		if !p.heard {
			t = c.started.Add(c.cfg.Initdead)
		} else {
			t = p.lastHeard.Add(c.cfg.Deadtime)
			if !p.lateWarned {
				if w := p.lastHeard.Add(c.cfg.Warntime); w.Before(t) {
					t = w
				}
			}
			if !p.askAt.IsZero() && p.askAt.Before(t) {
				t = p.askAt
			}
		}
		if t.Before(next) {
			next = t
		}
	}
	return next
}

// recv handles one datagram received on link li at time at.
func (c *core) recv(now, at time.Time, li int, data []byte) []action {
	c.out = c.out[:0]
	m := &c.rmsg
	if err := wire.UnmarshalInto(m, data, c.cfg.Keys); err != nil {
		if errors.Is(err, wire.ErrAuth) || errors.Is(err, wire.ErrUnknownKey) {
			c.stats.BadAuth++
		} else {
			c.stats.Malformed++
		}
		c.emit(BadPacketEvent{At: now, Link: c.links[li], Err: err})
		return c.out
	}
	src := c.srcName(m)
	if src == c.cfg.LocalNode {
		c.stats.Own++
		return c.out
	}
	p := c.byName[src]
	if p == nil {
		c.stats.UnknownNode++
		c.emit(BadPacketEvent{At: now, Link: c.links[li], Err: errUnknownNode(src)})
		return c.out
	}
	hg, err := strconv.ParseUint(m.Get("hg"), 16, 64)
	if err != nil {
		c.stats.Malformed++
		return c.out
	}
	if p.heard && hg < p.gen {
		c.stats.Replayed++
		return c.out
	}
	t := m.Get("t")
	seqStr := m.Get("seq")
	if seqStr == "" {
		if !strings.HasPrefix(t, "NS_") {
			c.stats.Malformed++
			return c.out
		}
		if !p.heard || hg != p.gen {
			return c.out // control message of a generation we do not know yet
		}
		c.stats.Received++
		c.control(now, p, t, m)
		return c.out
	}
	seq, err := strconv.ParseUint(seqStr, 16, 64)
	if err != nil || seq == 0 {
		c.stats.Malformed++
		return c.out
	}
	if p.heard && hg > p.gen {
		old := p.gen
		c.restart(now, p, hg)
		c.emit(RestartEvent{At: now, Node: p.name, OldGen: old, NewGen: hg})
	} else if !p.heard {
		p.gen = hg
	}
	l := &p.links[li]
	newOnLink := seq > l.maxSeq
	late := p.rx.init && seq < p.rx.max
	if !p.rx.accept(seq) {
		if newOnLink { // the same message over a second medium
			l.maxSeq = seq
			c.linkHeard(now, at, p, li)
		} else {
			c.stats.Duplicate++
		}
		return c.out
	}
	if newOnLink {
		l.maxSeq = seq
	}
	if late {
		c.stats.GapFilled++
	}
	c.stats.Received++
	if p.left {
		return c.out // late packets of a node that said good-bye
	}
	c.linkHeard(now, at, p, li)
	c.nodeHeard(now, at, p)
	c.noteGap(now, p)
	c.maybeAck(now, p)
	if p.uuid == nil {
		if u, ok := m.Lookup("srcuuid"); ok && len(u) == 16 {
			p.uuid = append([]byte(nil), u...)
		}
	}
	switch t {
	case tStatus:
		// Only the newest status counts: a reordered or retransmitted older
		// heartbeat still says "up" after the node went active.
		if seq < p.stSeq {
			break
		}
		p.stSeq = seq
		if st, ok := ParseNodeStatus(m.Get("st")); ok && st != StatusDead {
			c.setStatus(now, p, st, "heartbeat")
		}
		if v, ok := m.Lookup(fPingCount); ok {
			if n, err := strconv.Atoi(string(v)); err == nil && n != p.pingCount {
				p.pingCount = n
			}
		}
		if !c.asked && c.status != StatusInit {
			c.asked = true
			c.send(now, c.build(tReqNodes, p.name))
		}
	case tReqNodes:
		if m.Get("dest") == c.cfg.LocalNode {
			rep := c.build(tRepNodes, p.name)
			rep.Add("nodelist", c.nodeList)
			rep.Add("delnodelist", "")
			c.send(now, rep)
		}
	case tRepNodes:
		if m.Get("dest") == c.cfg.LocalNode {
			c.goActive(now)
		}
	case tShutdone:
		p.left = true
		p.gapFirst, p.askAt, p.tries = 0, time.Time{}, 0
		c.setStatus(now, p, StatusDead, "shutdown")
	case tStarting, tResource, tTakeover, tAskResources:
		c.groupMessage(now, p, t, seq, func(name string) (string, bool) {
			v, ok := m.Lookup(name)
			return string(v), ok
		})
		return c.out
	}
	if len(c.groups) > 0 {
		c.afterGroupChange(now)
	}
	return c.out
}

// srcName returns the message's sender, lower-cased as node names are:
// the name of the peer or of the local node without allocating.
func (c *core) srcName(m *wire.Message) string {
	v, _ := m.Lookup("src")
	if p := c.byName[string(v)]; p != nil {
		return p.name
	}
	if string(v) == c.cfg.LocalNode {
		return c.cfg.LocalNode
	}
	return strings.ToLower(string(v))
}

type errUnknownNode string

func (e errUnknownNode) Error() string { return "packet from unknown node " + strconv.Quote(string(e)) }

func (c *core) restart(now time.Time, p *peer, hg uint64) {
	p.gen = hg
	p.rx.reset()
	p.left = false
	p.uuid = nil
	p.lastAck, p.ackedUs = 0, 0
	p.stSeq = 0
	p.groups.reset()
	p.gapFirst, p.askAt, p.tries = 0, time.Time{}, 0
	for i := range p.links {
		p.links[i].maxSeq = 0
	}
	if p.status != StatusDead {
		// The node restarted without us noticing its death: it lost
		// everything it held, treat it as a new member.
		c.setStatus(now, p, StatusInit, "restart")
	}
}

func (c *core) linkHeard(now, at time.Time, p *peer, li int) {
	l := &p.links[li]
	if at.After(l.lastHeard) {
		l.lastHeard = at
	}
	if l.status != LinkUp {
		old := l.status
		l.status = LinkUp
		c.emit(LinkEvent{At: now, Node: p.name, Link: c.links[li], Old: old, New: LinkUp})
	}
}

func (c *core) nodeHeard(now, at time.Time, p *peer) {
	if p.heard && p.lateWarned {
		c.emit(LateEvent{At: now, Node: p.name, Silence: at.Sub(p.lastHeard)})
	}
	p.heard = true
	p.lateWarned = false
	if at.After(p.lastHeard) {
		p.lastHeard = at
	}
	if p.status == StatusDead {
		// Back from the dead in the same generation (partition healed) or
		// first packet after initdead: it is up again.
		c.setStatus(now, p, StatusUp, "heartbeat")
	}
}

// noteGap schedules retransmission requests when messages are missing.
func (c *core) noteGap(now time.Time, p *peer) {
	first, _, ok := p.rx.gap()
	if !ok {
		p.gapFirst, p.askAt, p.tries = 0, time.Time{}, 0
		return
	}
	if first != p.gapFirst {
		p.gapFirst, p.tries = first, 0
		p.askAt = now.Add(c.firstWait)
	}
}

func (c *core) askRexmit(now time.Time, p *peer) {
	first, last, ok := p.rx.gap()
	if !ok {
		p.gapFirst, p.askAt, p.tries = 0, time.Time{}, 0
		return
	}
	if first != p.gapFirst {
		p.gapFirst, p.tries = first, 0
	}
	if p.tries >= rexmitTries {
		p.rx.skip(last) // give up on this gap, as 3.0.6 eventually does
		p.gapFirst, p.askAt, p.tries = 0, time.Time{}, 0
		c.noteGap(now, p)
		return
	}
	p.tries++
	m := c.build(tRexmit, p.name)
	m.Add("firstseq", strconv.FormatUint(first, 10))
	m.Add("lastseq", strconv.FormatUint(last, 10))
	c.send(now, m)
	c.stats.RexmitAsked++
	p.askAt = now.Add(maxRexmit)
}

func (c *core) maybeAck(now time.Time, p *peer) {
	if p.rx.base/ackEvery == p.lastAck/ackEvery {
		return
	}
	p.lastAck = p.rx.base
	m := c.build(tAck, p.name)
	m.AddUint("ackseq", p.rx.base, 16)
	c.send(now, m)
}

// control handles the unsequenced NS_* messages.
func (c *core) control(now time.Time, p *peer, t string, m *wire.Message) {
	if m.Get("dest") != c.cfg.LocalNode {
		return
	}
	switch t {
	case tAck:
		if v, err := strconv.ParseUint(m.Get("ackseq"), 16, 64); err == nil && v > p.ackedUs && v <= c.seq {
			p.ackedUs = v
		}
	case tRexmit:
		first, err1 := strconv.ParseUint(m.Get("firstseq"), 10, 64)
		last, err2 := strconv.ParseUint(m.Get("lastseq"), 10, 64)
		if err1 != nil || err2 != nil || first == 0 || last < first {
			c.stats.Malformed++
			return
		}
		if last-first >= histSize {
			last = first + histSize - 1
		}
		for s := first; s <= last; s++ {
			h := &c.hist[s%histSize]
			if h.seq != s || h.data == nil {
				nak := c.build(tNakRexmit, p.name)
				nak.Add("firstseq", strconv.FormatUint(s, 16))
				nak.Add("info", "not in history")
				c.send(now, nak)
				c.stats.RexmitNak++
				continue
			}
			if !h.resent.IsZero() && now.Sub(h.resent) < maxRexmit {
				continue
			}
			h.resent = now
			c.out = append(c.out, action{data: c.resignIfStale(h)})
			c.stats.RexmitSent++
		}
	case tNakRexmit:
		if s, err := strconv.ParseUint(m.Get("firstseq"), 16, 64); err == nil {
			if first, last, ok := p.rx.gap(); ok && s >= first && s <= last {
				p.rx.skip(s)
				c.noteGap(now, p)
			}
		}
	}
}

// stop begins a graceful shutdown: release every group, then say good-bye.
// Heartbeats go on until then, so that nobody takes a group we still hold.
func (c *core) stop(now time.Time) []action {
	c.out = c.out[:0]
	c.stopping = true
	if c.xchg != nil && c.xchg.phase != xWork {
		c.xchg = nil
	}
	c.releaseAllForStop(now)
	if c.allReleased() {
		c.bye(now)
	} else if c.onlyFencedHeld() {
		c.abandoned = true
	}
	return c.out
}

func (c *core) releaseAllForStop(now time.Time) {
	for i := len(c.groups) - 1; i >= 0; i-- {
		if g := c.groups[i]; g.held() && !g.busy {
			c.release(now, g, "shutdown")
		}
	}
}

func (c *core) bye(now time.Time) {
	c.saidBye = true
	if len(c.groups) > 0 {
		c.sendReport(now, "shutdown")
	}
	m := c.build(tShutdone, "")
	m.Add("st", "dead")
	c.send(now, m)
}

// build starts a message of type t, addressed to dest when not empty.
// Type-specific fields are added by the caller, common fields by send.
func (c *core) build(t, dest string) *wire.Message {
	m := &c.msg
	m.Reset()
	if t == tRepNodes {
		m.Add("dest", dest) // 3.0.6 puts dest before t in repnodes
		m.Add("t", t)
		return m
	}
	m.Add("t", t)
	if dest != "" {
		m.Add("dest", dest)
	}
	return m
}

func (c *core) sendStatus(now time.Time) {
	m := c.build(tStatus, "")
	m.Add("st", c.status.String())
	m.AddUint("dt", uint64(c.cfg.Deadtime.Milliseconds()), 16)
	m.Add("protocol", "1")
	if len(c.pingNodes) > 0 {
		m.AddUint(fPingCount, uint64(c.pingCount()), 10)
	}
	c.send(now, m)
}

// send appends the common fields, signs the message and queues it.
func (c *core) send(now time.Time, m *wire.Message) {
	t, _ := m.Lookup("t")
	ns := bytes.HasPrefix(t, []byte("NS_"))
	if dest, _ := m.Lookup("dest"); len(dest) > 0 {
		if p := c.byName[string(dest)]; p != nil && p.uuid != nil {
			m.AddBinary("destuuid", p.uuid)
		} else if string(dest) == c.cfg.LocalNode {
			m.AddBinary("destuuid", c.cfg.UUID[:])
		}
	}
	m.Add("src", c.cfg.LocalNode)
	m.AddBinary("srcuuid", c.cfg.UUID[:])
	var seq uint64
	if !ns {
		c.seq++
		seq = c.seq
		m.AddUint("seq", seq, 16)
	}
	m.AddUint("hg", c.cfg.Generation, 16)
	m.AddUint("ts", uint64(max(now.Unix(), 0)), 16)
	if !ns {
		m.Add("ld", c.loadavg)
	}
	m.Add("ttl", c.ttl)
	// A sequenced message is encoded into the buffer of the history slot
	// it replaces (histSize messages ago, long sent): no allocation per
	// keepalive. Media do not keep the datagram after Send.
	var buf []byte
	var h *histEntry
	if !ns {
		h = &c.hist[seq%histSize]
		buf = h.data[:0]
		*h = histEntry{}
	}
	data, err := wire.AppendMarshal(buf, m, c.cfg.Keys)
	if err != nil {
		c.emit(SendErrorEvent{At: now, Err: err})
		return
	}
	if h != nil {
		*h = histEntry{seq: seq, data: data, keys: c.cfg.Keys}
	}
	c.out = append(c.out, action{data: data})
}

// resignIfStale returns a history entry's datagram for a retransmission.
// A message signed before a reload changed the keys is signed again with
// the active key, its fields unchanged: a 3.0.6 peer verifies with its
// active key only, so the old signature would be refused, and the peer
// would go on asking for it.
func (c *core) resignIfStale(h *histEntry) []byte {
	if h.keys == c.cfg.Keys {
		return h.data
	}
	m, err := wire.ParseUnverified(h.data)
	if err != nil {
		return h.data
	}
	m.Fields = slices.DeleteFunc(m.Fields, func(f wire.Field) bool { return f.Name == "auth" })
	data, err := wire.Marshal(m, c.cfg.Keys)
	if err != nil {
		return h.data
	}
	h.data, h.keys = data, c.cfg.Keys
	return data
}

// snapshot returns a copy of the state for requests.
func (c *core) snapshot() Snapshot {
	s := Snapshot{LocalNode: c.cfg.LocalNode, Status: c.status, Generation: c.cfg.Generation, Stats: c.stats,
		Holds: c.rscHold(), Settled: c.discovered && !c.stopping && c.xchg == nil}
	for _, n := range c.cfg.Nodes {
		if n == c.cfg.LocalNode {
			s.Nodes = append(s.Nodes, NodeInfo{Name: n, Local: true, Status: c.status, Generation: c.cfg.Generation, LastSeq: c.seq})
			continue
		}
		p := c.byName[n]
		ni := NodeInfo{Name: n, Status: p.status, Generation: p.gen, LastSeq: p.rx.max}
		if p.heard {
			ni.LastHeard = p.lastHeard
		}
		for i, l := range p.links {
			ni.Links = append(ni.Links, LinkInfo{Name: c.links[i], Status: l.status, LastHeard: l.lastHeard})
		}
		s.Nodes = append(s.Nodes, ni)
	}
	for _, pn := range c.pingNodes {
		ni := NodeInfo{Name: pn.name, Ping: true, Status: pn.status, LastHeard: pn.last}
		s.Nodes = append(s.Nodes, ni)
	}
	s.Groups = c.groupSnapshot()
	return s
}
