package daemon

import (
	"log/slog"
	"net"
	"path/filepath"
	"testing"
	"time"
)

// The notifier delivers every state, in order, to NOTIFY_SOCKET.
func TestNotifierDelivers(t *testing.T) {
	ln := notifySink(t)
	n := newNotifier(slog.New(slog.DiscardHandler))
	n.ready("node1 active")
	for range 3 {
		n.watchdog()
	}
	want := []string{"READY=1\nSTATUS=node1 active", "WATCHDOG=1", "WATCHDOG=1", "WATCHDOG=1"}
	buf := make([]byte, 512)
	for i, w := range want {
		ln.SetReadDeadline(time.Now().Add(2 * time.Second))
		k, _, err := ln.ReadFromUnix(buf)
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if got := string(buf[:k]); got != w {
			t.Errorf("message %d = %q, want %q", i, got, w)
		}
	}
}

func TestNotifierWithoutSystemd(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "")
	n := newNotifier(slog.New(slog.DiscardHandler))
	if ok, err := n.send("READY=1"); ok || err != nil {
		t.Errorf("send without NOTIFY_SOCKET = %v, %v", ok, err)
	}
}

// notifySink is a NOTIFY_SOCKET for the test: a datagram socket in a temp
// directory, closed when the test ends.
func notifySink(t *testing.T) *net.UnixConn {
	t.Helper()
	path := filepath.Join(t.TempDir(), "notify")
	ln, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	t.Setenv("NOTIFY_SOCKET", path)
	return ln
}
