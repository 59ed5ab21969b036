package engine

import (
	"encoding/binary"
	"errors"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/linuxha/heartbeat/internal/wire"
)

// FuzzCoreRecv feeds the core of node hbb a stream of datagrams from its
// peer, validly signed: what a buggy or hostile node holding the cluster's
// key (or a 3.0.6 node in a state we never saw) could send. The wire
// decoder has its own fuzz target; this one reaches the protocol behind
// it: sequence numbers and generations, retransmission requests and
// acknowledgements, node lists and the resource messages. Between
// datagrams the clock moves and the timers run; resource operations finish
// (or fail) one step later, as the runner's goroutine would report them.
//
// The input is a list of records: one byte of clock advance (ms), one byte
// of flags, two bytes of length, the datagram. Flags: bit 0 fails the
// operations that finish in the step; bits 1-2 are 1 hb_standby, 2
// hb_takeover, 3 an echo reply of the ping node (ipfail); bit 3 delivers
// the datagram on the second of two links; bits 4-7 say how many ms
// before the read it arrived. A datagram that
// parses is signed again with the cluster's key, so that the mutations
// reach the core instead of stopping at the signature; one that does not
// parse goes in as it is.
//
// The harness ticks at every step, more often than the engine's loop
// (which ticks when nextWake is due): a tick with nothing due must be
// harmless, and extra ticks find more.
//
// Checked after every step, besides not panicking:
//   - the loop's next wake-up is after now: a timer due in the past after
//     tick would spin the loop;
//   - at most one resource operation per group is in flight (the runner
//     contract: Acquire and Release of one group never overlap; Announce is
//     serialised by the runner, internal/daemon);
//   - a group's state matches the operations in flight: starting while
//     its acquire runs, stopping while its release or fence runs or a
//     retry is due, and none in flight otherwise.
//
// And, as a guard on recv's shape: a datagram the decoder refuses makes
// the core do nothing but count it.
func FuzzCoreRecv(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	f.Add([]byte{20, 0, 0, 4, '>', '>', '>', '\n'})
	f.Fuzz(func(t *testing.T, b []byte) {
		h := newFuzzNode("hbb")
		h.take(t, h.c.start(h.now))
		for steps := 0; len(b) >= 4 && steps < maxFuzzSteps; steps++ {
			adv, flags := b[0], b[1]
			n := min(int(binary.BigEndian.Uint16(b[2:4])), len(b)-4)
			data := b[4 : 4+n]
			if n == 0 {
				data = nil // a step of the clock alone
			}
			b = b[4+n:]
			h.step(t, adv, flags, data)
		}
	})
}

// maxFuzzSteps bounds an input: the longest seed (start-up, failover,
// failback) has about 400 records.
const maxFuzzSteps = 600

// Record flags of FuzzCoreRecv's input.
const (
	fuzzFail     = 1
	fuzzCmdMask  = 6
	fuzzStandby  = 2
	fuzzTakeover = 4
	fuzzPing     = 6
	// fuzzLink2 delivers the datagram on the second link (the same message
	// may come over both, as over two media).
	fuzzLink2 = 8
	// Bits 4-7: the datagram arrived that many ms before it is read (the
	// loop reads the media in turn, so arrival times are not monotonic).
	fuzzAgeShift = 4
)

var errFuzzOp = errors.New("fuzz: operation failed")

// fuzzNode is one core with a runner that finishes every operation at the
// next step.
type fuzzNode struct {
	c       *core
	now     time.Time
	keys    *wire.Keyring
	pending []action // operations asked for, not yet finished
	// finishing are the operations of the current step whose results are
	// not yet handled.
	finishing []action
	sent      [][]byte // datagrams the core sent (for the seeds)
}

func fuzzConfig(local string, keys *wire.Keyring) Config {
	return Config{LocalNode: local, Nodes: []string{"hba", "hbb"}, Keepalive: 20 * time.Millisecond,
		Deadtime: 80 * time.Millisecond, Warntime: 60 * time.Millisecond, Initdead: 200 * time.Millisecond,
		Hopfudge: 1, Keys: keys, Generation: 1, LoadAvg: func() string { return "0.00 0.00 0.00 1/1 1" },
		PingNodes: []string{"10.0.0.254"}, Deadping: 100 * time.Millisecond,
		Groups:       []GroupConfig{{Key: "10.0.0.100", Preferred: "hba"}, {Key: "web", Preferred: "hbb"}},
		AutoFailback: FailbackOn}
}

func newFuzzNode(local string) *fuzzNode {
	keys := &wire.Keyring{Active: 1, Keys: map[int]wire.Key{1: {Index: 1, Method: wire.MethodSHA1, Secret: []byte("fuzz")}}}
	return &fuzzNode{c: newCore(fuzzConfig(local, keys), []string{"eth0", "eth1"}), now: time.Unix(1700000000, 0), keys: keys}
}

// take records what a step of the core asked for; it fails tb if an
// operation overlaps one in flight for the same group.
func (h *fuzzNode) take(tb testing.TB, acts []action) {
	for _, a := range acts {
		if a.data != nil {
			h.sent = append(h.sent, append([]byte(nil), a.data...))
		}
		if a.group == "" || a.op == opAnnounce {
			continue
		}
		if p, ok := h.inFlight(a.group); ok {
			tb.Fatalf("group %s: %v asked for while %v is in flight", a.group, a.op, p)
		}
		h.pending = append(h.pending, a)
	}
}

// inFlight returns the acquire, release or fence of group key in flight.
func (h *fuzzNode) inFlight(key string) (opKind, bool) {
	for _, l := range [][]action{h.pending, h.finishing} {
		for _, p := range l {
			if p.group == key && p.op != opAnnounce {
				return p.op, true
			}
		}
	}
	return 0, false
}

// step moves the clock by adv ms, finishes the operations in flight one by
// one (failing them if flags say so), runs the admin command or ping reply
// flags say, delivers data (if not nil) and runs the timers, then checks
// the invariants.
func (h *fuzzNode) step(tb testing.TB, adv, flags byte, data []byte) {
	h.now = h.now.Add(time.Duration(adv) * time.Millisecond)
	var err error
	if flags&fuzzFail != 0 {
		err = errFuzzOp
	}
	// The operations in flight when the step began finish, one by one; what
	// their results ask for finishes at the next step. While one result is
	// handled, the others are still in flight.
	h.finishing, h.pending = h.pending, nil
	for len(h.finishing) > 0 {
		p := h.finishing[0]
		h.finishing = h.finishing[1:]
		if p.op == opFence && err == nil {
			// A fence that worked reboots the node: it stays in flight
			// for ever, as the group it holds.
			h.pending = append(h.pending, p)
			continue
		}
		h.take(tb, h.c.opDone(h.now, opResult{kind: p.op, group: p.group, err: err}))
	}
	switch flags & fuzzCmdMask {
	case fuzzStandby:
		acts, _ := h.c.standbyReq(h.now, WhichAll) // refused while in flux: fine
		h.take(tb, acts)
	case fuzzTakeover:
		h.take(tb, h.c.takeoverReq(h.now, WhichAll))
	case fuzzPing:
		h.take(tb, h.c.pingReply(h.now, pingReply{node: "10.0.0.254", at: h.now}))
	}
	li := 0
	if flags&fuzzLink2 != 0 {
		li = 1
	}
	at := h.now.Add(-time.Duration(flags>>fuzzAgeShift) * time.Millisecond)
	if data != nil {
		if _, err := wire.Unmarshal(data, h.keys); err != nil {
			// Refused by the decoder (malformed, or not signed with the
			// key): it must change nothing but the counters.
			before := h.c.groupSnapshot()
			peer := *h.c.byName["hba"]
			for _, a := range h.c.recv(h.now, at, li, data) {
				if _, ok := a.ev.(BadPacketEvent); !ok {
					tb.Fatalf("a refused datagram (%v) made the core act: %+v", err, a)
				}
			}
			if after := h.c.groupSnapshot(); !reflect.DeepEqual(before, after) {
				tb.Fatalf("a refused datagram (%v) changed the groups: %+v → %+v", err, before, after)
			}
			if p := h.c.byName["hba"]; p.lastHeard != peer.lastHeard || p.status != peer.status || p.gen != peer.gen {
				tb.Fatalf("a refused datagram (%v) changed what hbb knows of hba", err)
			}
		}
		if m, err := wire.ParseUnverified(data); err == nil {
			if b, err := wire.Marshal(m, h.keys); err == nil {
				data = b
			}
		}
		h.take(tb, h.c.recv(h.now, at, li, data))
	}
	h.take(tb, h.c.tick(h.now))
	if w := h.c.nextWake(); !w.After(h.now) {
		tb.Fatalf("after tick at %v the next wake-up is %v: the loop would spin", h.now.Format(time.StampMicro), w.Format(time.StampMicro))
	}
	for _, g := range h.c.groups {
		op, busy := h.inFlight(g.Key)
		ok := true
		switch g.state {
		case GroupStarting:
			ok = busy && op == opAcquire
		case GroupStopping:
			ok = busy && op != opAcquire || !g.retryAt.IsZero()
		default:
			ok = !busy
		}
		if !ok {
			what := "nothing"
			if busy {
				what = op.String()
			}
			tb.Fatalf("group %s is %v with %s in flight (retry at %v)", g.Key, g.state, what, g.retryAt)
		}
	}
}

// fuzzSeeds runs two cores, hba and hbb, and returns what hba sent as
// inputs for hbb's core: records 20 ms apart. The first is a start-up
// (both groups placed; both links up for its second half). The second goes on: one datagram lost each way
// (hbb asks for it again; hba asks hbb for one), hba's death (hbb takes
// its group over), its return with a new generation and the failback.
// Each seed starts from a fresh core, as every fuzz input does.
func fuzzSeeds(tb testing.TB) [][]byte {
	a, b := newFuzzNode("hba"), newFuzzNode("hbb")
	a.take(tb, a.c.start(a.now))
	b.take(tb, b.c.start(b.now))
	var rec []byte
	record := func(adv, flags byte, d []byte) {
		rec = append(rec, adv, flags)
		rec = binary.BigEndian.AppendUint16(rec, uint16(len(d)))
		rec = append(rec, d...)
	}
	// deliver hands from's datagrams to to (recording them if hbb is to),
	// all but the first when drop, over both links when both.
	both := false
	deliver := func(to, from *fuzzNode, drop bool) {
		msgs := from.sent
		from.sent = nil
		for i, d := range msgs {
			if drop && i == 0 {
				continue
			}
			if to == b {
				record(0, 0, d)
			}
			to.take(tb, to.c.recv(to.now, to.now, 0, d))
			if both {
				if to == b {
					record(0, fuzzLink2|2<<fuzzAgeShift, d) // 2 ms late on the second link
				}
				to.take(tb, to.c.recv(to.now, to.now.Add(-2*time.Millisecond), 1, d))
			}
		}
	}
	step := func(aAlive bool, dropAB, dropBA bool) {
		if aAlive {
			a.step(tb, 20, 0, nil)
		}
		b.step(tb, 20, 0, nil)
		record(20, 0, nil) // the clock moves for hbb's core
		if aAlive {
			deliver(b, a, dropAB)
			deliver(a, b, dropBA)
		} else {
			b.sent = nil
		}
	}
	for i := range 60 { // start-up, the second half over both links
		both = i >= 30
		step(true, false, false)
	}
	both = false
	startup := slices.Clone(rec)
	for i := range 20 { // a datagram lost each way, asked for again
		step(true, i == 2, i == 8)
	}
	for range 10 { // hba is gone
		step(false, false, false)
	}
	a = newFuzzNode("hba") // it restarts: a new generation
	a.c.cfg.Generation = 2
	a.now = b.now
	a.take(tb, a.c.start(a.now))
	for range 80 { // failback
		step(true, false, false)
	}
	if a.c.groups[0].state != GroupRunning || b.c.groups[1].state != GroupRunning {
		tb.Fatalf("seeds: the groups did not settle: hba %v, hbb %v", a.c.groupSnapshot(), b.c.groupSnapshot())
	}
	return [][]byte{startup, rec}
}

// replayFuzz runs one fuzz input through h as FuzzCoreRecv does.
func replayFuzz(tb testing.TB, h *fuzzNode, b []byte) (steps int) {
	for ; len(b) >= 4 && steps < maxFuzzSteps; steps++ {
		adv, flags := b[0], b[1]
		n := min(int(binary.BigEndian.Uint16(b[2:4])), len(b)-4)
		data := b[4 : 4+n]
		if n == 0 {
			data = nil
		}
		b = b[4+n:]
		h.step(tb, adv, flags, data)
	}
	if len(b) >= 4 {
		tb.Fatalf("input longer than %d steps", maxFuzzSteps)
	}
	return steps
}

// The seeds drive the core under fuzz through the protocol, not only its
// decoder: hbb hears hba go active and runs its own group; in the second
// seed it also fills a gap, serves a retransmission, takes hba's group
// over while hba is gone and gives it back on its return.
func TestFuzzSeedsReachTheProtocol(t *testing.T) {
	seeds := fuzzSeeds(t)
	if len(seeds) != 2 {
		t.Fatalf("%d seeds, want 2", len(seeds))
	}
	h := newFuzzNode("hbb")
	h.take(t, h.c.start(h.now))
	state := func(key string) GroupState { return h.c.group(key).state }
	replayFuzz(t, h, seeds[0])
	if p := h.c.byName["hba"]; p.status != StatusActive {
		t.Fatalf("after the start-up seed hba is %v, want active", p.status)
	}
	if state("web") != GroupRunning || state("10.0.0.100") != GroupStopped {
		t.Fatalf("after the start-up seed: web %v, 10.0.0.100 %v", state("web"), state("10.0.0.100"))
	}
	if l := h.c.byName["hba"].links; l[0].status != LinkUp || l[1].status != LinkUp {
		t.Fatalf("after the start-up seed hba's links are %v and %v, want both up", l[0].status, l[1].status)
	}

	h = newFuzzNode("hbb")
	h.take(t, h.c.start(h.now))
	var took bool
	rec := seeds[1]
	steps := 0
	for len(rec) >= 4 { // record by record, to see the takeover happen
		n := int(binary.BigEndian.Uint16(rec[2:4]))
		steps += replayFuzz(t, h, rec[:4+n])
		rec = rec[4+n:]
		took = took || state("10.0.0.100") == GroupRunning
	}
	if steps > maxFuzzSteps {
		t.Fatalf("the long seed has %d steps, more than a fuzz input runs (%d)", steps, maxFuzzSteps)
	}
	st := h.c.stats
	if st.RexmitAsked == 0 || st.GapFilled == 0 || st.RexmitSent == 0 {
		t.Fatalf("no retransmission both ways: asked %d, filled %d, served %d", st.RexmitAsked, st.GapFilled, st.RexmitSent)
	}
	if !took {
		t.Fatal("hbb never took 10.0.0.100 over while hba was gone")
	}
	if state("10.0.0.100") != GroupStopped || state("web") != GroupRunning {
		t.Fatalf("after the failback: 10.0.0.100 %v, web %v", state("10.0.0.100"), state("web"))
	}
}

// A group that cannot be stopped goes to the fence; if the fence fails
// too, the stop is tried again after a while (and the fence after it), so
// that the group is not stuck stopping for good. Found by FuzzCoreRecv's
// state check (review, 2026-12-08).
func TestFailedFenceRetriesTheStop(t *testing.T) {
	h := newFuzzNode("hbb")
	h.take(t, h.c.start(h.now))
	replayFuzz(t, h, fuzzSeeds(t)[0])
	g := h.c.group("web")
	if g.state != GroupRunning {
		t.Fatalf("web is %v after the start-up seed", g.state)
	}
	h.c.out = h.c.out[:0]
	h.c.release(h.now, g, "test")
	h.take(t, h.c.out)
	fenced := func() bool {
		op, busy := h.inFlight("web")
		return busy && op == opFence
	}
	for i := 0; !fenced(); i++ { // every stop fails
		if i > 100 {
			t.Fatalf("no fence after the stops failed: web %v, retries %d, retry at %v, in flight %v", g.state, g.retries, g.retryAt, h.pending)
		}
		h.step(t, 250, fuzzFail, nil)
	}
	h.step(t, 10, fuzzFail, nil) // the fence fails too
	if g.state != GroupStopping || g.retryAt.IsZero() {
		t.Fatalf("after a failed fence: web %v, retry at %v", g.state, g.retryAt)
	}
	for i := 0; g.state == GroupStopping; i++ { // now the stop works
		if i > 60 {
			t.Fatal("web still stopping: the stop was not tried again")
		}
		h.step(t, 250, 0, nil)
	}
	// Stopped, then started again at once: it is hbb's own group and
	// nobody else holds it (the release here was not a standby).
	if g.state != GroupStopped && g.state != GroupStarting && g.state != GroupRunning {
		t.Fatalf("web is %v after the stop worked", g.state)
	}
}
