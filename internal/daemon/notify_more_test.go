package daemon

import (
	"bytes"
	"log/slog"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/linuxha/heartbeat/internal/config"
)

// The reload and stop messages carry what systemd needs: RELOADING=1 with
// MONOTONIC_USEC= read from CLOCK_MONOTONIC (systemd ignores a reload
// notice without it), READY=1 after it, STOPPING=1 before the groups go.
func TestNotifierReloadAndStop(t *testing.T) {
	ln := notifySink(t)
	n := newNotifier(slog.New(slog.DiscardHandler))

	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		t.Fatal(err)
	}
	before := ts.Nano() / 1000
	n.reloading()
	n.ready("node1 active")
	n.stopping()
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		t.Fatal(err)
	}
	after := ts.Nano() / 1000

	buf := make([]byte, 512)
	read := func() map[string]string {
		t.Helper()
		ln.SetReadDeadline(time.Now().Add(2 * time.Second))
		k, _, err := ln.ReadFromUnix(buf)
		if err != nil {
			t.Fatal(err)
		}
		kv := map[string]string{}
		for _, line := range strings.Split(strings.TrimRight(string(buf[:k]), "\n"), "\n") {
			key, val, ok := strings.Cut(line, "=")
			if !ok {
				t.Fatalf("notify line %q is not KEY=VALUE", line)
			}
			kv[key] = val
		}
		return kv
	}
	rl := read()
	if rl["RELOADING"] != "1" {
		t.Errorf("first message %v, want RELOADING=1", rl)
	}
	us, err := strconv.ParseInt(rl["MONOTONIC_USEC"], 10, 64)
	if err != nil || us < before || us > after {
		t.Errorf("MONOTONIC_USEC=%q, want a CLOCK_MONOTONIC time in [%d, %d]", rl["MONOTONIC_USEC"], before, after)
	}
	if rd := read(); rd["READY"] != "1" || rd["STATUS"] != "node1 active" {
		t.Errorf("after the reload: %v, want READY=1 and the status", rd)
	}
	st := read()
	if st["STOPPING"] != "1" || !strings.Contains(st["STATUS"], "releasing") {
		t.Errorf("stop message %v, want STOPPING=1 with a status saying groups are released", st)
	}
}

// The watchdog directive on a machine without a watchdog device is a clear
// warning, not a failure; the daemon runs on without one.
func TestWatchdogDirectiveWithoutDevice(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "")
	t.Setenv("WATCHDOG_USEC", "")
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	for _, direct := range []bool{false, true} {
		logs.Reset()
		d := &daemon{opts: Options{WatchdogDirect: direct}, log: log, notify: newNotifier(log)}
		cfg := &config.Config{}
		cfg.Deadtime, cfg.Watchdog = time.Second, filepath.Join(t.TempDir(), "watchdog")
		ps := d.watchdogs(cfg)
		if len(ps) != 0 {
			t.Errorf("direct=%v: %d watchdogs to pet without a device or systemd watchdog", direct, len(ps))
		}
		out := logs.String()
		if !strings.Contains(out, "level=WARN") || !strings.Contains(out, "running without") || !strings.Contains(out, cfg.Watchdog) {
			t.Errorf("direct=%v: log %q, want a warning naming the device and saying it runs without", direct, out)
		}
	}
}

// A WatchdogSec= longer than half the deadtime is shortened, but only with
// the first pet (which the engine loop sends): nothing reaches systemd when
// the watchdogs are set up, so start-up is not timed by the short limit.
func TestWatchdogShortenedOnFirstPet(t *testing.T) {
	ln := notifySink(t)
	t.Setenv("WATCHDOG_USEC", "10000000")
	t.Setenv("WATCHDOG_PID", strconv.Itoa(unix.Getpid()))
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	d := &daemon{log: log, notify: newNotifier(log)}
	cfg := &config.Config{}
	cfg.Deadtime = 400 * time.Millisecond
	ps := d.watchdogs(cfg)
	if len(ps) != 1 {
		t.Fatalf("%d watchdogs, want systemd's", len(ps))
	}
	buf := make([]byte, 256)
	ln.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	if k, _, err := ln.ReadFromUnix(buf); err == nil {
		t.Fatalf("setting up the watchdog sent %q before any pet", buf[:k])
	}
	var got []string
	for range 2 {
		ps[0].pet()
		ln.SetReadDeadline(time.Now().Add(2 * time.Second))
		k, _, err := ln.ReadFromUnix(buf)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, string(buf[:k]))
	}
	if got[0] != "WATCHDOG=1\nWATCHDOG_USEC=200000" {
		t.Errorf("first pet %q, want WATCHDOG=1 with WATCHDOG_USEC=200000 (half the deadtime)", got[0])
	}
	if got[1] != "WATCHDOG=1" {
		t.Errorf("second pet %q, want WATCHDOG=1 alone", got[1])
	}
	if !strings.Contains(logs.String(), "service watchdog shortened") {
		t.Errorf("log %q, want the shortening logged", logs.String())
	}
}
