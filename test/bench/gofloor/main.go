// Command gofloor is floor.c in Go, a yardstick for
// test/bench/cpu_per_packet.sh (SYSTEM=gofloor): every keepalive it sends
// one datagram of SIZE bytes to the peer's UDP port 694 and reads what the
// peer sends, with no parsing and no state, on one P (GOMAXPROCS=1, as the
// daemon runs). It has three shapes a Go event loop can take:
//
//   - -mode chan (the daemon's shape): a goroutine reads the timerfd and
//     one the socket, each through the runtime's poller, and hand their
//     events to the loop goroutine over channels;
//   - -mode epoll: the loop goroutine alone waits on one epoll holding the
//     timerfd and the socket, itself registered with the runtime's poller;
//   - -mode batch: only the timerfd is in the poller; at every keepalive
//     the loop sends, then reads every datagram that came since, without
//     being woken for them (one wake-up per keepalive instead of two).
//
// Comparing them tells what a single-epoll engine loop, or one woken only
// by its timer, would save.
//
//	gofloor [-mode chan|epoll] LOCAL_IP PEER_IP KEEPALIVE_MS SIZE
package main

import (
	"flag"
	"fmt"
	"net/netip"
	"os"
	"runtime"
	"strconv"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

func main() {
	mode := flag.String("mode", "chan", "chan (a goroutine per descriptor), epoll (one goroutine, one epoll) or batch (woken by the timer only)")
	flag.Parse()
	if flag.NArg() != 4 || (*mode != "chan" && *mode != "epoll" && *mode != "batch") {
		fmt.Fprintln(os.Stderr, "usage: gofloor [-mode chan|epoll|batch] LOCAL_IP PEER_IP KEEPALIVE_MS SIZE")
		os.Exit(2)
	}
	runtime.GOMAXPROCS(1)
	local, err1 := netip.ParseAddr(flag.Arg(0))
	peer, err2 := netip.ParseAddr(flag.Arg(1))
	ms, err3 := strconv.Atoi(flag.Arg(2))
	size, err4 := strconv.Atoi(flag.Arg(3))
	if err1 != nil || err2 != nil || err3 != nil || err4 != nil || !local.Is4() || !peer.Is4() || ms <= 0 || size <= 0 || size > 65507 {
		fmt.Fprintln(os.Stderr, "gofloor: bad address, keepalive or size")
		os.Exit(2)
	}
	f, err := newFloor(local, peer, ms, size)
	if err != nil {
		fmt.Fprintln(os.Stderr, "gofloor:", err)
		os.Exit(1)
	}
	switch *mode {
	case "epoll":
		err = f.runEpoll()
	case "batch":
		err = f.runBatch()
	default:
		err = f.runChan()
	}
	fmt.Fprintln(os.Stderr, "gofloor:", err)
	os.Exit(1)
}

type floor struct {
	sock, timer int
	peer        unix.RawSockaddrInet4
	out, in     []byte
	expired     [8]byte
	sum         uint
}

func newFloor(local, peer netip.Addr, ms, size int) (*floor, error) {
	s, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("socket: %w", err)
	}
	if err := unix.Bind(s, &unix.SockaddrInet4{Port: 694, Addr: local.As4()}); err != nil {
		return nil, fmt.Errorf("bind: %w", err)
	}
	t, err := unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_NONBLOCK|unix.TFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("timerfd: %w", err)
	}
	every := unix.NsecToTimespec(int64(ms) * 1e6)
	if err := unix.TimerfdSettime(t, 0, &unix.ItimerSpec{Interval: every, Value: every}, nil); err != nil {
		return nil, fmt.Errorf("timerfd_settime: %w", err)
	}
	f := &floor{sock: s, timer: t, out: make([]byte, size), in: make([]byte, 65536)}
	for i := range f.out {
		f.out[i] = 'x'
	}
	f.peer.Family = unix.AF_INET
	p := (*[2]byte)(unsafe.Pointer(&f.peer.Port))
	p[0], p[1] = 694>>8, 694&0xff
	f.peer.Addr = peer.As4()
	return f, nil
}

// The system calls are raw, as the daemon's media make them
// (internal/media/udp_raw.go): no runtime hooks.

func (f *floor) send() {
	unix.RawSyscall6(unix.SYS_SENDTO, uintptr(f.sock), uintptr(unsafe.Pointer(&f.out[0])), uintptr(len(f.out)),
		unix.MSG_DONTWAIT, uintptr(unsafe.Pointer(&f.peer)), unsafe.Sizeof(f.peer))
}

// recv reads one datagram; -1 when none waits.
func (f *floor) recv() int {
	n, _, e := unix.RawSyscall6(unix.SYS_RECVFROM, uintptr(f.sock), uintptr(unsafe.Pointer(&f.in[0])), uintptr(len(f.in)),
		unix.MSG_DONTWAIT, 0, 0)
	if e != 0 {
		return -1
	}
	return int(n)
}

func (f *floor) readTimer() bool {
	_, _, e := unix.RawSyscall(unix.SYS_READ, uintptr(f.timer), uintptr(unsafe.Pointer(&f.expired[0])), 8)
	return e == 0
}

func (f *floor) consume(b []byte) {
	for _, c := range b {
		f.sum += uint(c)
	}
}

func rawConn(fd int, name string) (syscall.RawConn, error) {
	return os.NewFile(uintptr(fd), name).SyscallConn()
}

func (f *floor) runChan() error {
	trc, err := rawConn(f.timer, "timerfd")
	if err != nil {
		return err
	}
	src, err := rawConn(f.sock, "socket")
	if err != nil {
		return err
	}
	ticks := make(chan struct{}, 1)
	packets := make(chan []byte, 64)
	errs := make(chan error, 2)
	go func() {
		for {
			if err := trc.Read(func(uintptr) bool { return f.readTimer() }); err != nil {
				errs <- err
				return
			}
			ticks <- struct{}{}
		}
	}()
	go func() {
		n := 0
		for {
			if err := src.Read(func(uintptr) bool { n = f.recv(); return n >= 0 }); err != nil {
				errs <- err
				return
			}
			packets <- append([]byte(nil), f.in[:n]...) // as a medium hands a datagram over
		}
	}()
	for {
		select {
		case <-ticks:
			f.send()
		case p := <-packets:
			f.consume(p)
		case err := <-errs:
			return err
		}
	}
}

func (f *floor) runEpoll() error {
	ep, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return fmt.Errorf("epoll_create1: %w", err)
	}
	for _, fd := range []int{f.timer, f.sock} {
		if err := unix.EpollCtl(ep, unix.EPOLL_CTL_ADD, fd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(fd)}); err != nil {
			return fmt.Errorf("epoll_ctl: %w", err)
		}
	}
	if err := unix.SetNonblock(ep, true); err != nil {
		return err
	}
	rc, err := rawConn(ep, "epoll")
	if err != nil {
		return err
	}
	var evs [4]unix.EpollEvent
	n := 0
	wait := func(fd uintptr) bool { // never blocks: the runtime's poller waits
		r, _, e := unix.RawSyscall6(unix.SYS_EPOLL_PWAIT, fd, uintptr(unsafe.Pointer(&evs[0])), uintptr(len(evs)), 0, 0, 0)
		n = int(r)
		return e == 0 && n > 0
	}
	for {
		if err := rc.Read(wait); err != nil {
			return err
		}
		for _, ev := range evs[:n] {
			if int(ev.Fd) == f.timer {
				if f.readTimer() {
					f.send()
				}
				continue
			}
			for k := f.recv(); k >= 0; k = f.recv() {
				f.consume(f.in[:k])
			}
		}
	}
}

func (f *floor) runBatch() error {
	trc, err := rawConn(f.timer, "timerfd")
	if err != nil {
		return err
	}
	for {
		if err := trc.Read(func(uintptr) bool { return f.readTimer() }); err != nil {
			return err
		}
		f.send()
		for k := f.recv(); k >= 0; k = f.recv() {
			f.consume(f.in[:k])
		}
	}
}
