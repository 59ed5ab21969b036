package daemon

import (
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"
	"unsafe"

	sddaemon "github.com/coreos/go-systemd/v22/daemon"
	"golang.org/x/sys/unix"

	"github.com/linuxha/heartbeat/internal/config"
	"github.com/linuxha/heartbeat/internal/engine"
	"github.com/linuxha/heartbeat/internal/watchdog"
)

// notifier speaks the sd_notify protocol; without NOTIFY_SOCKET (not run by
// systemd) every call is a no-op. It keeps one datagram socket open: the
// watchdog is petted many times a second at tight timers, and go-systemd's
// SdNotify dials a new socket for every message.
type notifier struct {
	log  *slog.Logger
	send func(state string) (bool, error)
}

func newNotifier(log *slog.Logger) *notifier {
	path := os.Getenv("NOTIFY_SOCKET")
	if path == "" {
		return &notifier{log: log, send: func(string) (bool, error) { return false, nil }}
	}
	if path[0] == '@' {
		path = "\x00" + path[1:] // abstract socket
	}
	var (
		mu   sync.Mutex
		conn *net.UnixConn
		raw  *rawWriter
	)
	addr := &net.UnixAddr{Name: path, Net: "unixgram"}
	return &notifier{log: log, send: func(state string) (bool, error) {
		mu.Lock()
		defer mu.Unlock()
		if conn == nil {
			c, err := net.DialUnix("unixgram", nil, addr)
			if err != nil {
				return sddaemon.SdNotify(false, state) // fall back to a one-shot
			}
			rc, err := c.SyscallConn()
			if err != nil {
				c.Close()
				return sddaemon.SdNotify(false, state)
			}
			conn, raw = c, newRawWriter(rc)
		}
		if err := raw.write(state); err != nil {
			conn.Close()
			conn, raw = nil, nil
			return false, err
		}
		return true, nil
	}}
}

// rawWriter writes datagrams on a connected socket with a raw, non-blocking
// write(2): unlike an ordinary system call it does not wake the runtime's
// monitor thread, which at a watchdog pet every few tens of milliseconds
// is a wake-up of its own each time (the UDP media do the same, see
// internal/media/udp_raw.go). Calls are serialised by the caller.
type rawWriter struct {
	rc    syscall.RawConn
	s     string
	errno syscall.Errno
	fn    func(fd uintptr) bool
}

func newRawWriter(rc syscall.RawConn) *rawWriter {
	w := &rawWriter{rc: rc}
	w.fn = func(fd uintptr) bool {
		for {
			p := unsafe.Pointer(unsafe.StringData(w.s))
			_, _, w.errno = unix.RawSyscall(unix.SYS_WRITE, fd, uintptr(p), uintptr(len(w.s)))
			switch w.errno {
			case unix.EINTR:
				continue
			case unix.EAGAIN:
				return false // wait until writable
			}
			return true
		}
	}
	return w
}

func (w *rawWriter) write(s string) error {
	if s == "" {
		return nil
	}
	w.s = s
	err := w.rc.Write(w.fn)
	w.s = ""
	if err != nil {
		return err
	}
	if w.errno != 0 {
		return os.NewSyscallError("write", w.errno)
	}
	return nil
}

func (n *notifier) say(state string) {
	if _, err := n.send(state); err != nil {
		n.log.Warn("cannot notify systemd", "err", err)
	}
}

func (n *notifier) ready(status string) { n.say("READY=1\nSTATUS=" + status) }
func (n *notifier) status(status string) {
	n.say("STATUS=" + status)
}
func (n *notifier) stopping() { n.say("STOPPING=1\nSTATUS=stopping: releasing resource groups") }
func (n *notifier) reloading() {
	n.say("RELOADING=1\nSTATUS=reloading configuration\n" + sddaemon.SdNotifyMonotonicUsec())
}
func (n *notifier) watchdog() { n.say(sddaemon.SdNotifyWatchdog) }

// statusText is the STATUS= line: what an admin wants to see in
// `systemctl status heartbeat`.
func statusText(s engine.Snapshot) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s", s.LocalNode, s.Status)
	if len(s.Groups) > 0 {
		held, moving := 0, 0
		for _, g := range s.Groups {
			switch g.State {
			case engine.GroupRunning:
				held++
			case engine.GroupStarting, engine.GroupStopping:
				moving++
			}
		}
		fmt.Fprintf(&b, ", %d/%d groups local", held, len(s.Groups))
		if moving > 0 {
			fmt.Fprintf(&b, " (%d in transition)", moving)
		}
	}
	var peers []string
	for _, n := range s.Nodes {
		if !n.Local {
			peers = append(peers, n.Name+" "+n.Status.String())
		}
	}
	switch len(peers) {
	case 0:
	case 1:
		b.WriteString(", peer " + peers[0])
	default:
		b.WriteString(", peers " + strings.Join(peers, ", "))
	}
	return b.String()
}

type petter struct {
	pet   func()
	close func()
}

// watchdogs returns what the engine loop must pet: systemd's service
// watchdog (WatchdogSec=) and, when asked, the ha.cf watchdog device.
func (d *daemon) watchdogs(cfg *config.Config) []petter {
	var out []petter
	if iv, err := sddaemon.SdWatchdogEnabled(false); err == nil && iv > 0 {
		pet := d.notify.watchdog
		if want := d.watchdogInterval(cfg); want < iv {
			// A hung daemon must be killed (and its addresses removed by
			// ExecStopPost) before the peer's deadtime runs out. The short
			// timeout goes out with the first pet, from the engine loop:
			// systemd arms it at once, and sent here it would also time
			// the start-up (D-Bus, resource probes), which on a loaded
			// machine can take longer than half a tight deadtime.
			first := true
			pet = func() {
				if !first {
					d.notify.watchdog()
					return
				}
				first = false
				d.notify.say(fmt.Sprintf("%s\nWATCHDOG_USEC=%d", sddaemon.SdNotifyWatchdog, want.Microseconds()))
				d.log.Info("service watchdog shortened to half the deadtime", "watchdog", want)
			}
		}
		out = append(out, petter{pet: pet, close: func() {}})
	}
	if cfg.Watchdog != "" {
		switch {
		case !d.opts.WatchdogDirect:
			if err := watchdog.Check(cfg.Watchdog); err != nil {
				d.log.Warn("watchdog directive: no watchdog device on this machine; running without a hardware watchdog", "err", err)
			} else {
				d.log.Info("watchdog directive: the hardware watchdog is armed by systemd when heartbeat-watchdog.conf is enabled (RuntimeWatchdogSec)", "device", cfg.Watchdog)
			}
		default:
			dev, err := watchdog.Open(cfg.Watchdog)
			if err != nil {
				d.log.Warn("cannot drive the watchdog device; running without it", "err", err)
				break
			}
			d.log.Info("driving the watchdog device", "device", cfg.Watchdog)
			out = append(out, petter{
				pet: func() {
					if err := dev.Pet(); err != nil {
						d.log.Error("watchdog keep-alive failed", "err", err)
					}
				},
				close: func() {
					if err := dev.Close(); err != nil {
						d.log.Warn("watchdog close", "err", err)
					}
				},
			})
		}
	}
	return out
}

// watchdogInterval is the service watchdog timeout heartbeat asks for: half
// the deadtime (at least 50ms: below that, scheduling noise on a loaded
// machine kills a healthy daemon), or what systemd set if that is shorter.
func (d *daemon) watchdogInterval(cfg *config.Config) time.Duration {
	want := max(cfg.Deadtime/2, 50*time.Millisecond)
	if iv, err := sddaemon.SdWatchdogEnabled(false); err == nil && iv > 0 && iv < want {
		return iv
	}
	return want
}
