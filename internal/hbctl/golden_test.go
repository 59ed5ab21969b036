package hbctl

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// fakeSource serves a fixed cluster and records the actions.
type fakeSource struct {
	cl     *Cluster
	params map[string]string
	calls  []string
	err    error // returned by the actions
}

func (f *fakeSource) Cluster(context.Context) (*Cluster, error) {
	c := *f.cl
	c.Nodes = append([]Node(nil), f.cl.Nodes...)
	for i := range c.Nodes {
		c.Nodes[i].Links = append([]Link(nil), c.Nodes[i].Links...)
	}
	return &c, nil
}

func (f *fakeSource) Parameter(_ context.Context, name string) (string, error) {
	if v, ok := f.params[name]; ok {
		return v, nil
	}
	return "", &RemoteError{Name: "org.linuxha.Heartbeat1.Error.NotFound", Message: "no such parameter"}
}

func (f *fakeSource) Standby(_ context.Context, which string) error {
	f.calls = append(f.calls, "standby "+which)
	return f.err
}

func (f *fakeSource) Takeover(_ context.Context, which string) error {
	f.calls = append(f.calls, "takeover "+which)
	return f.err
}

func (f *fakeSource) Reload(context.Context) error {
	f.calls = append(f.calls, "reload")
	return f.err
}

func (f *fakeSource) Watch(context.Context, func(Change)) error { return nil }
func (f *fakeSource) Close() error                              { return nil }

// stableCluster is the cluster of cli.txt's "stable" state seen from hbA.
func stableCluster() *Cluster {
	return &Cluster{
		LocalNode: "hba", State: "active", ResourceState: "local", Version: "test",
		Nodes: []Node{
			// ha.cf order (node hba hbb); cl_status prints them reversed, as 3.0.6.
			{Name: "hba", Type: "normal", Status: "active", Local: true},
			{Name: "hbb", Type: "normal", Status: "active", Links: []Link{{Name: "eth0", Status: "up"}}},
		},
		Groups: []Group{{Key: "10.77.0.100", Preferred: "hba", Owner: "hba", State: "running"}},
	}
}

func deadCluster() *Cluster {
	c := stableCluster()
	c.Nodes[1].Status = "dead" // hbb
	c.Nodes[1].Links[0].Status = "dead"
	return c
}

var goldenParams = map[string]string{
	"keepalive": "1", "deadtime": "3", "warntime": "2", "initdead": "6", "auto_failback": "on", "udpport": "694",
	"hbversion": "3.0.6 (node: 958e11be8686759f1b99204c17812f2c2633b169)",
}

var logPrefix = regexp.MustCompile(`(?m)^(\w{3} \d\d \d\d:\d\d:\d\d) (?:hbA cl_status: \[(\d+)\]|Going)`)

// TestClassicToolsGolden runs each captured command against the matching
// cluster state and compares stdout+stderr and the exit code.
func TestClassicToolsGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/clstatus/*.txt")
	if err != nil || len(files) < 30 {
		t.Fatalf("golden files: %v (%d)", err, len(files))
	}
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".txt")
		t.Run(name, func(t *testing.T) {
			b, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			cmdLine, want, _ := strings.Cut(string(b), "\n")
			argv := strings.Fields(strings.TrimPrefix(cmdLine, "$ "))
			// The clock and the pid are inputs of the run: take them from
			// the capture.
			now := time.Date(2025, 11, 25, 12, 0, 0, 0, time.Local)
			pid := 1
			if m := logPrefix.FindStringSubmatch(want); m != nil {
				ts, err := time.ParseInLocation("Jan 02 15:04:05", m[1], time.Local)
				if err != nil {
					t.Fatal(err)
				}
				now = ts.AddDate(2025, 0, 0)
				if m[2] != "" {
					pid, _ = strconv.Atoi(m[2])
				}
			}
			src := &fakeSource{cl: stableCluster(), params: goldenParams}
			if strings.HasPrefix(name, "dead_") {
				src.cl = deadCluster()
			}
			var out bytes.Buffer
			env := Env{Stdout: &out, Stderr: &out, Now: func() time.Time { return now }, Hostname: "hbA", PID: pid,
				Dial: func(context.Context, string) (Source, error) {
					if strings.HasPrefix(name, "stopped_") {
						return nil, ErrNotRunning
					}
					return src, nil
				}}
			code := Main(context.Background(), argv, env)
			got := out.String() + "[exit=" + strconv.Itoa(code) + "]\n"
			if got != want {
				t.Errorf("%s:\n got:\n%s\nwant:\n%s", cmdLine, got, want)
			}
		})
	}
}

func TestHbStandbyActions(t *testing.T) {
	for _, tc := range []struct {
		argv []string
		want string // the call, "" = none
		code int
	}{
		{[]string{"/usr/share/heartbeat/hb_standby"}, "standby all", 0},
		{[]string{"hb_standby", "local"}, "standby local", 0},
		{[]string{"hb_standby", "failback"}, "standby failback", 0},
		{[]string{"hb_standby", "foreign", "extra"}, "", 1},
		{[]string{"hb_takeover"}, "takeover all", 0},
		{[]string{"hb_takeover", "foreign"}, "takeover foreign", 0},
		{[]string{"hb_takeover", "-h"}, "", 1},
	} {
		src := &fakeSource{cl: stableCluster()}
		var out bytes.Buffer
		env := Env{Stdout: &out, Stderr: &out, Dial: func(context.Context, string) (Source, error) { return src, nil }}
		code := Main(context.Background(), tc.argv, env)
		got := strings.Join(src.calls, ",")
		if code != tc.code || got != tc.want {
			t.Errorf("%v: exit %d, calls %q; want %d, %q (output %q)", tc.argv, code, got, tc.code, tc.want, out.String())
		}
	}
	// A daemon that refuses: exit 1 and the reason on stderr.
	src := &fakeSource{cl: stableCluster(), err: &RemoteError{Name: "org.linuxha.Heartbeat1.Error.NoPeer", Message: "no other node can take over"}}
	var out, errb bytes.Buffer
	env := Env{Stdout: &out, Stderr: &errb, Dial: func(context.Context, string) (Source, error) { return src, nil }}
	if code := Main(context.Background(), []string{"hb_standby"}, env); code != 1 || !strings.Contains(errb.String(), "no other node can take over") {
		t.Errorf("refused standby: exit %d, stderr %q", code, errb.String())
	}
	// Not running.
	env.Dial = func(context.Context, string) (Source, error) { return nil, ErrNotRunning }
	if code := Main(context.Background(), []string{"hb_takeover"}, env); code != 1 {
		t.Errorf("takeover without a daemon: exit %d, want 1", code)
	}
}

func TestGetopt(t *testing.T) {
	opts, optargs, operands := getopt([]string{"hbB", "-vm", "-pkeepalive", "x", "--", "-n"}, "mvp:")
	if string(opts) != "vmp" || optargs['p'] != "keepalive" || strings.Join(operands, ",") != "hbB,x,-n" {
		t.Errorf("getopt = %q %v %v", string(opts), optargs, operands)
	}
	opts, optargs, _ = getopt([]string{"-p", "udpport", "-z"}, "mp:")
	if string(opts) != "p?" || optargs['p'] != "udpport" {
		t.Errorf("getopt = %q %v", string(opts), optargs)
	}
	if opts, _, _ := getopt([]string{"-p"}, "p:"); string(opts) != "?" {
		t.Errorf("missing option argument: %q", string(opts))
	}
}
