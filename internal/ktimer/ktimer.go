// Package ktimer is the engine's timer on a Linux timerfd: an engine.Timer
// whose expiry does not wake the Go runtime's monitor thread.
package ktimer

import (
	"fmt"
	"os"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/linuxha/heartbeat/internal/engine"
)

// kernelTimer is an engine.Timer on a timerfd (CLOCK_MONOTONIC, the clock
// of Go's monotonic readings), read through the runtime's poller with raw
// system calls.
//
// Why not a time.Timer: the runtime's monitor thread (sysmon) sleeps until
// the next runtime timer when the process is idle, so every expiry of the
// engine's timer woke it twice (its sleep ending, then one more poll), on
// top of the thread that runs the loop: about 100 wake-ups a second at
// keepalive 20ms, each a costly context switch in a VM. A timerfd is not a
// runtime timer; its expiry wakes only the poller's thread, as a datagram
// does. Arming it with a raw timerfd_settime (it never blocks) does not wake
// sysmon either, unlike an ordinary system call (see internal/media/udp_raw.go).
type kernelTimer struct {
	f  *os.File
	rc syscall.RawConn
	c  chan time.Time

	mu       sync.Mutex
	deadline time.Time // of the last Reset; zero when stopped
	stopped  bool
	spec     unix.ItimerSpec // for arm, under mu: no allocation per Reset
	errno    syscall.Errno
	settime  func(fd uintptr)
}

// NewKernelTimer returns a timer armed to fire once after d.
func NewKernelTimer(d time.Duration) (engine.Timer, error) {
	fd, err := unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_NONBLOCK|unix.TFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("timerfd_create: %w", err)
	}
	f := os.NewFile(uintptr(fd), "timerfd") // non-blocking: pollable
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("timerfd: %w", err)
	}
	t := &kernelTimer{f: f, rc: rc, c: make(chan time.Time, 1)}
	t.settime = func(fd uintptr) {
		_, _, t.errno = unix.RawSyscall6(unix.SYS_TIMERFD_SETTIME, fd, 0, uintptr(unsafe.Pointer(&t.spec)), 0, 0, 0)
	}
	if err := t.arm(d); err != nil {
		f.Close()
		return nil, err
	}
	go t.run()
	return t, nil
}

func (t *kernelTimer) C() <-chan time.Time { return t.c }

// Reset arms the timer to fire once after d (at once if d <= 0) and drops
// an expiry not yet received: no stale value is received after it.
func (t *kernelTimer) Reset(d time.Duration) {
	_ = t.arm(d) // fails only once stopped
}

// Stop disarms the timer for good and releases the descriptor.
func (t *kernelTimer) Stop() {
	t.mu.Lock()
	already := t.stopped
	t.stopped, t.deadline = true, time.Time{}
	t.mu.Unlock()
	if !already {
		t.f.Close() // ends run
	}
}

func (t *kernelTimer) arm(d time.Duration) error {
	d = max(d, 1) // a zero it_value would disarm
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.stopped {
		return os.ErrClosed
	}
	t.deadline = time.Now().Add(d)
	select {
	case <-t.c:
	default:
	}
	t.spec = unix.ItimerSpec{Value: unix.NsecToTimespec(int64(d))}
	if err := t.rc.Control(t.settime); err != nil {
		return err
	}
	if t.errno != 0 {
		return fmt.Errorf("timerfd_settime: %w", t.errno)
	}
	return nil
}

func (t *kernelTimer) run() {
	var buf [8]byte // expirations since the last read or settime
	read := func(fd uintptr) bool {
		_, _, errno := unix.RawSyscall(unix.SYS_READ, fd, uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)))
		return errno != unix.EAGAIN && errno != unix.EINTR
	}
	for {
		if err := t.rc.Read(read); err != nil {
			return // closed by Stop
		}
		// Under mu, so that a Reset either comes first (the deadline moved
		// on: this expiry is stale and dropped) or drains what is sent.
		now := time.Now()
		t.mu.Lock()
		if !t.deadline.IsZero() && !now.Before(t.deadline) {
			t.deadline = time.Time{} // one shot
			select {
			case t.c <- now:
			default: // an expiry is pending already
			}
		}
		t.mu.Unlock()
	}
}
