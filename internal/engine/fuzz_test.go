package engine

import (
	"encoding/binary"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/linuxha/heartbeat/internal/wire"
)

// FuzzCoreRecv feeds the core of node hbb a stream of datagrams from its
// peer, validly signed: what a buggy or hostile node holding the cluster's
// key (or a 3.0.6 node in a state we never saw) could send. The wire
// decoder has its own fuzz target; this one reaches the protocol behind
// it: sequence numbers and generations, retransmission requests,
// acknowledgements, node lists, the resource messages of both protocols
// and the 3.0.6 standby exchange. Between datagrams the clock moves and
// the timers run; resource operations finish (or fail) one step later,
// as the runner's goroutine would report them.
//
// The input is a list of records: one byte of clock advance (ms), two
// bytes of length, the datagram. The advance also says what else happens
// in the step: an odd one fails the operations that finish; 3, 5 and 7
// modulo 16 are an hb_standby, an hb_takeover and an echo reply of the
// ping node (ipfail). A datagram that parses is signed again
// with the cluster's key, so that the mutations reach the core instead of
// stopping at the signature; one that does not parse goes in as it is.
//
// Checked after every step, besides not panicking:
//   - the loop's next wake-up is after now: a timer due in the past after
//     tick would spin the loop (every deadline tick handles is re-armed
//     or retired);
//   - at most one resource operation per group is in flight (the runner
//     contract: Acquire and Release of one group never overlap);
//   - a group's state matches the operations in flight: starting while
//     its acquire runs, stopping while its release or fence runs (or a
//     retry is due), and none in flight otherwise;
//   - a datagram the decoder refuses (malformed, or not signed with the
//     key) makes the core do nothing and changes neither the groups nor
//     what it knows of the peer.
func FuzzCoreRecv(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	f.Add([]byte{20, 0, 4, '>', '>', '>', '\n'})
	f.Fuzz(func(t *testing.T, b []byte) {
		h := newFuzzNode("hbb")
		h.take(t, h.c.start(h.now))
		for steps := 0; len(b) >= 3 && steps < 200; steps++ {
			adv := b[0]
			n := min(int(binary.BigEndian.Uint16(b[1:3])), len(b)-3)
			data := b[3 : 3+n]
			b = b[3+n:]
			h.step(t, adv, data)
		}
	})
}

var errFuzzOp = errors.New("fuzz: operation failed")

// fuzzNode is one core with a runner that finishes every operation at the
// next step.
type fuzzNode struct {
	c       *core
	now     time.Time
	keys    *wire.Keyring
	pending []action // operations asked for, not yet finished
	sent    [][]byte // datagrams the core sent (for the seeds)
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
	return &fuzzNode{c: newCore(fuzzConfig(local, keys), []string{"eth0"}), now: time.Unix(1700000000, 0), keys: keys}
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
	for _, p := range h.pending {
		if p.group == key && p.op != opAnnounce {
			return p.op, true
		}
	}
	return 0, false
}

// step moves the clock by adv ms, finishes the operations in flight
// (failing them if adv is odd), runs the admin command or ping reply adv
// says, delivers data (if not nil) and runs the timers, then checks the
// invariants.
func (h *fuzzNode) step(tb testing.TB, adv byte, data []byte) {
	h.now = h.now.Add(time.Duration(adv) * time.Millisecond)
	fail := adv&1 == 1
	done := h.pending
	h.pending = nil
	for _, p := range done {
		var err error
		if fail {
			err = errFuzzOp
		}
		if p.op == opFence && err == nil {
			// A fence that worked reboots the node: it stays in flight
			// for ever, as the group it holds.
			h.pending = append(h.pending, p)
			continue
		}
		h.take(tb, h.c.opDone(h.now, opResult{kind: p.op, group: p.group, err: err}))
	}
	switch adv % 16 {
	case 3:
		acts, _ := h.c.standbyReq(h.now, WhichAll) // refused while in flux: fine
		h.take(tb, acts)
	case 5:
		h.take(tb, h.c.takeoverReq(h.now, WhichAll))
	case 7:
		h.take(tb, h.c.pingReply(h.now, pingReply{node: "10.0.0.254", at: h.now}))
	}
	if data != nil {
		if _, err := wire.Unmarshal(data, h.keys); err != nil {
			// Refused by the decoder (malformed, or not signed with the
			// key): it must change nothing but the counters.
			before := h.c.groupSnapshot()
			peer := *h.c.byName["hba"]
			for _, a := range h.c.recv(h.now, h.now, 0, data) {
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
		h.take(tb, h.c.recv(h.now, h.now, 0, data))
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
			tb.Fatalf("group %s is %v with %v in flight (%v)", g.Key, g.state, op, busy)
		}
	}
}

// fuzzSeeds runs two cores, hba and hbb, through a start-up, hba's death
// (hbb takes over its group) and its return (the failback), and returns
// what hba sent as fuzz inputs: records 20 ms apart, a few seconds each.
func fuzzSeeds(tb testing.TB) [][]byte {
	a, b := newFuzzNode("hba"), newFuzzNode("hbb")
	a.take(tb, a.c.start(a.now))
	b.take(tb, b.c.start(b.now))
	var seeds [][]byte
	var rec []byte
	deliver := func(to *fuzzNode, from *fuzzNode, record bool) {
		msgs := from.sent
		from.sent = nil
		for _, d := range msgs {
			if record {
				rec = append(rec, 0)
				rec = binary.BigEndian.AppendUint16(rec, uint16(len(d)))
				rec = append(rec, d...)
			}
			if to != nil {
				to.take(tb, to.c.recv(to.now, to.now, 0, d))
			}
		}
	}
	run := func(steps int, aAlive bool) {
		for range steps {
			if aAlive {
				a.step(tb, 20, nil)
			}
			b.step(tb, 20, nil)
			if aAlive {
				// hbb's core under fuzz sees hba's datagrams; the clock
				// moves in the records that follow.
				rec = append(rec, 20, 0, 0)
				deliver(b, a, true)
				deliver(a, b, false)
			} else {
				b.sent = nil
			}
		}
		seeds = append(seeds, rec)
		rec = nil
	}
	run(60, true) // start-up, both groups placed
	run(10, false)
	// hba restarts: a new generation.
	a = newFuzzNode("hba")
	a.c.cfg.Generation = 2
	a.now = b.now
	a.take(tb, a.c.start(a.now))
	run(80, true) // failback
	if a.c.groups[0].state != GroupRunning || b.c.groups[1].state != GroupRunning {
		tb.Fatalf("seeds: the groups did not settle: hba %v, hbb %v", a.c.groupSnapshot(), b.c.groupSnapshot())
	}
	return seeds
}

// The seeds drive the core under fuzz through the protocol, not only its
// decoder: replayed in order, hbb hears hba go active, runs its own group,
// takes hba's over while it is gone and gives it back on its return.
func TestFuzzSeedsReachTheProtocol(t *testing.T) {
	h := newFuzzNode("hbb")
	h.take(t, h.c.start(h.now))
	replay := func(b []byte) {
		for len(b) >= 3 {
			adv := b[0]
			n := min(int(binary.BigEndian.Uint16(b[1:3])), len(b)-3)
			data := b[3 : 3+n]
			b = b[3+n:]
			h.step(t, adv, data)
		}
	}
	state := func(key string) GroupState { return h.c.group(key).state }
	seeds := fuzzSeeds(t)
	if len(seeds) != 3 {
		t.Fatalf("%d seeds, want 3", len(seeds))
	}
	replay(seeds[0])
	if p := h.c.byName["hba"]; p.status != StatusActive {
		t.Fatalf("after the start-up seed hba is %v, want active", p.status)
	}
	if state("web") != GroupRunning || state("10.0.0.100") != GroupStopped {
		t.Fatalf("after the start-up seed: web %v, 10.0.0.100 %v", state("web"), state("10.0.0.100"))
	}
	for range 10 { // hba is silent: dead after deadtime, its group taken over
		h.step(t, 20, nil)
	}
	if state("10.0.0.100") != GroupRunning {
		t.Fatalf("hba silent: 10.0.0.100 is %v, want running", state("10.0.0.100"))
	}
	replay(seeds[2])
	if state("10.0.0.100") != GroupStopped || state("web") != GroupRunning {
		t.Fatalf("after the failback seed: 10.0.0.100 %v, web %v", state("10.0.0.100"), state("web"))
	}
}
