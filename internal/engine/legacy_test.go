package engine_test

import (
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/linuxha/heartbeat/internal/engine"
	"github.com/linuxha/heartbeat/internal/memnet"
	"github.com/linuxha/heartbeat/internal/wire"
)

// fake306 is a scripted Heartbeat 3.0.6 node "hba": it sends what the
// captures in internal/wire/testdata show 3.0.6 sending (no grp_* fields)
// and records what our engine sends back. Its resources live in the same
// world as our engine's, under the name hba.
type fake306 struct {
	t    *testing.T
	ep   *memnet.Endpoint
	keys *wire.Keyring
	w    *world
	hg   uint64
	seq  uint64
	stop chan struct{}
	done chan struct{}
	once sync.Once

	mu  sync.Mutex
	got []*wire.Message
}

func startFake306(t *testing.T, l *lab, hg uint64) *fake306 {
	f := &fake306{t: t, ep: l.nets[0].Attach("hba"), keys: l.keys, w: l.world, hg: hg,
		stop: make(chan struct{}), done: make(chan struct{})}
	go f.run(l.timers.keepalive)
	t.Cleanup(f.powerOff)
	// 3.0.6's start: status init, up, up, then active and "starting".
	f.send("status", "st", "init", "dt", "3e8", "protocol", "1")
	f.send("status", "st", "up", "dt", "3e8", "protocol", "1")
	f.send("status", "st", "up", "dt", "3e8", "protocol", "1")
	f.send("status", "st", "active", "dt", "3e8", "protocol", "1")
	f.send("starting")
	return f
}

func (f *fake306) run(keepalive time.Duration) {
	defer close(f.done)
	tick := time.NewTicker(keepalive)
	defer tick.Stop()
	for {
		select {
		case p, ok := <-f.ep.Packets():
			if !ok {
				return
			}
			m, err := wire.Unmarshal(p.Data, f.keys)
			if err != nil {
				f.t.Errorf("3.0.6 peer: bad packet: %v", err)
				continue
			}
			f.mu.Lock()
			f.got = append(f.got, m)
			f.mu.Unlock()
		case <-tick.C:
			f.send("status", "st", "active", "dt", "3e8", "protocol", "1")
		case <-f.stop:
			return
		}
	}
}

// powerOff silences the fake and drops what it held.
func (f *fake306) powerOff() {
	f.once.Do(func() {
		close(f.stop)
		<-f.done
		f.ep.Close()
		f.w.powerOff("hba")
	})
}

func (f *fake306) send(t string, kv ...string) {
	f.mu.Lock()
	f.seq++
	seq := f.seq
	f.mu.Unlock()
	m := &wire.Message{}
	m.Add("t", t)
	for i := 0; i+1 < len(kv); i += 2 {
		m.Add(kv[i], kv[i+1])
	}
	m.Add("src", "hba")
	m.AddBinary("srcuuid", []byte("hba-uuid-0123456"))
	m.Add("seq", strconv.FormatUint(seq, 16))
	m.Add("hg", strconv.FormatUint(f.hg, 16))
	m.Add("ts", strconv.FormatInt(time.Now().Unix(), 16))
	m.Add("ld", "0.00 0.00 0.00 1/1 1")
	m.Add("ttl", "3")
	data, err := wire.Marshal(m, f.keys)
	if err != nil {
		f.t.Fatal(err)
	}
	if err := f.ep.Send(data); err != nil {
		f.t.Fatal(err)
	}
}

// acquire / release run the 3.0.6 side's resources.
func (f *fake306) acquire(g string) {
	f.w.mu.Lock()
	defer f.w.mu.Unlock()
	if h := f.w.holders[g]; len(h) > 0 {
		f.w.overlaps = append(f.w.overlaps, "hba started "+g+" while "+strings.Join(h, ",")+" held it")
	}
	f.w.holders[g] = append(f.w.holders[g], "hba")
}

func (f *fake306) release(g string) {
	f.w.mu.Lock()
	defer f.w.mu.Unlock()
	f.w.holders[g] = slices.DeleteFunc(f.w.holders[g], func(n string) bool { return n == "hba" })
}

// messages returns what our engine sent of type t, from index from on.
func (f *fake306) messages(t string) []*wire.Message {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []*wire.Message
	for _, m := range f.got {
		if m.Get("t") == t {
			out = append(out, m)
		}
	}
	return out
}

func (f *fake306) last(t string) *wire.Message {
	ms := f.messages(t)
	if len(ms) == 0 {
		return nil
	}
	return ms[len(ms)-1]
}

func (f *fake306) requireAsk(t *testing.T, n int, hold, info string) {
	t.Helper()
	ms := f.messages("ask_resources")
	if len(ms) < n {
		t.Fatalf("our node sent %d ask_resources, want at least %d (the %d-th: rsc_hold=%s info=%s)", len(ms), n, n, hold, info)
	}
	m := ms[n-1]
	if m.Get("rsc_hold") != hold || m.Get("info") != info {
		t.Fatalf("ask_resources #%d: rsc_hold=%q info=%q, want %s %s", n, m.Get("rsc_hold"), m.Get("info"), hold, info)
	}
	if m.Has("grp_held") {
		t.Fatalf("ask_resources carries our own fields: %v", m)
	}
}

func legacyLab(t *testing.T) *lab {
	l := newLab(t, []string{"hba", "hbb"}, 1, timers{keepalive: 100 * time.Millisecond, deadtime: time.Second, warntime: 500 * time.Millisecond, initdead: 3 * time.Second})
	l.groups = []engine.GroupConfig{{Key: gA, Preferred: "hba"}}
	l.failback = engine.FailbackOn
	return l
}

// TestLegacyStartStandbyDeathFailback runs our node "hbb" against a scripted
// 3.0.6 node "hba" preferred for the only group, through the sequences of
// the captures: start-up (the stable handshake must not cost RQSTDELAY),
// hb_standby on hba, hba's death, its return and the auto_failback standby
// exchange our node drives.
func TestLegacyStartStandbyDeathFailback(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := legacyLab(t)
		l.start("hbb")
		advance(500 * time.Millisecond)
		f := startFake306(t, l, 0x6b071848)
		advance(300 * time.Millisecond)

		// Our answer to "starting" must say isstable=1 at once (we hold
		// nothing and know the peer holds nothing): 3.0.6 then takes its
		// local resources without waiting RQSTDELAY (10 s).
		r := f.last("resource")
		if r == nil || r.Get("isstable") != "1" {
			t.Fatalf("no stable resource report after starting: %v", r)
		}
		if r.Get("rsc_hold") != "local" {
			// no groups of our own: "local" vacuously, as 3.0.6 does
			t.Errorf("our rsc_hold = %q, want local", r.Get("rsc_hold"))
		}
		// 3.0.6: "remote resource transition completed", req_our_resources.
		f.send("resource", "rsc_hold", "none", "rtype", "full", "isstable", "0")
		f.acquire(gA)
		f.send("resource", "rsc_hold", "local", "rtype", "full", "isstable", "1")
		f.send("resource", "rsc_hold", "local", "rtype", "full", "isstable", "1", "info", "req_our_resources()")
		advance(2 * time.Second)
		l.requireOwner(t, gA, "hba")
		if len(f.messages("ask_resources")) != 0 {
			t.Fatalf("our node started a standby exchange on its own: %v", f.messages("ask_resources"))
		}

		// hb_standby on hba: me -> (other) -> standby report, done -> our
		// acquisition, (done) and a stable report.
		f.send("ask_resources", "rsc_hold", "all", "info", "me")
		advance(200 * time.Millisecond)
		f.requireAsk(t, 1, "all", "other")
		f.send("resource", "rsc_hold", "none", "rtype", "full", "isstable", "0", "info", "standby")
		f.release(gA)
		f.send("ask_resources", "rsc_hold", "all", "info", "done")
		advance(500 * time.Millisecond)
		l.requireOwner(t, gA, "hbb")
		f.requireAsk(t, 2, "all", "done")
		if r := f.last("resource"); r.Get("rsc_hold") != "all" || r.Get("isstable") != "1" {
			t.Fatalf("after the standby our report is rsc_hold=%s isstable=%s, want all 1", r.Get("rsc_hold"), r.Get("isstable"))
		}
		f.send("resource", "rsc_hold", "none", "rtype", "full", "isstable", "1")
		advance(2 * time.Second)
		// A group that came by standby stays: 3.0.6 fails back only what
		// it took from a dead node.
		l.requireOwner(t, gA, "hbb")
		if n := len(f.messages("ask_resources")); n != 2 {
			t.Fatalf("our node sent %d ask_resources after the standby, want 2", n)
		}

		// hb_takeover on hba: we go standby for all (rc.d/hb_takeover).
		f.send("hb_takeover", "rsc_hold", "all")
		advance(200 * time.Millisecond)
		f.requireAsk(t, 3, "all", "me")
		f.send("ask_resources", "rsc_hold", "all", "info", "other")
		advance(300 * time.Millisecond)
		if len(l.world.owners(gA)) != 0 {
			t.Fatalf("after other our node still holds %v", l.world.owners(gA))
		}
		var sb *wire.Message
		for _, m := range f.messages("resource") {
			if m.Get("info") == "standby" {
				sb = m
			}
		}
		if sb == nil || sb.Get("isstable") != "0" || sb.Get("rsc_hold") == "all" {
			t.Fatalf("our standby report: %v", sb)
		}
		f.requireAsk(t, 4, "all", "done")
		f.acquire(gA)
		f.send("ask_resources", "rsc_hold", "all", "info", "done")
		f.send("resource", "rsc_hold", "all", "rtype", "full", "isstable", "1")
		advance(500 * time.Millisecond)
		l.requireOwner(t, gA, "hba")
		if r := f.last("resource"); r.Get("isstable") != "1" {
			t.Fatalf("no stable report after the exchange: %v", r)
		}

		// hba dies: we take the group after deadtime and say stonith.
		f.powerOff()
		advance(2 * time.Second)
		l.requireOwner(t, gA, "hbb")

		// hba comes back (new generation): after its report we give the
		// group back by going standby for our foreign groups.
		f2 := startFake306(t, l, 0x6b071849)
		advance(300 * time.Millisecond)
		r = f2.last("resource")
		if r == nil || r.Get("rsc_hold") != "all" || r.Get("isstable") != "1" {
			t.Fatalf("our answer to starting after the takeover: %v", r)
		}
		f2.send("resource", "rsc_hold", "none", "rtype", "full", "isstable", "0")
		f2.send("resource", "rsc_hold", "none", "rtype", "full", "isstable", "1")
		advance(300 * time.Millisecond)
		f2.requireAsk(t, 1, "foreign", "me")
		f2.send("ask_resources", "rsc_hold", "foreign", "info", "other")
		advance(300 * time.Millisecond)
		f2.requireAsk(t, 2, "foreign", "done")
		f2.acquire(gA)
		f2.send("ask_resources", "rsc_hold", "foreign", "info", "done")
		f2.send("resource", "rsc_hold", "local", "rtype", "full", "isstable", "1")
		advance(2 * time.Second)
		l.requireOwner(t, gA, "hba")
		l.requireNoOverlap(t)
		f2.powerOff()
		l.crash("hbb")

		for _, ev := range l.events("hbb") {
			if se, ok := ev.(engine.StandbyEvent); ok && se.Phase == "abandoned" {
				t.Errorf("exchange abandoned: %+v", se)
			}
		}
	})
}

// TestLegacyShutdownWaitsForShutdone checks that a 3.0.6 peer's shutdown
// report (isstable=0) holds our acquisition back until its shutdone, so
// that the VIP is never up twice.
func TestLegacyShutdownWaitsForShutdone(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := legacyLab(t)
		l.start("hbb")
		advance(500 * time.Millisecond)
		f := startFake306(t, l, 0x6b071848)
		advance(300 * time.Millisecond)
		f.send("resource", "rsc_hold", "none", "rtype", "full", "isstable", "0")
		f.acquire(gA)
		f.send("resource", "rsc_hold", "local", "rtype", "full", "isstable", "1")
		advance(time.Second)
		l.requireOwner(t, gA, "hba")

		f.send("resource", "rsc_hold", "none", "rtype", "full", "isstable", "0", "info", "shutdown")
		advance(500 * time.Millisecond) // 3.0.6 is still stopping its resources
		l.requireOwner(t, gA, "hba")
		f.release(gA)
		f.send("shutdone", "st", "dead")
		advance(300 * time.Millisecond) // well within deadtime (1 s)
		l.requireOwner(t, gA, "hbb")
		l.requireNoOverlap(t)
		if m := f.last("stonith"); m == nil || m.Get("node") != "hba" || m.Get("result") != "unneeded" {
			t.Errorf("stonith notice after the shutdone: %v", m)
		}
		f.powerOff()
	})
}

// TestLegacyStandbyFromUs runs hbctl standby on our node: the group moves to
// the 3.0.6 peer through the me/other/done exchange.
func TestLegacyStandbyFromUs(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := legacyLab(t)
		l.start("hbb")
		advance(500 * time.Millisecond)
		f := startFake306(t, l, 0x6b071848)
		advance(300 * time.Millisecond)
		f.send("ask_resources", "rsc_hold", "all", "info", "me") // ignored: hba is in flux
		advance(100 * time.Millisecond)
		if n := len(f.messages("ask_resources")); n != 0 {
			t.Fatalf("answered a standby request of an unstable peer: %d messages", n)
		}
		f.send("resource", "rsc_hold", "none", "rtype", "full", "isstable", "0")
		f.send("resource", "rsc_hold", "none", "rtype", "full", "isstable", "1")
		advance(time.Second)
		// hba holds nothing and is stable; its group is not ours to take
		// (3.0.6 would log "No one owns our local resources" and wait).
		if err := l.engine("hbb").Standby(t.Context(), engine.WhichAll); err != nil {
			t.Fatal(err)
		}
		advance(100 * time.Millisecond)
		f.requireAsk(t, 1, "all", "me")
		f.send("ask_resources", "rsc_hold", "all", "info", "other")
		advance(300 * time.Millisecond)
		f.requireAsk(t, 2, "all", "done")
		f.send("ask_resources", "rsc_hold", "all", "info", "done")
		advance(300 * time.Millisecond)
		if r := f.last("resource"); r.Get("isstable") != "1" {
			t.Fatalf("no stable report after the exchange: %v", r)
		}
		f.powerOff()
	})
}
