package hbctl

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/linuxha/heartbeat/internal/control"
	"github.com/linuxha/heartbeat/internal/version"
)

func TestVersion(t *testing.T) {
	for _, args := range [][]string{{"version"}, {"--version"}} {
		out, errs, code := runHbctl(t, Env{}, args...)
		if code != ExitOK || out != "hbctl "+version.String()+"\n" {
			t.Errorf("hbctl %v: exit %d, output %q (stderr %q), want %q", args, code, out, errs, "hbctl "+version.String())
		}
	}
	out, _, code := runHbctl(t, Env{}, "version", "--json")
	var v struct{ Version string }
	if code != ExitOK || json.Unmarshal([]byte(out), &v) != nil || v.Version != version.String() {
		t.Errorf("hbctl version --json: exit %d, %q", code, out)
	}
}

func runHbctl(t *testing.T, env Env, args ...string) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	env.Stdout, env.Stderr = &out, &errb
	if env.ControlSocket == "" {
		env.ControlSocket = filepath.Join(t.TempDir(), "none")
	}
	code := Main(context.Background(), append([]string{"hbctl"}, args...), env)
	return out.String(), errb.String(), code
}

func dialTo(src Source, err error) func(context.Context, string) (Source, error) {
	return func(context.Context, string) (Source, error) { return src, err }
}

func TestStatusJSONKeepsControlSchema(t *testing.T) {
	cl := stableCluster()
	cl.Generation, cl.Keepalive, cl.Deadtime = 7, time.Second, 3*time.Second
	heard := time.Date(2025, 11, 25, 17, 21, 35, 0, time.UTC)
	cl.Nodes[1].LastHeard, cl.Nodes[1].Links[0].LastHeard, cl.Nodes[1].Generation = heard, heard, 3
	cl.Groups[0].Resources = []string{"10.77.0.100", "apache"}
	out, errs, code := runHbctl(t, Env{Dial: dialTo(&fakeSource{cl: cl}, nil)}, "status", "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var st control.Status
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatal(err)
	}
	if st.Node != "hba" || st.State != "active" || st.Generation != 7 || st.Keepalive != "1s" || st.Deadtime != "3s" || st.Version != "test" {
		t.Errorf("status = %+v", st)
	}
	if len(st.Nodes) != 2 || st.Nodes[1].Name != "hbb" || st.Nodes[1].Type != "normal" || st.Nodes[1].Status != "active" ||
		!st.Nodes[1].LastHeard.Equal(heard) || st.Nodes[1].Generation != 3 || !st.Nodes[0].Local ||
		len(st.Nodes[1].Links) != 1 || st.Nodes[1].Links[0] != (control.Link{Name: "eth0", Status: "up", LastHeard: heard}) {
		t.Errorf("nodes = %+v", st.Nodes)
	}
	if len(st.Groups) != 1 || st.Groups[0] != (control.Group{Key: "10.77.0.100", Preferred: "hba", Owner: "hba", State: "running"}) {
		t.Errorf("groups = %+v", st.Groups)
	}
	// The control schema's keys are all there, under the same names.
	var raw map[string]json.RawMessage
	json.Unmarshal([]byte(out), &raw)
	for _, k := range []string{"node", "state", "generation", "version", "keepalive", "deadtime", "nodes", "groups", "resource_state"} {
		if _, ok := raw[k]; !ok {
			t.Errorf("key %q missing from status --json", k)
		}
	}
	// The local node gets no invented links in hbctl (only cl_status does).
	if len(st.Nodes[0].Links) != 0 {
		t.Errorf("local node links = %v", st.Nodes[0].Links)
	}
}

func TestExitCodes(t *testing.T) {
	ok := &fakeSource{cl: stableCluster()}
	for _, tc := range []struct {
		name string
		dial func(context.Context, string) (Source, error)
		args []string
		code int
	}{
		{"no command", dialTo(ok, nil), nil, ExitUsage},
		{"unknown command", dialTo(ok, nil), []string{"frobnicate"}, ExitUsage},
		{"unknown flag", dialTo(ok, nil), []string{"--frob", "status"}, ExitUsage},
		{"too many args", dialTo(ok, nil), []string{"standby", "all", "local"}, ExitUsage},
		{"status ok", dialTo(ok, nil), []string{"status"}, ExitOK},
		{"not running", dialTo(nil, ErrNotRunning), []string{"status"}, ExitNoDaemon},
		{"not running, action", dialTo(nil, ErrNotRunning), []string{"standby"}, ExitNoDaemon},
		{"access denied", dialTo(&fakeSource{cl: stableCluster(), err: ErrAccessDenied}, nil), []string{"takeover", "local"}, ExitAccessDenied},
		{"invalid which", dialTo(&fakeSource{cl: stableCluster(), err: &RemoteError{Name: "org.linuxha.Heartbeat1.Error.InvalidArgument", Message: "bad"}}, nil), []string{"standby", "x"}, ExitUsage},
		{"refused", dialTo(&fakeSource{cl: stableCluster(), err: &RemoteError{Name: "org.linuxha.Heartbeat1.Error.NoPeer", Message: "no peer"}}, nil), []string{"standby"}, ExitFailure},
		{"completion bash", dialTo(ok, nil), []string{"completion", "bash"}, ExitOK},
		{"completion fish", dialTo(ok, nil), []string{"completion", "fish"}, ExitUsage},
	} {
		_, errs, code := runHbctl(t, Env{Dial: tc.dial}, tc.args...)
		if code != tc.code {
			t.Errorf("%s: exit %d, want %d (stderr %q)", tc.name, code, tc.code, errs)
		}
	}
}

func TestActionsReachTheDaemon(t *testing.T) {
	src := &fakeSource{cl: stableCluster()}
	for _, args := range [][]string{{"standby"}, {"standby", "failback"}, {"--json", "takeover", "local"}, {"reload"}} {
		out, errs, code := runHbctl(t, Env{Dial: dialTo(src, nil)}, args...)
		if code != 0 {
			t.Errorf("%v: exit %d %s", args, code, errs)
		}
		if args[0] == "--json" && strings.TrimSpace(out) != `{"ok":true}` {
			t.Errorf("%v: output %q", args, out)
		}
	}
	if got := strings.Join(src.calls, ","); got != "standby all,standby failback,takeover local,reload" {
		t.Errorf("calls = %s", got)
	}
	src.err = &RemoteError{Name: "org.linuxha.Heartbeat1.Error.NoPeer", Message: "no other node can take over"}
	out, _, _ := runHbctl(t, Env{Dial: dialTo(src, nil)}, "standby", "--json")
	var res map[string]any
	if err := json.Unmarshal([]byte(out), &res); err != nil || res["ok"] != false || res["error_name"] != "org.linuxha.Heartbeat1.Error.NoPeer" {
		t.Errorf("refused --json = %q (%v)", out, err)
	}
}

func TestStatusHuman(t *testing.T) {
	cl := stableCluster()
	cl.Groups = append(cl.Groups, Group{Key: "10.77.0.101", Preferred: "hbb", Owner: "hba", State: "stopping", Standby: true})
	out, _, code := runHbctl(t, Env{Dial: dialTo(&fakeSource{cl: cl}, nil)}, "status")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	for _, want := range []string{"node hba: active", "resources held: local", "hba (local)", "eth0 up", "10.77.0.101", "stopping (standby)", "in transition: 10.77.0.101 stopping"} {
		if !strings.Contains(out, want) {
			t.Errorf("status output lacks %q:\n%s", want, out)
		}
	}
}

type controlHandler struct{ st control.Status }

func (h controlHandler) Status(context.Context) (control.Status, error) { return h.st, nil }
func (h controlHandler) Standby(context.Context, string) error          { return nil }
func (h controlHandler) Takeover(context.Context, string) error         { return nil }

func TestStatusFallsBackToControlSocket(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "control")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	st := control.Status{Node: "hba", State: "active", Generation: 9, Version: "v", Keepalive: "1s", Deadtime: "3s",
		Nodes:    []control.Node{{Name: "hba", Type: "normal", Status: "active", Local: true}},
		Counters: map[string]uint64{"received": 42}}
	go func() {
		control.Serve(ctx, ln, controlHandler{st}, nil, slog.New(slog.DiscardHandler))
		close(done)
	}()
	defer func() { cancel(); <-done }()

	out, errs, code := runHbctl(t, Env{Dial: dialTo(nil, ErrNotRunning), ControlSocket: sock}, "status", "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var got statusJSON
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatal(err)
	}
	if got.Source != "control" || got.Generation != 9 || got.Counters["received"] != 42 || len(got.Nodes) != 1 {
		t.Errorf("fallback status = %+v", got)
	}
	// Over the bus, the counters still come from the socket.
	out, _, _ = runHbctl(t, Env{Dial: dialTo(&fakeSource{cl: stableCluster()}, nil), ControlSocket: sock}, "status", "--json")
	got = statusJSON{}
	json.Unmarshal([]byte(out), &got)
	if got.Source == "control" || got.Counters["received"] != 42 {
		t.Errorf("bus status = %+v", got)
	}
	// Actions do not fall back.
	if _, _, code := runHbctl(t, Env{Dial: dialTo(nil, errors.Join(ErrNotRunning)), ControlSocket: sock}, "standby"); code != ExitNoDaemon {
		t.Errorf("standby without bus: exit %d", code)
	}
}

// check-config --json gives scripts every error and warning with its file
// and line, and exit 1 when there are errors.
func TestCheckConfigJSON(t *testing.T) {
	stage := func(name string) string {
		src := filepath.Join("..", "config", "testdata", name)
		dir := t.TempDir()
		for _, f := range []string{"ha.cf", "haresources", "authkeys"} {
			b, err := os.ReadFile(filepath.Join(src, f))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, f), b, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		return dir
	}
	type problem struct {
		Path    string `json:"path"`
		Line    int    `json:"line"`
		Message string `json:"message"`
	}
	var res struct {
		OK       bool      `json:"ok"`
		Errors   []problem `json:"errors"`
		Warnings []problem `json:"warnings"`
	}
	good := stage("lab_hba")
	out, errs, code := runHbctl(t, Env{}, "check-config", "--json", "--config-dir", good, "--node-name", "hba")
	if err := json.Unmarshal([]byte(out), &res); err != nil || code != ExitOK || !res.OK || len(res.Errors) != 0 {
		t.Fatalf("good config: exit %d, %v, %+v (stderr %q)", code, err, res, errs)
	}
	bad := stage("many_errors")
	res.OK, res.Errors = true, nil
	out, _, code = runHbctl(t, Env{}, "check-config", "--json", "--config-dir", bad, "--node-name", "hba")
	if err := json.Unmarshal([]byte(out), &res); err != nil || code != 1 || res.OK {
		t.Fatalf("broken config: exit %d, %v, ok=%v\n%s", code, err, res.OK, out)
	}
	want := map[string]bool{
		filepath.Join(bad, "ha.cf") + `:3:unknown directive "deadtim"`:         false,
		filepath.Join(bad, "haresources") + `:3:node "hbb" has no resources`:   false,
		filepath.Join(bad, "authkeys") + ":2:key 1: method md5 requires a key": false,
	}
	for _, e := range res.Errors {
		k := fmt.Sprintf("%s:%d:%s", e.Path, e.Line, e.Message)
		if _, ok := want[k]; ok {
			want[k] = true
		}
	}
	for k, seen := range want {
		if !seen {
			t.Errorf("check-config --json lacks %q among %d errors", k, len(res.Errors))
		}
	}
	if len(res.Errors) < 20 {
		t.Errorf("only %d errors: not all reported at once", len(res.Errors))
	}
}
