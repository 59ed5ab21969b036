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

	// The kernel's CLOCK_MONOTONIC at the instant of the Go time zero0,
	// read once, so that a deadline converts to an absolute expiry in
	// integer nanoseconds: a deadline on the period's grid then compares
	// exactly with the expiries the kernel has scheduled.
	zero0 time.Time
	mono0 int64

	mu sync.Mutex
	// period, when not zero, is the interval of the last arming: the
	// kernel goes on expiring every period after the value armed (base),
	// and ResetAt to the next point of that grid needs no system call.
	period   int64
	deadline time.Time // of the last Reset; zero when stopped
	stopped  bool
	base     int64           // absolute expiry of the last timerfd_settime
	settimes int             // timerfd_settime calls made (tests)
	spec     unix.ItimerSpec // for arm, under mu: no allocation per Reset
	errno    syscall.Errno
	settime  func(fd uintptr)
}

// NewKernelTimer returns a timer armed to fire once after d.
func NewKernelTimer(d time.Duration) (engine.Timer, error) {
	return newKernelTimer(d, 0)
}

// NewPeriodicKernelTimer returns a timer armed to fire once after d that
// expects most deadlines one period after the one before (the engine's
// keepalive grid): the timerfd is armed with period as its interval, so
// moving the deadline to the next keepalive costs no system call; any
// other deadline, or a ResetAt with another period, re-arms it. It still
// fires only at the deadline of the last Reset or ResetAt: an expiry of the
// grid before it is dropped.
func NewPeriodicKernelTimer(d, period time.Duration) (engine.Timer, error) {
	return newKernelTimer(d, period)
}

func newKernelTimer(d, period time.Duration) (*kernelTimer, error) {
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
	// Go time first, kernel clock second: an expiry computed from the pair
	// comes at most the gap between the two readings after its deadline,
	// never before it.
	zero0 := time.Now()
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		f.Close()
		return nil, fmt.Errorf("clock_gettime: %w", err)
	}
	t := &kernelTimer{f: f, rc: rc, c: make(chan time.Time, 1),
		zero0: zero0, mono0: ts.Nano()}
	t.settime = func(fd uintptr) {
		_, _, t.errno = unix.RawSyscall6(unix.SYS_TIMERFD_SETTIME, fd, unix.TFD_TIMER_ABSTIME, uintptr(unsafe.Pointer(&t.spec)), 0, 0, 0)
	}
	if err := t.arm(zero0.Add(d), period); err != nil {
		f.Close()
		return nil, err
	}
	go t.run()
	return t, nil
}

func (t *kernelTimer) C() <-chan time.Time { return t.c }

// Reset arms the timer to fire once after d (at once if d <= 0) and drops
// an expiry not yet received: no stale value is received after it.
// The period stays that of the last arming.
func (t *kernelTimer) Reset(d time.Duration) {
	t.mu.Lock()
	p := t.period
	t.mu.Unlock()
	_ = t.arm(time.Now().Add(d), time.Duration(p)) // fails only once stopped
}

// ResetAt is Reset to an instant, with the period the deadlines that
// follow are expected on (the engine's keepalive, which a reload may
// change; 0 for none). The engine arms its timer with the deadline itself,
// which lands exactly on the period's grid: when it is the next expiry the
// kernel has scheduled anyway, no system call is made.
func (t *kernelTimer) ResetAt(deadline time.Time, period time.Duration) {
	_ = t.arm(deadline, period)
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

// kernelNs is the kernel's CLOCK_MONOTONIC reading at Go time at.
func (t *kernelTimer) kernelNs(at time.Time) int64 {
	return t.mono0 + int64(at.Sub(t.zero0))
}

func (t *kernelTimer) arm(deadline time.Time, period time.Duration) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.stopped {
		return os.ErrClosed
	}
	now := time.Now()
	deadline = later(deadline, now)
	t.deadline = deadline
	select {
	case <-t.c:
	default:
	}
	abs, kn, p := t.kernelNs(deadline), t.kernelNs(now), int64(max(period, 0))
	// Only the next point of the grid: a later one would let the kernel
	// wake the loop at every point before it for nothing.
	if p > 0 && p == t.period && t.settimes > 0 && abs > kn && abs-p <= kn && abs > t.base && (abs-t.base)%p == 0 {
		return nil // the kernel expires then anyway
	}
	t.spec = unix.ItimerSpec{Value: unix.NsecToTimespec(abs), Interval: unix.NsecToTimespec(p)}
	if err := t.rc.Control(t.settime); err != nil {
		return err
	}
	if t.errno != 0 {
		return fmt.Errorf("timerfd_settime: %w", t.errno)
	}
	t.base, t.period = abs, p
	t.settimes++
	return nil
}

// later returns deadline, or now when it is past: a past absolute value
// fires at once.
func later(deadline, now time.Time) time.Time {
	if deadline.Before(now) {
		return now
	}
	return deadline
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
