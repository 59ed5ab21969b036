package media

import (
	"errors"
	"fmt"
	"os"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// linkWatch is a netlink route socket subscribed to the link and address
// changes of the medium's network namespace. The medium checks its
// interface when the kernel reports a change, instead of dumping links and
// addresses every retry interval: at steady state it makes no system call
// at all, where the poll made about a dozen a second, each an ordinary
// system call that woke the Go runtime's monitor thread (sysmon) and kept
// it polling for a while (docs/benchmarks.md, "CPU per packet"). The
// socket is non-blocking and read with raw system calls through the
// runtime's poller, as the datagram sockets are (udp_raw.go).
type linkWatch struct {
	f  *os.File
	rc syscall.RawConn
}

// watchGroups are the reports that can change what resolveIface and
// ownAddrs return: a link appearing, going, changing flags or index, and
// IPv4 or IPv6 addresses coming, going or changing flags (IPv6 DAD).
const watchGroups = unix.RTMGRP_LINK | unix.RTMGRP_IPV4_IFADDR | unix.RTMGRP_IPV6_IFADDR

func openLinkWatch(ns nsRunner) (*linkWatch, error) {
	fd := -1
	err := ns.do(func() error {
		s, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
		if err != nil {
			return fmt.Errorf("netlink socket: %w", err)
		}
		if err := unix.Bind(s, &unix.SockaddrNetlink{Family: unix.AF_NETLINK, Groups: watchGroups}); err != nil {
			unix.Close(s)
			return fmt.Errorf("netlink bind: %w", err)
		}
		fd = s
		return nil
	})
	if err != nil {
		return nil, err
	}
	f := os.NewFile(uintptr(fd), "netlink-route") // non-blocking: pollable
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("netlink socket: %w", err)
	}
	return &linkWatch{f: f, rc: rc}, nil
}

// errClosedWatch is returned by wait once close was called.
var errClosedWatch = errors.New("link watch closed")

// wait returns when the kernel has reported one change or more (read and
// discarded: the medium checks the interface itself), or has dropped
// reports because the socket's buffer overflowed (ENOBUFS), which calls for
// a check as well. It returns an error once closed or when the socket
// fails.
func (w *linkWatch) wait(buf []byte) error {
	got := false
	var fail error
	err := w.rc.Read(func(fd uintptr) bool {
		for {
			_, _, errno := unix.RawSyscall6(unix.SYS_RECVFROM, fd, uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)), unix.MSG_DONTWAIT, 0, 0)
			switch errno {
			case 0, unix.ENOBUFS:
				got = true
			case unix.EINTR:
			case unix.EAGAIN:
				return got // nothing (more): wait in the poller
			default:
				fail = fmt.Errorf("netlink recvfrom: %w", errno)
				return true
			}
		}
	})
	if err != nil {
		return fmt.Errorf("%w: %w", errClosedWatch, err)
	}
	return fail
}

func (w *linkWatch) close() { _ = w.f.Close() }
