package script

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/linuxha/heartbeat/internal/resource"
)

func TestStateFromText(t *testing.T) {
	tests := []struct {
		out  string
		want resource.State
	}{
		{"hbdemo running", resource.Running},
		{"hbdemo stopped", resource.Stopped},
		{"Running", resource.Running},
		{"apache is running (pid 12)", resource.Running},
		{"OK", resource.Running},
		{"status: OK\n", resource.Running},
		{"ok", resource.Stopped}, // only upper-case OK counts
		{"foo is not running", resource.Stopped},
		{"Not running", resource.Stopped},
		{"foo is not currently running", resource.Stopped},
		{"not \nrunning", resource.Stopped},           // "not " then anything, across lines
		{"not\nrunning", resource.Running},            // the pattern needs a space after "not"
		{"foo is notrunning", resource.Running},       // no space after "not": Heartbeat says running
		{"Nothing running here", resource.Running},    // "Not" needs a space after it
		{"line one\nfoo Running\n", resource.Running}, // any line
		{"", resource.Stopped},
		{"stopped", resource.Stopped},
		{"RUNNING", resource.Stopped},
	}
	for _, tt := range tests {
		if got := StateFromText(tt.out); got != tt.want {
			t.Errorf("StateFromText(%q) = %v, want %v", tt.out, got, tt.want)
		}
	}
}

func TestClassify(t *testing.T) {
	tests := []struct {
		code    int
		out     string
		want    resource.State
		unknown bool
	}{
		{0, "hbdemo running", resource.Running, false},
		{0, "hbdemo stopped", resource.Stopped, false},
		{0, "", resource.Stopped, false},
		{3, "foo is running?", resource.Stopped, false},
		{1, "", resource.Failed, false},
		{2, "", resource.Failed, false},
		{4, "running", resource.Unknown, true},
		{127, "", resource.Unknown, true},
	}
	for _, tt := range tests {
		got, err := Classify(tt.code, tt.out)
		if got != tt.want || errors.Is(err, ErrStatusUnknown) != tt.unknown {
			t.Errorf("Classify(%d, %q) = %v, %v; want %v, unknown %v", tt.code, tt.out, got, err, tt.want, tt.unknown)
		}
	}
}

func writeScript(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func logger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// demo is shaped like the lab's hbdemo: always exits 0, status by text.
const demo = `PF="$1"
case "$2" in
  start)  touch "$PF"; echo "demo started";;
  stop)   rm -f "$PF"; echo "demo stopped";;
  status) if [ -f "$PF" ]; then echo "demo running"; else echo "demo stopped"; fi;;
  *) echo "usage"; exit 1;;
esac
exit 0
`

func TestDemoCycle(t *testing.T) {
	dir := t.TempDir()
	p := writeScript(t, dir, "demo", demo)
	pf := filepath.Join(dir, "pidfile")
	a := New("demo::"+pf, p, []string{pf}, Options{Logger: logger(t)})
	ctx := context.Background()
	steps := []struct {
		op   func(context.Context) error
		want resource.State
	}{
		{nil, resource.Stopped},
		{a.Start, resource.Running},
		{a.Start, resource.Running},
		{a.Stop, resource.Stopped},
	}
	for i, s := range steps {
		if s.op != nil {
			if err := s.op(ctx); err != nil {
				t.Fatalf("step %d: %v", i, err)
			}
		}
		got, err := a.Status(ctx)
		if err != nil || got != s.want {
			t.Fatalf("step %d: status = %v, %v; want %v", i, got, err, s.want)
		}
	}
}

func TestArgsWithoutShell(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "log")
	p := writeScript(t, dir, "rec", `for a in "$@"; do printf '%s\n' "$a"; done >> "`+log+`"`+"\n")
	args := []string{"a b", "x;touch " + filepath.Join(dir, "pwned1"), "$(touch " + filepath.Join(dir, "pwned2") + ")", "`id`", "*"}
	a := New("rec", p, args, Options{})
	if err := a.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	want := strings.Join(append(args, "start"), "\n") + "\n"
	if string(b) != want {
		t.Errorf("script saw\n%q\nwant\n%q", b, want)
	}
	for _, f := range []string{"pwned1", "pwned2"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err == nil {
			t.Errorf("%s exists: an argument went through a shell", f)
		}
	}
}

func TestStartStopExitCodes(t *testing.T) {
	dir := t.TempDir()
	p := writeScript(t, dir, "fails", `case "$1" in start) echo "cannot bind port" >&2; exit 1;; stop) exit 0;; status) exit 7;; esac`+"\n")
	a := New("fails", p, nil, Options{})
	ctx := context.Background()
	err := a.Start(ctx)
	if err == nil || !strings.Contains(err.Error(), "exit status 1") || !strings.Contains(err.Error(), "cannot bind port") {
		t.Errorf("start: %v; want exit status 1 with the output", err)
	}
	if err := a.Stop(ctx); err != nil {
		t.Errorf("stop: %v", err)
	}
	st, err := a.Status(ctx)
	if st != resource.Unknown || !errors.Is(err, ErrStatusUnknown) {
		t.Errorf("status = %v, %v; want unknown", st, err)
	}
}

func TestLSBStatusCodes(t *testing.T) {
	dir := t.TempDir()
	for code, want := range map[int]resource.State{0: resource.Running, 1: resource.Failed, 2: resource.Failed, 3: resource.Stopped} {
		p := writeScript(t, dir, "lsb"+strconv.Itoa(code), `echo "foo is running"; exit `+strconv.Itoa(code)+"\n")
		got, err := New("lsb", p, nil, Options{}).Status(context.Background())
		if err != nil || got != want {
			t.Errorf("exit %d: status = %v, %v; want %v", code, got, err, want)
		}
	}
}

func TestEnvironment(t *testing.T) {
	dir := t.TempDir()
	p := writeScript(t, dir, "env", `echo "$HA_RSCTMP|$HA_D|$LC_ALL|$HA_foo"; exit 1`+"\n")
	err := New("env", p, nil, Options{Env: []string{"HA_foo=bar"}}).Start(context.Background())
	if err == nil || !strings.Contains(err.Error(), "/run/heartbeat/rsctmp|/etc/ha.d|C|bar") {
		t.Errorf("environment not passed: %v", err)
	}
}

func TestTimeoutKillsProcessGroup(t *testing.T) {
	dir := t.TempDir()
	pidf := filepath.Join(dir, "child")
	// The background sleep stays in the script's process group and keeps
	// the output file open.
	p := writeScript(t, dir, "hang", `sleep 60 & echo $! > "`+pidf+`"; echo hanging; wait`+"\n")
	a := New("hang", p, nil, Options{Timeout: 300 * time.Millisecond, Logger: logger(t)})
	start := time.Now()
	err := a.Start(context.Background())
	elapsed := time.Since(start)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("start: %v; want a deadline error", err)
	}
	if elapsed > 5*time.Second {
		t.Errorf("start returned after %v; want shortly after the 300ms timeout", elapsed)
	}
	b, rerr := os.ReadFile(pidf)
	if rerr != nil {
		t.Fatal(rerr)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	if pid <= 0 {
		t.Fatalf("bad child pid %q", b)
	}
	// The child was SIGKILLed with its group: wait (bounded) for it to exit.
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		if errors.Is(err, unix.ESRCH) {
			return // already gone
		}
		t.Fatal(err)
	}
	defer unix.Close(fd)
	n, err := unix.Poll([]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}, 5000)
	if err != nil || n != 1 {
		t.Errorf("background child %d survived the timeout (poll %d, %v)", pid, n, err)
	}
}

func TestMissingScript(t *testing.T) {
	_, err := New("gone", filepath.Join(t.TempDir(), "gone"), nil, Options{}).Status(context.Background())
	if err == nil || errors.Is(err, ErrStatusUnknown) {
		t.Errorf("status of a missing script: %v; want an exec error", err)
	}
}
