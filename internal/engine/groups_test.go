package engine_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/linuxha/heartbeat/internal/engine"
	"github.com/linuxha/heartbeat/internal/memnet"
)

// world is the resources of every node: which node runs which group, and a
// record of every moment two nodes ran the same group.
type world struct {
	mu         sync.Mutex
	holders    map[string][]string // group -> nodes running it
	log        []string
	overlaps   []string
	failStart  map[string]bool // node/group -> Acquire fails
	failStop   map[string]bool // node/group -> Release fails
	fenced     []string
	announced  map[string]int // node/group -> announcements
	startDelay time.Duration
}

func newWorld() *world {
	return &world{holders: map[string][]string{}, failStart: map[string]bool{}, failStop: map[string]bool{}, announced: map[string]int{}}
}

type fakeRunner struct {
	w    *world
	node string
}

func (w *world) runner(node string) engine.Runner { return &fakeRunner{w: w, node: node} }

func (r *fakeRunner) Acquire(ctx context.Context, g string) error {
	if r.w.startDelay > 0 {
		<-time.After(r.w.startDelay)
	}
	r.w.mu.Lock()
	defer r.w.mu.Unlock()
	r.w.log = append(r.w.log, fmt.Sprintf("%v %s acquire %s", time.Now().Format("15:04:05.000"), r.node, g))
	if r.w.failStart[r.node+"/"+g] {
		return errors.New("start failed")
	}
	if h := r.w.holders[g]; len(h) > 0 {
		r.w.overlaps = append(r.w.overlaps, fmt.Sprintf("%s started %s while %v held it", r.node, g, h))
	}
	r.w.holders[g] = append(r.w.holders[g], r.node)
	return nil
}

func (r *fakeRunner) Release(ctx context.Context, g string) error {
	r.w.mu.Lock()
	defer r.w.mu.Unlock()
	r.w.log = append(r.w.log, fmt.Sprintf("%v %s release %s", time.Now().Format("15:04:05.000"), r.node, g))
	if r.w.failStop[r.node+"/"+g] {
		return errors.New("stop failed")
	}
	r.w.holders[g] = slices.DeleteFunc(r.w.holders[g], func(n string) bool { return n == r.node })
	return nil
}

func (r *fakeRunner) Announce(ctx context.Context, g string) error {
	r.w.mu.Lock()
	defer r.w.mu.Unlock()
	r.w.announced[r.node+"/"+g]++
	return nil
}

func (r *fakeRunner) Fence(ctx context.Context, reason string) error {
	r.w.mu.Lock()
	defer r.w.mu.Unlock()
	r.w.fenced = append(r.w.fenced, r.node)
	return nil
}

func (w *world) powerOff(node string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for g, h := range w.holders {
		w.holders[g] = slices.DeleteFunc(h, func(n string) bool { return n == node })
	}
}

func (w *world) owners(g string) []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.holders[g])
}

func (w *world) clearOverlaps() {
	w.mu.Lock()
	w.overlaps = nil
	w.mu.Unlock()
}

func (l *lab) requireOwner(t *testing.T, g, want string) {
	t.Helper()
	got := l.world.owners(g)
	if len(got) != 1 || got[0] != want {
		l.world.mu.Lock()
		log := slices.Clone(l.world.log)
		l.world.mu.Unlock()
		t.Fatalf("group %s held by %v, want only %s\nlog:\n%v", g, got, want, log)
	}
}

func (l *lab) requireNoOverlap(t *testing.T) {
	t.Helper()
	l.world.mu.Lock()
	overlaps := slices.Clone(l.world.overlaps)
	l.world.mu.Unlock()
	if len(overlaps) > 0 {
		t.Fatalf("two owners at once: %v", overlaps)
	}
}

func (l *lab) engine(name string) *engine.Engine {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.nodes[name].eng
}

const (
	gA = "IPaddr::10.0.0.10/24/eth0" // preferred by hba
	gB = "10.0.0.11"                 // preferred by hbb
)

func groupLab(t *testing.T, names []string, fb engine.Failback) *lab {
	l := newLab(t, names, 1, timers{keepalive: 100 * time.Millisecond, deadtime: time.Second, warntime: 500 * time.Millisecond, initdead: 3 * time.Second})
	l.groups = []engine.GroupConfig{{Key: gA, Preferred: "hba"}, {Key: gB, Preferred: "hbb"}}
	l.failback = fb
	return l
}

func TestGroupsStartOnPreferredNodes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := groupLab(t, []string{"hba", "hbb"}, engine.FailbackOn)
		l.start("hba")
		l.start("hbb")
		advance(time.Second)
		l.requireOwner(t, gA, "hba")
		l.requireOwner(t, gB, "hbb")
		l.requireNoOverlap(t)
		for _, obs := range []string{"hba", "hbb"} {
			for _, g := range l.snapshot(obs).Groups {
				if g.Owner != g.Preferred {
					t.Errorf("%s thinks %s is owned by %q, want %s", obs, g.Key, g.Owner, g.Preferred)
				}
			}
		}
	})
}

func TestGroupsAloneWaitInitdead(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := groupLab(t, []string{"hba", "hbb"}, engine.FailbackOn)
		start := time.Now()
		l.start("hba")
		advance(2 * time.Second)
		if o := l.world.owners(gA); len(o) != 0 {
			t.Fatalf("hba took groups before initdead told it hbb is dead: %v", o)
		}
		advance(2 * time.Second)
		l.requireOwner(t, gA, "hba")
		l.requireOwner(t, gB, "hba")
		_ = start
	})
}

func TestTakeoverAfterCrashWithinDeadtime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := groupLab(t, []string{"hba", "hbb"}, engine.FailbackOn)
		l.start("hba")
		l.start("hbb")
		advance(time.Second)
		crashed := time.Now()
		l.crash("hba")
		advance(l.timers.deadtime + 300*time.Millisecond)
		l.requireOwner(t, gA, "hbb")
		l.requireOwner(t, gB, "hbb")
		var took time.Time
		for _, ev := range l.events("hbb") {
			ge, ok := ev.(engine.GroupEvent)
			if !ok || ge.New != engine.GroupRunning {
				continue
			}
			// The takeover names the node the group came from (a journal
			// NODE= field); hbb's own group comes from nowhere.
			switch {
			case ge.Group == gA:
				took = ge.At
				if ge.Node != "hba" {
					t.Errorf("takeover of %s: Node = %q, want hba", gA, ge.Node)
				}
			case ge.Group == gB && ge.Node != "":
				t.Errorf("start of hbb's own %s: Node = %q, want empty", gB, ge.Node)
			}
		}
		if d := took.Sub(crashed); d < l.timers.deadtime-l.timers.keepalive || d > l.timers.deadtime+l.timers.keepalive {
			t.Errorf("group taken over %v after the crash, want about deadtime %v", d, l.timers.deadtime)
		}
		l.requireNoOverlap(t)
	})
}

func TestAutoFailback(t *testing.T) {
	for _, tc := range []struct {
		fb        engine.Failback
		wantOwner string
	}{{engine.FailbackOn, "hba"}, {engine.FailbackLegacy, "hba"}, {engine.FailbackOff, "hbb"}} {
		t.Run(fmt.Sprint(tc.fb), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				l := groupLab(t, []string{"hba", "hbb"}, tc.fb)
				l.start("hba")
				l.start("hbb")
				advance(time.Second)
				l.crash("hba")
				advance(2 * time.Second)
				l.requireOwner(t, gA, "hbb")
				l.start("hba")
				advance(2 * time.Second)
				l.requireOwner(t, gA, tc.wantOwner)
				if tc.wantOwner == "hba" {
					var from []string
					for _, ev := range l.events("hba") {
						if ge, ok := ev.(engine.GroupEvent); ok && ge.Group == gA && ge.New == engine.GroupRunning {
							from = append(from, ge.Node)
						}
					}
					if len(from) == 0 || from[len(from)-1] != "hbb" {
						t.Errorf("failback of %s: from = %q, want it to name hbb", gA, from)
					}
				}
				l.requireOwner(t, gB, "hbb")
				l.requireNoOverlap(t)
			})
		})
	}
}

func TestGracefulStopHandsOverAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := groupLab(t, []string{"hba", "hbb"}, engine.FailbackOn)
		l.start("hba")
		l.start("hbb")
		advance(time.Second)
		stopped := time.Now()
		l.stop("hba")
		advance(50 * time.Millisecond)
		l.requireOwner(t, gA, "hbb")
		var took time.Time
		for _, ev := range l.events("hbb") {
			if ge, ok := ev.(engine.GroupEvent); ok && ge.Group == gA && ge.New == engine.GroupRunning {
				took = ge.At
			}
		}
		if d := took.Sub(stopped); d > 50*time.Millisecond {
			t.Errorf("handover after a graceful stop took %v", d)
		}
		l.requireNoOverlap(t)
	})
}

func TestStartFailureMovesGroup(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := groupLab(t, []string{"hba", "hbb"}, engine.FailbackOn)
		l.world.failStart["hba/"+gA] = true
		l.start("hba")
		l.start("hbb")
		advance(2 * time.Second)
		l.requireOwner(t, gA, "hbb")
		g := l.snapshot("hba").Groups[0]
		if g.State != engine.GroupFailed || !g.Failed {
			t.Errorf("hba's state of %s = %v failed=%v, want failed", gA, g.State, g.Failed)
		}
		// And auto_failback does not bounce it back to the node that failed.
		advance(5 * time.Second)
		l.requireOwner(t, gA, "hbb")
		l.requireNoOverlap(t)
	})
}

func TestStandbyAndTakeover(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := groupLab(t, []string{"hba", "hbb"}, engine.FailbackOn)
		l.start("hba")
		l.start("hbb")
		advance(time.Second)
		ctx := context.Background()
		if err := l.engine("hba").Standby(ctx, engine.WhichAll); err != nil {
			t.Fatal(err)
		}
		advance(500 * time.Millisecond)
		l.requireOwner(t, gA, "hbb")
		l.requireOwner(t, gB, "hbb")
		// auto_failback must not pull it back while hba stands by.
		advance(3 * time.Second)
		l.requireOwner(t, gA, "hbb")
		if err := l.engine("hba").Takeover(ctx, engine.WhichAll); err != nil {
			t.Fatal(err)
		}
		advance(500 * time.Millisecond)
		l.requireOwner(t, gA, "hba")
		l.requireOwner(t, gB, "hba")
		// takeover of "foreign" from hbb gives back only hbb's preferred group.
		if err := l.engine("hbb").Takeover(ctx, engine.WhichLocal); err != nil {
			t.Fatal(err)
		}
		advance(500 * time.Millisecond)
		l.requireOwner(t, gA, "hba")
		l.requireOwner(t, gB, "hbb")
		// A standby after a takeover works again (the peer's yield to the
		// takeover does not stick).
		if err := l.engine("hba").Standby(ctx, engine.WhichAll); err != nil {
			t.Fatalf("second standby: %v", err)
		}
		advance(500 * time.Millisecond)
		l.requireOwner(t, gA, "hbb")
		l.requireOwner(t, gB, "hbb")
		l.requireNoOverlap(t)
	})
}

func TestStandbyRefusedWhenAlone(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := groupLab(t, []string{"hba", "hbb"}, engine.FailbackOn)
		l.start("hba")
		advance(4 * time.Second)
		l.requireOwner(t, gA, "hba")
		if err := l.engine("hba").Standby(context.Background(), engine.WhichAll); !errors.Is(err, engine.ErrNoPeer) {
			t.Fatalf("standby with no peer: %v, want ErrNoPeer", err)
		}
		advance(time.Second)
		l.requireOwner(t, gA, "hba")
	})
}

func TestSplitBrainHealsToOneOwner(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := groupLab(t, []string{"hba", "hbb"}, engine.FailbackOn)
		l.start("hba")
		l.start("hbb")
		advance(time.Second)
		l.nets[0].Partition([]string{"hba"}, []string{"hbb"})
		advance(l.timers.deadtime + 500*time.Millisecond)
		// Each side took the other's group: this is the split brain.
		if got := l.world.owners(gA); len(got) != 2 {
			t.Fatalf("during the partition %s is held by %v, want both", gA, got)
		}
		l.world.clearOverlaps()
		healed := time.Now()
		l.nets[0].Heal()
		advance(5 * l.timers.keepalive)
		l.requireOwner(t, gA, "hba")
		l.requireOwner(t, gB, "hbb")
		// Both views agree on the owners, and keep agreeing.
		advance(2 * time.Second)
		for _, obs := range []string{"hba", "hbb"} {
			for _, g := range l.snapshot(obs).Groups {
				if g.Owner != g.Preferred {
					t.Errorf("after the heal %s sees %s owned by %q, want %s", obs, g.Key, g.Owner, g.Preferred)
				}
			}
		}
		l.world.mu.Lock()
		annA, annB := l.world.announced["hba/"+gA], l.world.announced["hbb/"+gB]
		l.world.mu.Unlock()
		if annA == 0 || annB == 0 {
			t.Errorf("keepers did not re-announce their addresses (hba %d, hbb %d)", annA, annB)
		}
		_ = healed
	})
}

// The latest standby wins: hbb goes standby (hba holds both groups), then
// hba goes standby for its foreign group: hbb takes it back instead of the
// request failing for want of a candidate; then hba's local standby moves
// gA too, and hba's takeovers pull both back.
func TestStandbyLatestWins(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := groupLab(t, []string{"hba", "hbb"}, engine.FailbackOff)
		l.start("hba")
		l.start("hbb")
		advance(time.Second)
		ctx := context.Background()
		steps := []struct {
			node     string
			takeover bool
			which    engine.Which
			a, b     string // owners of gA and gB after the step
		}{
			{"hbb", false, engine.WhichAll, "hba", "hba"},
			{"hba", false, engine.WhichForeign, "hba", "hbb"},
			{"hba", false, engine.WhichLocal, "hbb", "hbb"},
			{"hba", true, engine.WhichForeign, "hbb", "hba"},
			{"hba", true, engine.WhichLocal, "hba", "hba"},
			{"hbb", true, engine.WhichAll, "hbb", "hbb"},
		}
		for i, st := range steps {
			var err error
			if st.takeover {
				err = l.engine(st.node).Takeover(ctx, st.which)
			} else {
				err = l.engine(st.node).Standby(ctx, st.which)
			}
			if err != nil {
				t.Fatalf("step %d: %s standby/takeover %v: %v", i, st.node, st.which, err)
			}
			advance(time.Second)
			l.requireOwner(t, gA, st.a)
			l.requireOwner(t, gB, st.b)
		}
		l.requireNoOverlap(t)
	})
}

func TestStopFailureRetriesThenFences(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := groupLab(t, []string{"hba", "hbb"}, engine.FailbackOn)
		l.start("hba")
		l.start("hbb")
		advance(time.Second)
		l.world.failStop["hba/"+gA] = true
		if err := l.engine("hba").Standby(context.Background(), engine.WhichLocal); err != nil {
			t.Fatal(err)
		}
		advance(5 * time.Second)
		if o := l.world.owners(gA); !slices.Equal(o, []string{"hba"}) {
			t.Fatalf("a group that failed to stop moved: held by %v", o)
		}
		l.world.mu.Lock()
		fenced := len(l.world.fenced)
		l.world.mu.Unlock()
		if fenced != 0 {
			t.Fatalf("fenced after 5 s, want 10 retries first")
		}
		advance(6 * time.Second)
		l.world.mu.Lock()
		fenced = len(l.world.fenced)
		l.world.mu.Unlock()
		if fenced != 1 {
			t.Fatalf("fence calls = %d after 10 failed stops, want 1", fenced)
		}
		l.requireNoOverlap(t)

		// The reboot stops the daemon: it must not wait for the group it
		// cannot stop, nor say good-bye (the peer would take over while
		// the resource still runs here).
		t0 := time.Now()
		if err := l.stop("hba"); !errors.Is(err, engine.ErrFenced) {
			t.Fatalf("stop while fencing: Run = %v, want ErrFenced", err)
		}
		if d := time.Since(t0); d > l.timers.keepalive {
			t.Fatalf("stop while fencing took %v", d)
		}
		advance(l.timers.deadtime - 300*time.Millisecond)
		if d := l.deaths("hbb", "hba"); len(d) != 0 {
			t.Fatalf("hbb saw hba leave before deadtime: %+v", d)
		}
		if s := l.snapshot("hbb"); slices.ContainsFunc(s.Groups, func(g engine.GroupInfo) bool { return g.Key == gA && g.Owner == "hbb" }) {
			t.Fatalf("hbb took a group before deadtime: %+v", s.Groups)
		}
		l.world.powerOff("hba") // the reboot ends what could not be stopped
		advance(time.Second)
		if d := l.deaths("hbb", "hba"); len(d) != 1 || d[0].Reason != "deadtime" {
			t.Fatalf("hbb's view of hba: %+v, want one death by deadtime", d)
		}
		l.requireOwner(t, gA, "hbb")
		l.requireNoOverlap(t)
	})
}

func TestThreeNodesSuccessorTakes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := groupLab(t, []string{"hba", "hbb", "hbc"}, engine.FailbackOn)
		l.groups = append(l.groups, engine.GroupConfig{Key: "httpd", Preferred: "hbc"})
		for _, n := range []string{"hba", "hbb", "hbc"} {
			l.start(n)
		}
		advance(time.Second)
		l.requireOwner(t, "httpd", "hbc")
		l.crash("hbc")
		advance(l.timers.deadtime + 300*time.Millisecond)
		l.requireOwner(t, "httpd", "hba") // first live node in ha.cf order
		l.requireOwner(t, gA, "hba")
		l.requireOwner(t, gB, "hbb")
		l.requireNoOverlap(t)
	})
}

func TestSlowStartNoDoubleOwner(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := groupLab(t, []string{"hba", "hbb"}, engine.FailbackOn)
		l.world.startDelay = 400 * time.Millisecond
		l.start("hba")
		l.start("hbb")
		advance(2 * time.Second)
		l.crash("hba")
		advance(3 * time.Second)
		l.start("hba")
		advance(5 * time.Second)
		l.requireOwner(t, gA, "hba")
		l.requireOwner(t, gB, "hbb")
		l.requireNoOverlap(t)
	})
}

func TestReconfigureByDifference(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := groupLab(t, []string{"hba", "hbb"}, engine.FailbackOn)
		l.start("hba")
		l.start("hbb")
		advance(time.Second)
		l.world.mu.Lock()
		before := len(l.world.log)
		l.world.mu.Unlock()
		const gC = "10.0.0.12"
		rc := engine.Reconfig{Keepalive: 100 * time.Millisecond, Deadtime: time.Second, Keys: l.keys, AutoFailback: engine.FailbackOn,
			Groups: []engine.GroupConfig{{Key: gA, Preferred: "hba"}, {Key: gC, Preferred: "hba"}}}
		for _, n := range []string{"hba", "hbb"} {
			if err := l.engine(n).Reconfigure(context.Background(), rc); err != nil {
				t.Fatal(err)
			}
		}
		advance(time.Second)
		l.requireOwner(t, gA, "hba")
		l.requireOwner(t, gC, "hba")
		if o := l.world.owners(gB); len(o) != 0 {
			t.Errorf("removed group %s still held by %v", gB, o)
		}
		l.world.mu.Lock()
		ops := l.world.log[before:]
		l.world.mu.Unlock()
		for _, op := range ops {
			if strings.Contains(op, " "+gA) {
				t.Errorf("unchanged group touched by the reload: %s", op)
			}
		}
		// A changed group is restarted.
		rc.Restart = []string{gA}
		if err := l.engine("hba").Reconfigure(context.Background(), rc); err != nil {
			t.Fatal(err)
		}
		advance(time.Second)
		l.requireOwner(t, gA, "hba")
		l.world.mu.Lock()
		n := 0
		for _, op := range l.world.log {
			if strings.Contains(op, "hba acquire "+gA) {
				n++
			}
		}
		l.world.mu.Unlock()
		if n != 2 {
			t.Errorf("changed group acquired %d times, want 2 (restarted once)", n)
		}
		// Bad values are refused.
		if err := l.engine("hba").Reconfigure(context.Background(), engine.Reconfig{Keepalive: time.Second, Deadtime: time.Second, Keys: l.keys}); err == nil {
			t.Errorf("deadtime == keepalive accepted")
		}
		l.requireNoOverlap(t)
	})
}

func TestWatchdogPetFromLoop(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var pets atomic.Int64
		media := []engine.Medium{memnet.New("eth0", 1).Attach("hba")}
		eng, err := engine.New(engine.Config{LocalNode: "hba", Nodes: []string{"hba", "hbb"}, Keepalive: time.Second, Deadtime: 3 * time.Second,
			Keys: testKeys(), Watchdog: 2 * time.Second, Pet: func() { pets.Add(1) }}, media)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { eng.Run(ctx); close(done) }()
		advance(10*time.Second + time.Millisecond)
		if got := pets.Load(); got != 11 { // once at start, then every second
			t.Errorf("pets in 10 s at WatchdogSec=2s: %d, want 11", got)
		}
		cancel()
		<-done
	})
}

// stuckMedium blocks the engine loop in Send while stuck is set, as a
// wedged syscall or a deadlock would.
type stuckMedium struct {
	engine.Medium
	stuck atomic.Bool
	gate  chan struct{}
}

func (m *stuckMedium) Send(b []byte) error {
	if m.stuck.Load() {
		<-m.gate
	}
	return m.Medium.Send(b)
}

// The watchdog is petted by the loop itself: a loop that hangs stops the
// pets (so systemd kills the daemon), and they resume when it runs again.
func TestWatchdogStopsWhenLoopHangs(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var pets atomic.Int64
		m := &stuckMedium{Medium: memnet.New("eth0", 1).Attach("hba"), gate: make(chan struct{})}
		eng, err := engine.New(engine.Config{LocalNode: "hba", Nodes: []string{"hba", "hbb"}, Keepalive: time.Second, Deadtime: 3 * time.Second,
			Keys: testKeys(), Watchdog: 2 * time.Second, Pet: func() { pets.Add(1) }}, []engine.Medium{m})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { eng.Run(ctx); close(done) }()
		go func() {
			for {
				select {
				case <-eng.Events():
				case <-done:
					return
				}
			}
		}()
		advance(3 * time.Second)
		before := pets.Load()
		if before < 3 {
			t.Fatalf("only %d pets before the hang", before)
		}
		m.stuck.Store(true)
		advance(10 * time.Second)
		hung := pets.Load()
		if hung-before > 1 { // at most the pet due before the loop reached Send
			t.Errorf("%d pets while the loop hung for 10 s", hung-before)
		}
		m.stuck.Store(false)
		close(m.gate)
		advance(3 * time.Second)
		if pets.Load()-hung < 2 {
			t.Errorf("pets did not resume after the loop ran again: %d", pets.Load()-hung)
		}
		cancel()
		<-done
	})
}

// pinger answers the lab's ping node for the nodes whose path is up.
type pinger struct {
	mu      sync.Mutex
	reaches map[string]bool
}

func (p *pinger) set(node string, ok bool) {
	p.mu.Lock()
	p.reaches[node] = ok
	p.mu.Unlock()
}

func (p *pinger) run(ctx context.Context, l *lab, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		p.mu.Lock()
		for node, ok := range p.reaches {
			if !ok {
				continue
			}
			l.mu.Lock()
			ln := l.nodes[node]
			l.mu.Unlock()
			if ln != nil {
				ln.eng.PingReply(l.pingNode, time.Now())
			}
		}
		p.mu.Unlock()
	}
}

func TestIpfailMovesGroupsToBetterConnectedNode(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := groupLab(t, []string{"hba", "hbb"}, engine.FailbackOn)
		l.pingNode = "10.0.0.254"
		pg := &pinger{reaches: map[string]bool{"hba": true, "hbb": true}}
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		go pg.run(ctx, l, l.timers.keepalive)
		l.start("hba")
		l.start("hbb")
		advance(2 * time.Second)
		l.requireOwner(t, gA, "hba")
		l.requireOwner(t, gB, "hbb")

		// Equal loss of the ping node changes nothing.
		pg.set("hba", false)
		pg.set("hbb", false)
		advance(3 * time.Second)
		l.requireOwner(t, gA, "hba")
		l.requireOwner(t, gB, "hbb")

		// hbb reaches it again, hba does not: hba's groups go to hbb.
		pg.set("hbb", true)
		advance(2 * time.Second)
		l.requireOwner(t, gA, "hbb")
		l.requireOwner(t, gB, "hbb")
		if n, _ := l.snapshot("hba").Node("10.0.0.254"); n.Status != engine.StatusDead || !n.Ping {
			t.Errorf("hba sees its ping node as %v (ping node %v), want dead", n.Status, n.Ping)
		}

		// hba's path comes back: counts equal, auto_failback brings gA home.
		pg.set("hba", true)
		advance(2 * time.Second)
		l.requireOwner(t, gA, "hba")
		l.requireOwner(t, gB, "hbb")
		l.requireNoOverlap(t)
		cancel()
	})
}

// TestMissedFirstReportsAskedAgain: both nodes start while they cannot hear
// each other yet (a socket not bound, a switch port still learning), so each
// misses the other's first resource report and `starting`. The sequence
// window starts at the first message heard, so nothing asks for those again;
// the missing reports must be asked for, or nobody ever takes the groups.
func TestMissedFirstReportsAskedAgain(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := groupLab(t, []string{"hba", "hbb"}, engine.FailbackOn)
		l.nets[0].Partition([]string{"hba"}, []string{"hbb"})
		l.start("hba")
		l.start("hbb")
		advance(300 * time.Millisecond)
		l.nets[0].Heal()
		advance(2 * time.Second)
		l.requireOwner(t, gA, "hba")
		l.requireOwner(t, gB, "hbb")
		l.requireNoOverlap(t)
	})
}

// Holds follows 3.0.6's i_hold_resources in the common active/passive set-up
// where only one node has haresources lines: the passive node holds its
// (empty) local category, the active one its own groups; when the passive
// node dies the active one holds all, and when it returns (auto_failback
// on) each is back to local.
func TestHoldsActivePassive(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := newLab(t, []string{"hba", "hbb"}, 1, timers{keepalive: 100 * time.Millisecond, deadtime: time.Second, warntime: 500 * time.Millisecond, initdead: 3 * time.Second})
		l.groups = []engine.GroupConfig{{Key: gA, Preferred: "hba"}}
		l.failback = engine.FailbackOn
		holds := func(n string) string {
			s := l.snapshot(n)
			if !s.Settled {
				return "unsettled " + s.Holds
			}
			return s.Holds
		}
		l.start("hba")
		l.start("hbb")
		advance(2 * time.Second)
		l.requireOwner(t, gA, "hba")
		if a, b := holds("hba"), holds("hbb"); a != "local" || b != "local" {
			t.Errorf("both up: hba holds %q, hbb %q; want local, local", a, b)
		}
		l.crash("hbb")
		advance(2 * time.Second)
		if a := holds("hba"); a != "all" {
			t.Errorf("hbb dead: hba holds %q, want all", a)
		}
		l.start("hbb")
		advance(3 * time.Second)
		l.requireOwner(t, gA, "hba")
		if a, b := holds("hba"), holds("hbb"); a != "local" || b != "local" {
			t.Errorf("hbb back: hba holds %q, hbb %q; want local, local", a, b)
		}
	})
}

// A group the daemon's start-up check refused (a resource was running
// outside heartbeat) is never acquired on that node, not even when it is
// the preferred node or the only one left: it runs on the peer, and with
// the peer gone it stays down rather than being started twice.
func TestBlockedGroupNeverAcquired(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := groupLab(t, []string{"hba", "hbb"}, engine.FailbackOn)
		l.blocked = map[string]string{"hba": gA}
		l.start("hba")
		l.start("hbb")
		advance(2 * time.Second)
		l.requireOwner(t, gA, "hbb")
		l.requireOwner(t, gB, "hbb")
		l.crash("hbb")
		advance(3 * time.Second)
		if got := l.world.owners(gA); len(got) != 0 {
			t.Errorf("blocked group %s held by %v after the peer died", gA, got)
		}
		l.requireOwner(t, gB, "hba")
		l.requireNoOverlap(t)
	})
}
