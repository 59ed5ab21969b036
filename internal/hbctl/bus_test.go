package hbctl

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/linuxha/heartbeat/internal/dbusapi"
	"github.com/linuxha/heartbeat/internal/engine"
)

// startBus runs a private dbus-daemon with the project's policy and
// returns its address.
func startBus(t *testing.T) string {
	t.Helper()
	if _, err := os.Stat("/usr/bin/dbus-daemon"); err != nil {
		t.Skipf("/usr/bin/dbus-daemon not installed (apt-get install dbus): %v", err)
	}
	policy, _ := filepath.Abs("../../dbus/org.linuxha.Heartbeat1.conf")
	dir := t.TempDir()
	conf := fmt.Sprintf(`<busconfig><type>system</type><auth>EXTERNAL</auth><listen>unix:path=%s/bus.sock</listen>
<policy context="default"><allow user="*"/><deny own="*"/><deny send_type="method_call"/>
<allow send_type="signal"/><allow send_requested_reply="true" send_type="method_return"/>
<allow send_requested_reply="true" send_type="error"/><allow receive_type="method_call"/>
<allow receive_type="method_return"/><allow receive_type="error"/><allow receive_type="signal"/>
<allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus"/></policy>
<include>%s</include></busconfig>`, dir, policy)
	os.WriteFile(filepath.Join(dir, "bus.conf"), []byte(conf), 0o644)
	cmd := exec.Command("/usr/bin/dbus-daemon", "--config-file="+filepath.Join(dir, "bus.conf"), "--nofork", "--nopidfile", "--nosyslog", "--print-address=1")
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	if line, err := bufio.NewReader(out).ReadString('\n'); err != nil {
		t.Fatalf("dbus-daemon: %q %v", line, err)
	}
	return "unix:path=" + dir + "/bus.sock"
}

type backend struct {
	mu    sync.Mutex
	snap  engine.Snapshot
	calls []string
}

func (b *backend) Snapshot(context.Context) (engine.Snapshot, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := b.snap
	s.Nodes = append([]engine.NodeInfo(nil), b.snap.Nodes...)
	return s, nil
}

func (b *backend) rec(s string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.calls = append(b.calls, s)
	if strings.HasSuffix(s, "local") {
		return engine.ErrNoPeer
	}
	return nil
}
func (b *backend) Standby(_ context.Context, w engine.Which) error {
	return b.rec("standby " + w.String())
}
func (b *backend) Takeover(_ context.Context, w engine.Which) error {
	return b.rec("takeover " + w.String())
}
func (b *backend) Reload(context.Context) error { return b.rec("reload") }

// TestAgainstTheExporter runs hbctl and cl_status against dbusapi.Run on a
// private bus.
func TestAgainstTheExporter(t *testing.T) {
	addr := startBus(t)
	be := &backend{snap: engine.Snapshot{LocalNode: "hba", Status: engine.StatusActive, Generation: 5,
		Nodes: []engine.NodeInfo{
			{Name: "hba", Local: true, Status: engine.StatusActive},
			{Name: "hbb", Status: engine.StatusActive, Links: []engine.LinkInfo{{Name: "eth0", Status: engine.LinkUp}}},
		},
		Groups: []engine.GroupInfo{{Key: "10.0.0.1", Preferred: "hba", Owner: "hba", State: engine.GroupRunning}},
		Holds:  "all", Settled: true}}
	changes := make(chan struct{}, 1)
	ready := make(chan struct{}, 1)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- dbusapi.Run(ctx, be, changes, dbusapi.Options{Address: addr, Ready: func() { ready <- struct{}{} },
			Info: dbusapi.Info{Version: "v9", Keepalive: time.Second, Deadtime: 3 * time.Second, AutoFailback: "on",
				ResourceStates: map[string][]string{"10.0.0.1": {"running", "starting"}}},
			Groups: map[string][]string{"10.0.0.1": {"10.0.0.1", "apache"}}})
	}()
	defer func() { cancel(); <-done }()
	select {
	case <-ready:
	case <-time.After(10 * time.Second):
		t.Fatal("exporter not ready")
	}
	env := Env{ControlSocket: filepath.Join(t.TempDir(), "none")}
	runOut := func(argv ...string) (string, int) {
		var out bytes.Buffer
		e := env
		e.Stdout, e.Stderr = &out, &out
		if argv[0] == "hbctl" {
			argv = append([]string{"hbctl", "--bus-address", addr}, argv[1:]...)
		}
		t.Setenv("DBUS_SYSTEM_BUS_ADDRESS", addr)
		code := Main(context.Background(), argv, e)
		return out.String(), code
	}

	out, code := runOut("hbctl", "status", "--json")
	var st statusJSON
	if err := json.Unmarshal([]byte(out), &st); err != nil || code != 0 {
		t.Fatalf("status --json: %d %v %q", code, err, out)
	}
	if st.Node != "hba" || st.State != "active" || st.Generation != 5 || st.Keepalive != "1s" || st.Source != "dbus" ||
		st.ResourceState != "all" || len(st.Nodes) != 2 || st.Nodes[1].Name != "hbb" || st.Nodes[1].Links[0].Status != "up" ||
		len(st.Groups) != 1 || strings.Join(st.Groups[0].Resources, " ") != "10.0.0.1 apache" ||
		strings.Join(st.Groups[0].ResourceStates, " ") != "running starting" {
		t.Errorf("status over the bus = %+v", st)
	}
	// A resource not in the state its group implies is marked.
	if out, code := runOut("hbctl", "groups"); code != 0 || !strings.Contains(out, "10.0.0.1 apache[starting]") {
		t.Errorf("hbctl groups = %d %q, want apache marked starting", code, out)
	}
	if out, code := runOut("cl_status", "nodestatus", "HBB"); out != "active\n" || code != 0 {
		t.Errorf("cl_status nodestatus HBB = %q %d", out, code)
	}
	if out, code := runOut("cl_status", "hbparameter", "-p", "deadtime"); out != "3\n" || code != 0 {
		t.Errorf("cl_status hbparameter = %q %d", out, code)
	}
	if _, code := runOut("hbctl", "standby", "failback"); code != 0 {
		t.Errorf("standby failback: exit %d", code)
	}
	if out, code := runOut("hbctl", "standby", "local"); code != ExitFailure || !strings.Contains(out, "no other node") {
		t.Errorf("standby local (no peer): %d %q", code, out)
	}
	if _, code := runOut("hbctl", "takeover", "bogus"); code != ExitUsage {
		t.Errorf("takeover bogus: exit %d", code)
	}
	be.mu.Lock()
	calls := strings.Join(be.calls, ",")
	be.mu.Unlock()
	if calls != "standby foreign,standby local" {
		t.Errorf("backend calls = %s", calls)
	}

	// watch prints a line for a committed change.
	wctx, wcancel := context.WithCancel(context.Background())
	wdone := make(chan int, 1)
	src, err := DialBus(wctx, addr)
	if err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 8)
	go func() {
		defer src.Close()
		src.Watch(wctx, func(c Change) { lines <- formatChange(c) })
		wdone <- 0
	}()
	// Make sure the match is in place: a first change may be missed, so
	// keep changing until a line arrives.
	deadline := time.After(10 * time.Second)
	var line string
	for i := 0; line == ""; i++ {
		be.mu.Lock()
		be.snap.Nodes[1].Status = []engine.NodeStatus{engine.StatusDead, engine.StatusActive}[i%2]
		be.mu.Unlock()
		changes <- struct{}{}
		select {
		case line = <-lines:
		case <-time.After(200 * time.Millisecond):
		case <-deadline:
			t.Fatal("watch printed nothing")
		}
	}
	wcancel()
	<-wdone
	if !strings.Contains(line, "node/hbb") || !strings.Contains(line, "StatusText=") {
		t.Errorf("watch line = %q", line)
	}
}
