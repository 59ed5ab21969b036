package media

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"sync"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Datagram I/O of the UDP media without the runtime's system call hooks.
//
// The sockets are non-blocking, so recvfrom and sendto never block: they are
// made as raw system calls inside syscall.RawConn's Read and Write, which
// park the goroutine in the runtime's poller on EAGAIN exactly as the net
// package does. What this saves is the runtime's entersyscall: when every P
// is idle between two heartbeats the runtime's monitor thread (sysmon)
// sleeps, and every ordinary system call wakes it, after which it polls at
// 20 µs until the process is idle again. At one datagram every few
// milliseconds sysmon was about a quarter of the daemon's CPU time in
// perf (docs/benchmarks.md, "CPU per packet"; test/bench/cpu_per_packet.sh).

// rawSockaddr is a destination in the kernel's form, built once per target.
type rawSockaddr struct {
	sa  unix.RawSockaddrInet6 // large enough for either family
	len uint32
}

// toRawSockaddr converts ap as the net package does for WriteToUDPAddrPort
// (an IPv4 or IPv4-mapped address on an IPv4 socket, a zone as scope id).
func toRawSockaddr(ap netip.AddrPort, v6 bool) (rawSockaddr, error) {
	var r rawSockaddr
	a := ap.Addr()
	port := ap.Port()
	if !v6 {
		if !a.Unmap().Is4() {
			return r, fmt.Errorf("%s is not an ipv4 address", a)
		}
		sa := (*unix.RawSockaddrInet4)(unsafe.Pointer(&r.sa))
		sa.Family = unix.AF_INET
		sa.Port = htons(port)
		sa.Addr = a.Unmap().As4()
		r.len = unix.SizeofSockaddrInet4
		return r, nil
	}
	if !a.Is6() {
		return r, fmt.Errorf("%s is not an ipv6 address", a)
	}
	r.sa.Family = unix.AF_INET6
	r.sa.Port = htons(port)
	r.sa.Addr = a.As16()
	if z := a.Zone(); z != "" {
		id, err := zoneIndex(z)
		if err != nil {
			return r, err
		}
		r.sa.Scope_id = id
	}
	r.len = unix.SizeofSockaddrInet6
	return r, nil
}

func zoneIndex(z string) (uint32, error) {
	if n, err := strconv.ParseUint(z, 10, 32); err == nil {
		return uint32(n), nil
	}
	ifi, err := net.InterfaceByName(z)
	if err != nil {
		return 0, fmt.Errorf("zone %s: %w", z, err)
	}
	return uint32(ifi.Index), nil
}

// htons stores a port in network byte order in a uint16 field.
func htons(p uint16) uint16 {
	b := (*[2]byte)(unsafe.Pointer(&p))
	b[0], b[1] = byte(p>>8), byte(p)
	return p
}

func ntohs(p uint16) uint16 {
	b := (*[2]byte)(unsafe.Pointer(&p))
	return uint16(b[0])<<8 | uint16(b[1])
}

// rawSender sends on one socket; it keeps what the raw call needs so that a
// send allocates nothing.
type rawSender struct {
	rc    syscall.RawConn
	mu    sync.Mutex // one send at a time: b, dst and errno are per send
	p     unsafe.Pointer
	n     int
	dst   *rawSockaddr
	errno syscall.Errno
	fn    func(fd uintptr) bool
}

func newRawSender(rc syscall.RawConn) *rawSender {
	s := &rawSender{rc: rc}
	s.fn = s.write
	return s
}

func (s *rawSender) write(fd uintptr) bool {
	for {
		_, _, s.errno = unix.RawSyscall6(unix.SYS_SENDTO, fd, uintptr(s.p), uintptr(s.n),
			unix.MSG_DONTWAIT|unix.MSG_NOSIGNAL, uintptr(unsafe.Pointer(&s.dst.sa)), uintptr(s.dst.len))
		switch s.errno {
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return false // wait until the socket is writable
		}
		return true
	}
}

// sendTo sends b to dst, waiting for room if the socket buffer is full;
// to is dst as an address, for the error (as WriteToUDPAddrPort's).
func (s *rawSender) sendTo(b []byte, dst *rawSockaddr, to netip.AddrPort) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.p, s.n, s.dst = nil, len(b), dst
	if len(b) > 0 {
		s.p = unsafe.Pointer(&b[0])
	}
	err := s.rc.Write(s.fn)
	errno := s.errno
	s.p, s.dst = nil, nil
	if err != nil {
		return err
	}
	if errno != 0 {
		return &net.OpError{Op: "write", Net: "udp", Addr: net.UDPAddrFromAddrPort(to), Err: os.NewSyscallError("sendto", errno)}
	}
	return nil
}

// rawReceiver reads one socket from one goroutine; like rawSender it
// allocates nothing per datagram.
type rawReceiver struct {
	rc    syscall.RawConn
	buf   []byte
	rsa   unix.RawSockaddrAny
	n     uintptr
	errno syscall.Errno
	fn    func(fd uintptr) bool
	zone  func(uint32) string // names the scope of IPv6 senders
}

func newRawReceiver(rc syscall.RawConn, buf []byte, zone func(uint32) string) *rawReceiver {
	r := &rawReceiver{rc: rc, buf: buf, zone: zone}
	r.fn = r.read
	return r
}

func (r *rawReceiver) read(fd uintptr) bool {
	for {
		alen := uint32(unix.SizeofSockaddrAny)
		r.n, _, r.errno = unix.RawSyscall6(unix.SYS_RECVFROM, fd, uintptr(unsafe.Pointer(&r.buf[0])), uintptr(len(r.buf)),
			unix.MSG_DONTWAIT, uintptr(unsafe.Pointer(&r.rsa)), uintptr(unsafe.Pointer(&alen)))
		switch r.errno {
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return false // wait until a datagram comes
		}
		return true
	}
}

// recvFrom reads one datagram into the buffer, waiting for one.
func (r *rawReceiver) recvFrom() (int, netip.AddrPort, error) {
	if err := r.rc.Read(r.fn); err != nil {
		return 0, netip.AddrPort{}, err
	}
	if r.errno != 0 {
		return 0, netip.AddrPort{}, &net.OpError{Op: "read", Net: "udp", Err: os.NewSyscallError("recvfrom", r.errno)}
	}
	var from netip.AddrPort
	switch r.rsa.Addr.Family {
	case unix.AF_INET:
		sa := (*unix.RawSockaddrInet4)(unsafe.Pointer(&r.rsa))
		from = netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), ntohs(sa.Port))
	case unix.AF_INET6:
		sa := (*unix.RawSockaddrInet6)(unsafe.Pointer(&r.rsa))
		a := netip.AddrFrom16(sa.Addr)
		if sa.Scope_id != 0 {
			a = a.WithZone(r.zone(sa.Scope_id))
		}
		from = netip.AddrPortFrom(a, ntohs(sa.Port))
	}
	return int(r.n), from, nil
}
