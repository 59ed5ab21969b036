package daemon

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/synctest"

	"github.com/linuxha/heartbeat/internal/config"
	"github.com/linuxha/heartbeat/internal/engine"
	"github.com/linuxha/heartbeat/internal/resource"
)

type fakeAgent struct {
	token     string
	running   bool
	failStart bool
	failStop  bool
	calls     *[]string
}

func (a *fakeAgent) Token() string { return a.token }
func (a *fakeAgent) Start(context.Context) error {
	*a.calls = append(*a.calls, "start "+a.token)
	if a.failStart {
		return errors.New("boom")
	}
	a.running = true
	return nil
}
func (a *fakeAgent) Stop(context.Context) error {
	*a.calls = append(*a.calls, "stop "+a.token)
	if a.failStop {
		return errors.New("stuck")
	}
	a.running = false
	return nil
}
func (a *fakeAgent) Status(context.Context) (resource.State, error) {
	if a.running {
		return resource.Running, nil
	}
	return resource.Stopped, nil
}

type fakeResolver struct {
	agents map[string]*fakeAgent
	calls  []string
}

func (f *fakeResolver) Resolve(_ context.Context, r config.Resource) (resource.Agent, error) {
	a, ok := f.agents[r.Token]
	if !ok {
		a = &fakeAgent{token: r.Token, calls: &f.calls}
		f.agents[r.Token] = a
	}
	return a, nil
}

func group(t *testing.T, line string) config.Group {
	t.Helper()
	gs, err := config.ParseHaresources("haresources", []byte(line+"\n"))
	if err != nil {
		t.Fatal(err)
	}
	return gs[0]
}

func TestRunnerOrderAndRecord(t *testing.T) {
	g := group(t, "hba web::a::b db httpd")
	fr := &fakeResolver{agents: map[string]*fakeAgent{}}
	held := &heldFile{path: filepath.Join(t.TempDir(), "held-groups")}
	r := newRunner(slog.New(slog.DiscardHandler), []config.Group{g}, fr, held, nil)
	ctx := context.Background()
	if err := r.Acquire(ctx, g.Key()); err != nil {
		t.Fatal(err)
	}
	if l, _ := held.list(); !slices.Equal(l, []string{"web::a::b db httpd"}) {
		t.Errorf("held record = %q", l)
	}
	if err := r.Release(ctx, g.Key()); err != nil {
		t.Fatal(err)
	}
	want := []string{"start web::a::b", "start db", "start httpd", "stop httpd", "stop db", "stop web::a::b"}
	if !slices.Equal(fr.calls, want) {
		t.Errorf("calls = %q\nwant    %q", fr.calls, want)
	}
	if l, _ := held.list(); len(l) != 0 {
		t.Errorf("held record after release = %q", l)
	}
}

func TestRunnerStartFailureAndStopChecks(t *testing.T) {
	g := group(t, "hba a b c")
	fr := &fakeResolver{agents: map[string]*fakeAgent{}}
	fr.agents["b"] = &fakeAgent{token: "b", failStart: true, calls: &fr.calls}
	r := newRunner(slog.New(slog.DiscardHandler), []config.Group{g}, fr, &heldFile{path: filepath.Join(t.TempDir(), "h")}, nil)
	if err := r.Acquire(context.Background(), "a"); err == nil || !strings.Contains(err.Error(), "resource b: start") {
		t.Fatalf("acquire error = %v", err)
	}
	if slices.Contains(fr.calls, "start c") {
		t.Errorf("resources after the failed one were started: %q", fr.calls)
	}
	if got := r.resourceStates()["a"]; !slices.Equal(got, []string{"running", "failed", "stopped"}) {
		t.Errorf("resource states after b failed to start = %q", got)
	}
	// A stop that fails while status says stopped counts as stopped.
	fr.agents["b"].failStop = true
	if err := r.Release(context.Background(), "a"); err != nil {
		t.Errorf("release with a non-LSB stop of a stopped resource: %v", err)
	}
	// A stop that fails while still running is an error.
	fr.agents["c"].running = true
	fr.agents["c"].failStop = true
	if err := r.Release(context.Background(), "a"); err == nil {
		t.Errorf("release succeeded although c is still running")
	}
	if got := r.resourceStates()["a"]; !slices.Equal(got, []string{"stopped", "stopped", "failed"}) {
		t.Errorf("resource states after c failed to stop = %q", got)
	}
}

// A resource that cannot be stopped ends the release there, as in 3.0.6:
// the resources left of it (what it stands on) keep running while the
// engine retries; a retry stops it first again.
func TestRunnerStopFailureKeepsTheRest(t *testing.T) {
	g := group(t, "hba fs db web")
	fr := &fakeResolver{agents: map[string]*fakeAgent{}}
	r := newRunner(slog.New(slog.DiscardHandler), []config.Group{g}, fr, &heldFile{path: filepath.Join(t.TempDir(), "h")}, nil)
	ctx := context.Background()
	if err := r.Acquire(ctx, "fs"); err != nil {
		t.Fatal(err)
	}
	fr.agents["db"].failStop = true
	fr.calls = nil
	for range 2 {
		if err := r.Release(ctx, "fs"); err == nil || !strings.Contains(err.Error(), "resource db: stop") {
			t.Fatalf("release error = %v, want db's stop failure", err)
		}
	}
	if want := []string{"stop web", "stop db", "stop web", "stop db"}; !slices.Equal(fr.calls, want) {
		t.Errorf("calls = %q\nwant    %q", fr.calls, want)
	}
	if !fr.agents["fs"].running {
		t.Errorf("fs was stopped under a db that could not be stopped")
	}
	if got := r.resourceStates()["fs"]; !slices.Equal(got, []string{"running", "failed", "stopped"}) {
		t.Errorf("resource states = %q", got)
	}
	fr.agents["db"].failStop = false
	if err := r.Release(ctx, "fs"); err != nil {
		t.Fatal(err)
	}
	if fr.agents["fs"].running || fr.agents["db"].running {
		t.Errorf("release after the stop works again left fs/db running")
	}
}

// Each resource's state follows what the runner does with it, every step
// is reported, and a reload that changes a held group's resources keeps the
// old states until the group is released.
func TestRunnerResourceStates(t *testing.T) {
	g := group(t, "hba 10.0.0.1 db httpd")
	fr := &fakeResolver{agents: map[string]*fakeAgent{}}
	r := newRunner(slog.New(slog.DiscardHandler), []config.Group{g}, fr, &heldFile{path: filepath.Join(t.TempDir(), "h")}, nil)
	var seen [][]string
	r.onChange = func() { seen = append(seen, r.resourceStates()[g.Key()]) }
	if got := r.resourceStates()[g.Key()]; !slices.Equal(got, []string{"stopped", "stopped", "stopped"}) {
		t.Fatalf("initial states %q", got)
	}
	ctx := context.Background()
	if err := r.Acquire(ctx, g.Key()); err != nil {
		t.Fatal(err)
	}
	want := [][]string{
		{"starting", "stopped", "stopped"}, {"running", "stopped", "stopped"},
		{"running", "starting", "stopped"}, {"running", "running", "stopped"},
		{"running", "running", "starting"}, {"running", "running", "running"},
	}
	if !slices.EqualFunc(seen, want, slices.Equal) {
		t.Errorf("state changes during acquire:\n got %q\nwant %q", seen, want)
	}
	g2 := group(t, "hba 10.0.0.1 db")
	r.update([]config.Group{g2}, []string{g.Key()})
	if got := r.resourceStates()[g.Key()]; !slices.Equal(got, []string{"running", "running", "running"}) {
		t.Errorf("states right after a reload of the held group %q, want the running ones", got)
	}
	seen = nil
	if err := r.Release(ctx, g.Key()); err != nil {
		t.Fatal(err)
	}
	if len(seen) == 0 || !slices.Equal(seen[0], []string{"running", "running", "stopping"}) {
		t.Errorf("release does not stop right to left first: %q", seen)
	}
	if got := r.resourceStates()[g.Key()]; !slices.Equal(got, []string{"stopped", "stopped"}) {
		t.Errorf("states after the release %q, want the new group's two resources stopped", got)
	}
}

func TestCleanupReleasesLeftovers(t *testing.T) {
	held := &heldFile{path: filepath.Join(t.TempDir(), "held-groups")}
	if err := held.add("10.0.0.5/24/eth0 web::x"); err != nil {
		t.Fatal(err)
	}
	fr := &fakeResolver{agents: map[string]*fakeAgent{}}
	fr.agents["web::x"] = &fakeAgent{token: "web::x", running: true, calls: &fr.calls}
	if err := cleanupHeld(context.Background(), slog.New(slog.DiscardHandler), held, fr); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(fr.calls, []string{"stop web::x"}) {
		t.Errorf("cleanup calls = %q (only running resources are stopped)", fr.calls)
	}
	if l, _ := held.list(); len(l) != 0 {
		t.Errorf("record not cleared: %q", l)
	}
}

func TestStatusText(t *testing.T) {
	s := engine.Snapshot{LocalNode: "node1", Status: engine.StatusActive,
		Nodes:  []engine.NodeInfo{{Name: "node1", Local: true, Status: engine.StatusActive}, {Name: "node2", Status: engine.StatusDead}},
		Groups: []engine.GroupInfo{{Key: "a", State: engine.GroupRunning}, {Key: "b", State: engine.GroupStarting}}}
	if got, want := statusText(s), "node1 active, 1/2 groups local (1 in transition), peer node2 dead"; got != want {
		t.Errorf("status = %q, want %q", got, want)
	}
}

// 3.0.6's verifyallidle: a group with a resource already running outside
// heartbeat at start-up is refused (never acquired here, logged as an
// error), the others are managed.
func TestEngineGroupsRefuseRunning(t *testing.T) {
	cfg := &config.Config{}
	cfg.LocalNode = "hba"
	cfg.Groups = []config.Group{group(t, "hba 10.0.0.1 httpd"), group(t, "hbb 10.0.0.2 db")}
	fr := &fakeResolver{agents: map[string]*fakeAgent{}}
	fr.agents["httpd"] = &fakeAgent{token: "httpd", running: true, calls: &fr.calls}
	var logs strings.Builder
	log := slog.New(slog.NewTextHandler(&logs, nil))
	d := &daemon{log: log}
	d.runner = newRunner(log, cfg.Groups, fr, &heldFile{path: filepath.Join(t.TempDir(), "h")}, nil)
	gs := d.engineGroups(context.Background(), cfg, true)
	if len(gs) != 2 || !gs[0].Blocked || gs[1].Blocked {
		t.Fatalf("groups %+v: want the first blocked, the second not", gs)
	}
	if out := logs.String(); !strings.Contains(out, "level=ERROR") || !strings.Contains(out, "httpd is already running outside heartbeat's control") || !strings.Contains(out, "group=10.0.0.1") {
		t.Errorf("log %q", out)
	}
	if len(fr.calls) != 0 {
		t.Errorf("the check started or stopped something: %q", fr.calls)
	}
	// A reload does not check again (the groups may be running because we
	// run them).
	logs.Reset()
	if gs := d.engineGroups(context.Background(), cfg, false); gs[0].Blocked {
		t.Errorf("reload blocked a group")
	}
}

// announcingAgent is a fake VIP: Reannounce records the call and, when
// gate is set, waits for it to close.
type announcingAgent struct {
	*fakeAgent
	gate chan struct{}
}

func (a *announcingAgent) Reannounce(context.Context) error {
	*a.calls = append(*a.calls, "announce "+a.token)
	if a.gate != nil {
		<-a.gate
	}
	*a.calls = append(*a.calls, "announced "+a.token)
	return nil
}

type fixedResolver map[string]resource.Agent

func (f fixedResolver) Resolve(_ context.Context, r config.Resource) (resource.Agent, error) {
	if a, ok := f[r.Token]; ok {
		return a, nil
	}
	return nil, errors.New("no agent for " + r.Token)
}

// Announce (after a split brain heals) re-announces the addresses in place
// and never starts one: the engine does not order it with a Release of the
// group, and a start after the release would make this node a second
// owner. It also waits for an operation on the group under way, and a
// Release waits for it: a Release never interleaves with an announcement.
func TestRunnerAnnounceNeverStartsAndIsSerialised(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var calls []string
		vip := &announcingAgent{fakeAgent: &fakeAgent{token: "10.0.0.100", calls: &calls}}
		web := &fakeAgent{token: "web", calls: &calls}
		g := group(t, "hba 10.0.0.100 web")
		r := newRunner(slog.New(slog.DiscardHandler), []config.Group{g}, fixedResolver{"10.0.0.100": vip, "web": web},
			&heldFile{path: filepath.Join(t.TempDir(), "h")}, nil)
		ctx := context.Background()

		// Released group: the announcement starts nothing.
		if err := r.Announce(ctx, g.Key()); err != nil {
			t.Fatal(err)
		}
		if want := []string{"announce 10.0.0.100", "announced 10.0.0.100"}; !slices.Equal(calls, want) {
			t.Fatalf("announce of a released group: calls %q, want %q", calls, want)
		}
		if vip.running || web.running {
			t.Fatal("announce of a released group started a resource")
		}

		// Held group: a Release asked for while an announcement runs waits
		// for it.
		if err := r.Acquire(ctx, g.Key()); err != nil {
			t.Fatal(err)
		}
		calls = calls[:0]
		vip.gate = make(chan struct{})
		done := make(chan error, 2)
		go func() { done <- r.Announce(ctx, g.Key()) }()
		synctest.Wait() // the announcement is under way
		go func() { done <- r.Release(ctx, g.Key()) }()
		synctest.Wait() // the release is waiting
		if want := []string{"announce 10.0.0.100"}; !slices.Equal(calls, want) {
			t.Fatalf("while announcing: calls %q, want %q (the release must wait)", calls, want)
		}
		close(vip.gate)
		for range 2 {
			if err := <-done; err != nil {
				t.Fatal(err)
			}
		}
		want := []string{"announce 10.0.0.100", "announced 10.0.0.100", "stop web", "stop 10.0.0.100"}
		if !slices.Equal(calls, want) {
			t.Fatalf("calls %q, want %q", calls, want)
		}

		// A release that cannot get the slot gives up with its context.
		unlock, err := r.lock(ctx, g.Key())
		if err != nil {
			t.Fatal(err)
		}
		cctx, cancel := context.WithCancel(ctx)
		go func() { done <- r.Release(cctx, g.Key()) }()
		synctest.Wait()
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Fatalf("release with a cancelled context: %v, want context.Canceled", err)
		}
		unlock()
	})
}
