package unit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	sddbus "github.com/coreos/go-systemd/v22/dbus"
	"github.com/godbus/dbus/v5"

	"github.com/linuxha/heartbeat/internal/resource"
)

// fakeConn stands in for go-systemd's connection. reply decides, per
// operation and unit, the job result sent on the channel ("" sends
// nothing) or an error from the enqueue call.
type fakeConn struct {
	mu        sync.Mutex
	connected bool
	closed    bool
	calls     []string
	props     map[string]map[string]any
	transient map[string][]sddbus.Property
	reply     func(f *fakeConn, op, name string) (string, error)
}

func newFake(reply func(f *fakeConn, op, name string) (string, error)) *fakeConn {
	if reply == nil {
		reply = func(*fakeConn, string, string) (string, error) { return "done", nil }
	}
	return &fakeConn{connected: true, reply: reply, props: map[string]map[string]any{}, transient: map[string][]sddbus.Property{}}
}

func (f *fakeConn) job(op, name, mode string, ch chan<- string) (int, error) {
	f.mu.Lock()
	f.calls = append(f.calls, op+" "+name+" "+mode)
	f.mu.Unlock()
	res, err := f.reply(f, op, name)
	if err != nil {
		return 0, err
	}
	if res != "" {
		ch <- res
	}
	return 1, nil
}

func (f *fakeConn) StartUnitContext(_ context.Context, name, mode string, ch chan<- string) (int, error) {
	return f.job("start", name, mode, ch)
}

func (f *fakeConn) StopUnitContext(_ context.Context, name, mode string, ch chan<- string) (int, error) {
	return f.job("stop", name, mode, ch)
}

func (f *fakeConn) StartTransientUnitContext(_ context.Context, name, mode string, props []sddbus.Property, ch chan<- string) (int, error) {
	f.mu.Lock()
	f.transient[name] = props
	f.mu.Unlock()
	return f.job("transient", name, mode, ch)
}

func (f *fakeConn) ResetFailedUnitContext(_ context.Context, name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, "reset-failed "+name)
	return nil
}

func (f *fakeConn) GetUnitPropertiesContext(_ context.Context, name string) (map[string]any, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, "props "+name)
	if p, ok := f.props[name]; ok {
		return p, nil
	}
	return map[string]any{"LoadState": "not-found", "ActiveState": "inactive"}, nil
}

func (f *fakeConn) Connected() bool { f.mu.Lock(); defer f.mu.Unlock(); return f.connected }
func (f *fakeConn) Close()          { f.mu.Lock(); defer f.mu.Unlock(); f.closed, f.connected = true, false }

func (f *fakeConn) setConnected(b bool) { f.mu.Lock(); defer f.mu.Unlock(); f.connected = b }

func (f *fakeConn) callList() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

// dialer hands out the given connections in order.
type dialer struct {
	conns []*fakeConn
	n     int
}

func (d *dialer) dial() (conn, error) {
	if d.n >= len(d.conns) {
		return nil, errors.New("no more connections")
	}
	c := d.conns[d.n]
	d.n++
	return c, nil
}

func testManager(t *testing.T, conns ...*fakeConn) (*Manager, *dialer) {
	d := &dialer{conns: conns}
	return newManager(d.dial, slog.New(slog.NewTextHandler(t.Output(), nil))), d
}

func equal(a, b []string) bool { return strings.Join(a, "|") == strings.Join(b, "|") }

func TestStartStopDone(t *testing.T) {
	f := newFake(nil)
	m, _ := testManager(t, f)
	a := m.Agent("httpd", "httpd.service", Options{})
	if err := a.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := a.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if want := []string{"start httpd.service replace", "stop httpd.service ignore-dependencies"}; !equal(f.callList(), want) {
		t.Errorf("calls %q, want %q", f.callList(), want)
	}
}

func TestJobResultNotDone(t *testing.T) {
	for _, res := range []string{"failed", "canceled", "timeout", "dependency", "skipped"} {
		f := newFake(func(*fakeConn, string, string) (string, error) { return res, nil })
		m, _ := testManager(t, f)
		err := m.Agent("httpd", "httpd.service", Options{}).Start(context.Background())
		if err == nil || !strings.Contains(err.Error(), "httpd.service") || !strings.Contains(err.Error(), fmt.Sprintf("%q", res)) {
			t.Errorf("result %s: err = %v; want the unit and the result", res, err)
		}
	}
}

func TestEnqueueError(t *testing.T) {
	f := newFake(func(*fakeConn, string, string) (string, error) {
		return "", &dbus.Error{Name: "org.freedesktop.systemd1.NoSuchUnit", Body: []any{"Unit nope.service not found."}}
	})
	m, _ := testManager(t, f)
	err := m.Agent("nope", "nope.service", Options{}).Start(context.Background())
	var de *dbus.Error
	if !errors.As(err, &de) || !strings.Contains(err.Error(), "nope.service") {
		t.Errorf("err = %v; want the wrapped D-Bus error naming the unit", err)
	}
}

func TestJobTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFake(func(*fakeConn, string, string) (string, error) { return "", nil }) // never finishes
		m, _ := testManager(t, f)
		start := time.Now()
		err := m.Agent("slow", "slow.service", Options{Timeout: 5 * time.Second}).Start(context.Background())
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err = %v; want deadline exceeded", err)
		}
		if d := time.Since(start); d != 5*time.Second {
			t.Errorf("gave up after %v, want 5s", d)
		}
	})
}

func TestReconnectAfterClosedConnection(t *testing.T) {
	f1, f2 := newFake(nil), newFake(nil)
	m, d := testManager(t, f1, f2)
	a := m.Agent("httpd", "httpd.service", Options{})
	if err := a.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	f1.setConnected(false) // daemon-reexec over the private socket, bus restart, ...
	if err := a.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if d.n != 2 || !f1.closed {
		t.Errorf("dialled %d times, old connection closed %v; want 2, true", d.n, f1.closed)
	}
	if want := []string{"stop httpd.service ignore-dependencies"}; !equal(f2.callList(), want) {
		t.Errorf("new connection calls %q, want %q", f2.callList(), want)
	}
}

func TestReconnectDuringJob(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// The first connection dies after accepting the job; its result
		// never arrives. The job is enqueued again on a new connection.
		f1 := newFake(func(f *fakeConn, _, _ string) (string, error) { f.setConnected(false); return "", nil })
		f2 := newFake(nil)
		m, d := testManager(t, f1, f2)
		start := time.Now()
		if err := m.Agent("httpd", "httpd.service", Options{}).Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		if d.n != 2 || len(f2.callList()) != 1 {
			t.Errorf("dialled %d, calls on new connection %q", d.n, f2.callList())
		}
		if el := time.Since(start); el > 2*connCheckInterval {
			t.Errorf("loss noticed after %v", el)
		}
	})
}

func TestEnqueueOnDeadConnectionRetries(t *testing.T) {
	f1 := newFake(func(f *fakeConn, _, _ string) (string, error) {
		f.setConnected(false)
		return "", errors.New("dbus: connection closed by user")
	})
	f2 := newFake(nil)
	m, _ := testManager(t, f1, f2)
	if err := m.Agent("x", "x.service", Options{}).Stop(context.Background()); err != nil {
		t.Fatalf("stop: %v", err)
	}
	if len(f2.callList()) != 1 {
		t.Errorf("retry calls %q", f2.callList())
	}
}

func TestStatus(t *testing.T) {
	tests := map[string]resource.State{
		"active": resource.Running, "reloading": resource.Running, "activating": resource.Running,
		"failed":   resource.Failed,
		"inactive": resource.Stopped, "deactivating": resource.Stopped,
		"maintenance": resource.Unknown,
	}
	for as, want := range tests {
		f := newFake(nil)
		f.props["httpd.service"] = map[string]any{"LoadState": "loaded", "ActiveState": as}
		m, _ := testManager(t, f)
		got, err := m.Agent("httpd", "httpd.service", Options{}).Status(context.Background())
		if err != nil || got != want {
			t.Errorf("ActiveState %s: %v, %v; want %v", as, got, err, want)
		}
	}
	m, _ := testManager(t, newFake(nil))
	if _, err := m.Agent("gone", "gone.service", Options{}).Status(context.Background()); err == nil {
		t.Error("status of a not-found unit succeeded")
	}
}

func TestLookupInfo(t *testing.T) {
	f := newFake(nil)
	f.props["lsb.service"] = map[string]any{"LoadState": "loaded", "SourcePath": "/etc/init.d/lsb", "FragmentPath": ""}
	f.props["native.service"] = map[string]any{"LoadState": "loaded", "FragmentPath": "/lib/systemd/system/native.service"}
	m, _ := testManager(t, f)
	ctx := context.Background()
	lsb, err := m.Lookup(ctx, "lsb.service")
	if err != nil || !lsb.Exists() || !lsb.GeneratedFrom("/etc/init.d") || lsb.GeneratedFrom("/etc/init") {
		t.Errorf("lsb: %+v, %v", lsb, err)
	}
	nat, err := m.Lookup(ctx, "native.service")
	if err != nil || !nat.Exists() || nat.GeneratedFrom("/etc/init.d/") {
		t.Errorf("native: %+v, %v", nat, err)
	}
	gone, err := m.Lookup(ctx, "gone.service")
	if err != nil || gone.Exists() {
		t.Errorf("gone: %+v, %v", gone, err)
	}
}

func TestName(t *testing.T) {
	for in, want := range map[string]string{
		"httpd": "httpd.service", "httpd.service": "httpd.service", "data.mount": "data.mount",
		"x.conf": "x.conf.service", ".service": ".service.service", "web.target": "web.target",
	} {
		if got := Name(in); got != want {
			t.Errorf("Name(%q) = %q, want %q", in, got, want)
		}
	}
}

func propMap(props []sddbus.Property) map[string]any {
	out := map[string]any{}
	for _, p := range props {
		out[p.Name] = p.Value.Value()
	}
	return out
}

func TestRespawn(t *testing.T) {
	f := newFake(nil)
	m, _ := testManager(t, f)
	r := m.Respawner(RespawnOptions{BindsTo: "heartbeat.service"})
	ctx := context.Background()

	if _, err := r.Start(ctx, Program{User: "hacluster", Path: "/usr/lib/heartbeat/ipfail"}); !errors.Is(err, ErrIpfailBuiltin) {
		t.Errorf("ipfail: %v; want ErrIpfailBuiltin", err)
	}
	if len(f.callList()) != 0 {
		t.Errorf("ipfail reached systemd: %q", f.callList())
	}
	name, err := r.Start(ctx, Program{User: "hacluster", Path: "/usr/lib/x/my prog", Args: []string{"-v", "a b"}})
	if err != nil {
		t.Fatal(err)
	}
	if name != `heartbeat-respawn-my\x20prog.service` {
		t.Errorf("unit name %q", name)
	}
	p := propMap(f.transient[name])
	if p["User"] != "hacluster" || p["Restart"] != "on-failure" || p["Description"] != "heartbeat respawn /usr/lib/x/my prog" {
		t.Errorf("properties %v", p)
	}
	if rp, ok := p["RestartPreventExitStatus"].(restartPrevent); !ok || len(rp.Statuses) != 1 || rp.Statuses[0] != 100 {
		t.Errorf("RestartPreventExitStatus = %#v", p["RestartPreventExitStatus"])
	}
	if !strings.Contains(fmt.Sprint(p["ExecStart"]), "/usr/lib/x/my prog [/usr/lib/x/my prog -v a b] false") {
		t.Errorf("ExecStart = %v", p["ExecStart"])
	}
	if fmt.Sprint(p["BindsTo"]) != "[heartbeat.service]" {
		t.Errorf("BindsTo = %v", p["BindsTo"])
	}
	name2, err := r.Start(ctx, Program{User: "root", Path: "/usr/lib/x/my prog", Failfast: true})
	if err != nil {
		t.Fatal(err)
	}
	p2 := propMap(f.transient[name2])
	if name2 != `heartbeat-respawn-my\x20prog-2.service` || p2["FailureAction"] != "reboot" || p2["Restart"] != "no" || p2["User"] != nil {
		t.Errorf("second unit %q properties %v", name2, p2)
	}
	if err := r.StopAll(ctx); err != nil {
		t.Fatal(err)
	}
	calls := f.callList()
	if want := []string{"stop " + name2 + " replace", "stop " + name + " replace"}; !equal(calls[len(calls)-2:], want) {
		t.Errorf("stop calls %q, want %q", calls[len(calls)-2:], want)
	}
}

func TestRespawnLeftoverUnit(t *testing.T) {
	attempts := 0
	f := newFake(func(_ *fakeConn, op, _ string) (string, error) {
		if op == "transient" {
			attempts++
			if attempts == 1 {
				return "", &dbus.Error{Name: "org.freedesktop.systemd1.UnitExists", Body: []any{"Unit heartbeat-respawn-x.service already exists."}}
			}
		}
		return "done", nil
	})
	m, _ := testManager(t, f)
	name, err := m.Respawner(RespawnOptions{}).Start(context.Background(), Program{Path: "/bin/x"})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"transient " + name + " replace", "stop " + name + " replace", "reset-failed " + name, "transient " + name + " replace"}
	if !equal(f.callList(), want) {
		t.Errorf("calls %q, want %q", f.callList(), want)
	}
}

// TestLiveSystemd runs a transient unit on a real systemd. It needs a
// system with systemd as init and a reachable manager (root).
func TestLiveSystemd(t *testing.T) {
	if _, err := os.Stat("/run/systemd/system"); err != nil {
		t.Skip("no running systemd (/run/systemd/system missing): unit agents are exercised by the cluster tests")
	}
	m := NewManager(slog.New(slog.NewTextHandler(t.Output(), nil)))
	defer m.Close()
	ctx := context.Background()
	if _, err := m.Lookup(ctx, "hb-unit-test.service"); err != nil {
		t.Skipf("systemd not reachable over D-Bus: %v", err)
	}
	r := m.Respawner(RespawnOptions{})
	name, err := r.Start(ctx, Program{Path: "/bin/sleep", Args: []string{"600"}})
	if err != nil {
		t.Fatal(err)
	}
	a := m.Agent(name, name, Options{Timeout: 30 * time.Second})
	if st, err := a.Status(ctx); err != nil || st != resource.Running {
		t.Errorf("status = %v, %v; want running", st, err)
	}
	if err := r.StopAll(ctx); err != nil {
		t.Fatal(err)
	}
}
