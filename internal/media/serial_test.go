package media

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

	"github.com/linuxha/heartbeat/internal/engine"
)

// openPTY returns the master of a new pty and the path of its slave.
func openPTY(t *testing.T) (*os.File, string) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pty: %v", err)
	}
	t.Cleanup(func() { _ = m.Close() })
	fd := int(m.Fd())
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
		t.Fatalf("unlockpt: %v", err)
	}
	n, err := unix.IoctlGetInt(fd, unix.TIOCGPTN)
	if err != nil {
		t.Fatalf("ptsname: %v", err)
	}
	return m, "/dev/pts/" + strconv.Itoa(n)
}

// eventHandler turns log records into events a test can wait for.
type eventHandler struct {
	slog.Handler
	msgs chan string
}

func (h eventHandler) Handle(ctx context.Context, r slog.Record) error {
	select {
	case h.msgs <- r.Message:
	default:
	}
	return h.Handler.Handle(ctx, r)
}

func (h eventHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return eventHandler{h.Handler.WithAttrs(as), h.msgs}
}

func testLogger(t *testing.T) (*slog.Logger, chan string) {
	msgs := make(chan string, 64)
	h := eventHandler{slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}), msgs}
	return slog.New(h), msgs
}

func waitLog(t *testing.T, msgs chan string, substr string) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case m := <-msgs:
			if strings.Contains(m, substr) {
				return
			}
		case <-deadline:
			t.Fatalf("no log %q", substr)
		}
	}
}

func recvPacket(t *testing.T, ch <-chan engine.Packet) engine.Packet {
	t.Helper()
	select {
	case p, ok := <-ch:
		if !ok {
			t.Fatal("packets closed")
		}
		return p
	case <-time.After(10 * time.Second):
		t.Fatal("no packet")
	}
	return engine.Packet{}
}

func TestSerialPTY(t *testing.T) {
	master, slave := openPTY(t)
	log, msgs := testLogger(t)
	ms, err := Open(t.Context(), []Spec{{Kind: Serial, Path: slave, Baud: 19200, Line: 7}}, Options{Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	m := ms[0]
	t.Cleanup(func() { _ = m.Close() })
	if m.Name() != slave {
		t.Fatalf("name %q", m.Name())
	}

	good1 := sampleNetstring
	good2 := sampleClassic
	good3 := "###\n7:(0)t=ab,%%%\n4:1 ab,"
	stream := "\x00\xffline noise\r\n" + good1[:70] + // cable pulled mid-frame
		good1 + "garbage" + good2[:30] + good2 + "###\n9999999:" + good3 + ">>>\nhalf"
	before := time.Now()
	if _, err := master.Write([]byte(stream)); err != nil {
		t.Fatal(err)
	}
	for i, want := range []string{good1, good2, good3} {
		p := recvPacket(t, m.Packets())
		if string(p.Data) != want {
			t.Fatalf("packet %d:\n got %q\nwant %q", i, p.Data, want)
		}
		if p.From != slave || p.At.Before(before) {
			t.Fatalf("packet %d: from %q at %v", i, p.From, p.At)
		}
	}
	select {
	case p := <-m.Packets():
		t.Fatalf("unexpected packet %q", p.Data)
	default:
	}

	// Send renders a netstring message in 3.0.6's classic form.
	if err := m.Send([]byte(sampleNetstring)); err != nil {
		t.Fatal(err)
	}
	if err := m.Send([]byte("no marker")); err == nil {
		t.Fatal("send without a start marker accepted")
	}
	got := make([]byte, 0, len(sampleClassic))
	buf := make([]byte, 1024)
	for len(got) < len(sampleClassic) {
		n, err := master.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, buf[:n]...)
	}
	if string(got) != sampleClassic {
		t.Fatalf("line got %q\nwant %q", got, sampleClassic)
	}

	// Hangup: the medium goes down, Send fails, Packets stays open.
	_ = master.Close()
	waitLog(t, msgs, "medium down")
	if err := m.Send([]byte(sampleNetstring)); !errors.Is(err, ErrDown) {
		t.Fatalf("send while down: %v", err)
	}
	select {
	case _, ok := <-m.Packets():
		if !ok {
			t.Fatal("packets closed before Close")
		}
	default:
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if _, ok := <-m.Packets(); ok {
		t.Fatal("packets open after Close")
	}
}

func TestSerialOpenErrors(t *testing.T) {
	for _, tc := range []struct {
		path, want string
	}{
		{"ttyS0", "ha.cf:3: serial ttyS0: serial port \"ttyS0\" is not a full path name"},
		{"/nonexistent/tty", "ha.cf:3: serial /nonexistent/tty: serial port: stat /nonexistent/tty: no such file or directory"},
		{os.TempDir(), "ha.cf:3: serial " + os.TempDir() + ": serial port " + os.TempDir() + " is not a character device"},
	} {
		_, err := Open(t.Context(), []Spec{{Kind: Serial, Path: tc.path, Line: 3}}, Options{})
		if err == nil || err.Error() != tc.want {
			t.Errorf("Open(%s): %v, want %s", tc.path, err, tc.want)
		}
		var se *SpecError
		if !errors.As(err, &se) || se.Line != 3 {
			t.Errorf("Open(%s): not a SpecError with line 3: %#v", tc.path, err)
		}
	}
}

// A re-plugged cable: the device goes away (hangup) and a new one appears
// at the same path (here a symlink re-pointed to a new pty). The medium is
// reopened on its own, a frame cut by the hangup is dropped, and traffic
// flows both ways again.
func TestSerialReopen(t *testing.T) {
	master1, slave1 := openPTY(t)
	path := filepath.Join(t.TempDir(), "ttyHB0")
	if err := os.Symlink(slave1, path); err != nil {
		t.Fatal(err)
	}
	log, msgs := testLogger(t)
	ms, err := Open(t.Context(), []Spec{{Kind: Serial, Path: path, Baud: 19200, Line: 3}}, Options{Logger: log, Retry: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	m := ms[0]
	t.Cleanup(func() { _ = m.Close() })
	if _, err := master1.Write([]byte(sampleNetstring)); err != nil {
		t.Fatal(err)
	}
	if p := recvPacket(t, m.Packets()); string(p.Data) != sampleNetstring {
		t.Fatalf("before the pull: %q", p.Data)
	}

	// Pull: half a frame, then the line hangs up and the device is gone.
	if _, err := master1.Write([]byte(sampleClassic[:25])); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	_ = master1.Close()
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	waitLog(t, msgs, "medium down")
	for range 2 { // several failed reopen attempts
		waitLog(t, msgs, "serial reopen failed")
	}

	// Plug in: a new device at the same path.
	master2, slave2 := openPTY(t)
	if err := os.Symlink(slave2, path); err != nil {
		t.Fatal(err)
	}
	waitLog(t, msgs, "serial medium up")
	if _, err := master2.Write([]byte(sampleClassic[25:] + sampleClassic)); err != nil {
		t.Fatal(err)
	}
	if p := recvPacket(t, m.Packets()); string(p.Data) != sampleClassic {
		t.Fatalf("after the re-plug: %q, want the whole frame only (the cut one dropped)", p.Data)
	}
	if err := m.Send([]byte(sampleNetstring)); err != nil {
		t.Fatalf("send after the re-plug: %v", err)
	}
	got := make([]byte, 0, len(sampleClassic))
	buf := make([]byte, 1024)
	master2.SetReadDeadline(time.Now().Add(5 * time.Second))
	for len(got) < len(sampleClassic) {
		n, err := master2.Read(buf)
		if err != nil {
			t.Fatalf("read the new line: %v (got %q)", err, got)
		}
		got = append(got, buf[:n]...)
	}
	if string(got) != sampleClassic {
		t.Fatalf("sent on the new line %q", got)
	}
}
