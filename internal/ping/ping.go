// Package ping probes Heartbeat's ping nodes (the ha.cf ping, ping6 and
// ping_group lines) with ICMP echo requests and reports every reply. The
// engine decides from the replies whether a ping node is reachable
// (within deadping); the prober only sends and listens.
package ping

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Target is one address and the ping node it belongs to (a ping_group
// gives several addresses one node).
type Target struct {
	Node string
	Addr netip.Addr
}

// Reply is an echo reply from a target.
type Reply struct {
	Node string
	Addr netip.Addr
	At   time.Time
}

// Prober sends an echo request to every target each interval.
type Prober struct {
	targets  []Target
	interval time.Duration
	log      *slog.Logger
	id       uint16
}

// New returns a prober; nothing is sent until Run.
func New(targets []Target, interval time.Duration, log *slog.Logger) *Prober {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Prober{targets: targets, interval: interval, log: log, id: uint16(os.Getpid())}
}

// Run probes until ctx is done, calling reply for every echo reply. It
// needs CAP_NET_RAW.
func (p *Prober) Run(ctx context.Context, reply func(Reply)) error {
	var v4, v6 []Target
	for _, t := range p.targets {
		if t.Addr.Is4() || t.Addr.Is4In6() {
			v4 = append(v4, Target{t.Node, t.Addr.Unmap()})
		} else {
			v6 = append(v6, t)
		}
	}
	var wg sync.WaitGroup
	errc := make(chan error, 2)
	for _, fam := range []struct {
		v6      bool
		targets []Target
	}{{false, v4}, {true, v6}} {
		if len(fam.targets) == 0 {
			continue
		}
		s, err := openSocket(fam.v6)
		if err != nil {
			return err
		}
		wg.Add(2)
		go func() {
			defer wg.Done()
			<-ctx.Done()
			unix.Close(s)
		}()
		go func() {
			defer wg.Done()
			errc <- p.loop(ctx, s, fam.v6, fam.targets, reply)
		}()
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		if err != nil && ctx.Err() == nil {
			return err
		}
	}
	return nil
}

func openSocket(v6 bool) (int, error) {
	domain, proto := unix.AF_INET, unix.IPPROTO_ICMP
	if v6 {
		domain, proto = unix.AF_INET6, unix.IPPROTO_ICMPV6
	}
	s, err := unix.Socket(domain, unix.SOCK_RAW|unix.SOCK_CLOEXEC, proto)
	if err != nil {
		return -1, fmt.Errorf("ping: raw socket: %w", err)
	}
	if v6 {
		// Only echo replies, and let the kernel fill in the checksum.
		var f unix.ICMPv6Filter
		for i := range f.Data {
			f.Data[i] = 0xffffffff
		}
		f.Data[icmp6EchoReply>>5] &^= 1 << (icmp6EchoReply & 31)
		if err := unix.SetsockoptICMPv6Filter(s, unix.SOL_ICMPV6, unix.ICMPV6_FILTER, &f); err != nil {
			unix.Close(s)
			return -1, fmt.Errorf("ping: icmp6 filter: %w", err)
		}
	}
	tv := unix.NsecToTimeval((200 * time.Millisecond).Nanoseconds())
	if err := unix.SetsockoptTimeval(s, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		unix.Close(s)
		return -1, fmt.Errorf("ping: %w", err)
	}
	return s, nil
}

const (
	icmpEcho       = 8
	icmpEchoReply  = 0
	icmp6Echo      = 128
	icmp6EchoReply = 129
)

func (p *Prober) loop(ctx context.Context, s int, v6 bool, targets []Target, reply func(Reply)) error {
	go p.sender(ctx, s, v6, targets)
	buf := make([]byte, 1500)
	byAddr := map[netip.Addr]string{}
	for _, t := range targets {
		byAddr[t.Addr] = t.Node
	}
	for ctx.Err() == nil {
		n, from, err := unix.Recvfrom(s, buf, 0)
		if err != nil {
			if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
				continue
			}
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("ping: receive: %w", err)
		}
		at := time.Now()
		addr, msg := parse(from, buf[:n], v6)
		if addr == nil || !p.isReply(msg, v6) {
			continue
		}
		if node, ok := byAddr[*addr]; ok {
			reply(Reply{Node: node, Addr: *addr, At: at})
		}
	}
	return nil
}

// parse returns the sender and the ICMP message (IPv4 raw sockets include
// the IP header).
func parse(from unix.Sockaddr, b []byte, v6 bool) (*netip.Addr, []byte) {
	switch sa := from.(type) {
	case *unix.SockaddrInet4:
		if len(b) < 20 {
			return nil, nil
		}
		hl := int(b[0]&0x0f) * 4
		if len(b) < hl {
			return nil, nil
		}
		a := netip.AddrFrom4(sa.Addr)
		return &a, b[hl:]
	case *unix.SockaddrInet6:
		a := netip.AddrFrom16(sa.Addr)
		return &a, b
	}
	return nil, nil
}

func (p *Prober) isReply(msg []byte, v6 bool) bool {
	want := byte(icmpEchoReply)
	if v6 {
		want = icmp6EchoReply
	}
	return len(msg) >= 8 && msg[0] == want && msg[1] == 0 && binary.BigEndian.Uint16(msg[4:]) == p.id
}

func (p *Prober) sender(ctx context.Context, s int, v6 bool, targets []Target) {
	t := time.NewTicker(p.interval)
	defer t.Stop()
	var seq uint16
	warned := map[netip.Addr]bool{}
	for {
		seq++
		for _, tg := range targets {
			msg := EchoRequest(v6, p.id, seq)
			var sa unix.Sockaddr
			if v6 {
				sa = &unix.SockaddrInet6{Addr: tg.Addr.As16()}
			} else {
				sa = &unix.SockaddrInet4{Addr: tg.Addr.As4()}
			}
			if err := unix.Sendto(s, msg, 0, sa); err != nil {
				if !warned[tg.Addr] {
					warned[tg.Addr] = true
					p.log.Warn("cannot ping", "node", tg.Node, "err", err)
				}
			} else {
				warned[tg.Addr] = false
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// EchoRequest builds an ICMP (or ICMPv6) echo request. For ICMPv6 the
// kernel computes the checksum.
func EchoRequest(v6 bool, id, seq uint16) []byte {
	b := make([]byte, 16)
	b[0] = icmpEcho
	if v6 {
		b[0] = icmp6Echo
	}
	binary.BigEndian.PutUint16(b[4:], id)
	binary.BigEndian.PutUint16(b[6:], seq)
	copy(b[8:], "hbping\x00\x00")
	if !v6 {
		binary.BigEndian.PutUint16(b[2:], checksum(b))
	}
	return b
}

func checksum(b []byte) uint16 {
	var sum uint32
	for i := 0; i+1 < len(b); i += 2 {
		sum += uint32(b[i])<<8 | uint32(b[i+1])
	}
	if len(b)%2 == 1 {
		sum += uint32(b[len(b)-1]) << 8
	}
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}
