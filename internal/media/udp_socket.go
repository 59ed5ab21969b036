package media

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// iptosLowDelay is IPTOS_LOWDELAY, the TOS 3.0.6's ucast sets.
const iptosLowDelay = 0x10

// sockOpts describes one UDP socket, created before bind so every option
// (SO_BINDTODEVICE above all) is in place when the port is taken.
type sockOpts struct {
	v6        bool
	dev       string
	ifindex   int
	bind      netip.AddrPort // address may be unspecified; port 0: ephemeral
	tos       int            // IP TOS / IPv6 traffic class; 0 leaves the default
	broadcast bool           // SO_BROADCAST
	mcastOut  bool           // sender of multicast: interface, ttl, loop
	ttl       int
	loop      bool
	join      netip.Addr // receiver: multicast group to join on ifindex
}

// udpSocket creates, configures and binds a UDP socket.
func udpSocket(o sockOpts) (*net.UDPConn, error) {
	fam := unix.AF_INET
	if o.v6 {
		fam = unix.AF_INET6
	}
	fd, err := unix.Socket(fam, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, unix.IPPROTO_UDP)
	if err != nil {
		return nil, fmt.Errorf("socket: %w", err)
	}
	if err := configure(fd, o); err != nil {
		_ = unix.Close(fd)
		return nil, err
	}
	f := os.NewFile(uintptr(fd), "udp:"+o.dev+":"+o.bind.String())
	c, err := net.FilePacketConn(f)
	_ = f.Close()
	if err != nil {
		return nil, fmt.Errorf("udp socket: %w", err)
	}
	return c.(*net.UDPConn), nil
}

func configure(fd int, o sockOpts) error {
	set := func(level, opt, v int, what string) error {
		if err := unix.SetsockoptInt(fd, level, opt, v); err != nil {
			return fmt.Errorf("set %s: %w", what, err)
		}
		return nil
	}
	if err := set(unix.SOL_SOCKET, unix.SO_REUSEADDR, 1, "SO_REUSEADDR"); err != nil {
		return err
	}
	if err := unix.SetsockoptString(fd, unix.SOL_SOCKET, unix.SO_BINDTODEVICE, o.dev); err != nil {
		return fmt.Errorf("set SO_BINDTODEVICE %s: %w", o.dev, err)
	}
	if o.broadcast {
		if err := set(unix.SOL_SOCKET, unix.SO_BROADCAST, 1, "SO_BROADCAST"); err != nil {
			return err
		}
	}
	var sa unix.Sockaddr
	if !o.v6 {
		// Only groups this very socket joined, not every group of the host.
		if err := set(unix.IPPROTO_IP, unix.IP_MULTICAST_ALL, 0, "IP_MULTICAST_ALL"); err != nil {
			return err
		}
		if o.tos != 0 {
			if err := set(unix.IPPROTO_IP, unix.IP_TOS, o.tos, "IP_TOS"); err != nil {
				return err
			}
		}
		if o.mcastOut {
			if err := unix.SetsockoptIPMreqn(fd, unix.IPPROTO_IP, unix.IP_MULTICAST_IF, &unix.IPMreqn{Ifindex: int32(o.ifindex)}); err != nil {
				return fmt.Errorf("set IP_MULTICAST_IF: %w", err)
			}
			if err := set(unix.IPPROTO_IP, unix.IP_MULTICAST_TTL, max(o.ttl, 1), "IP_MULTICAST_TTL"); err != nil {
				return err
			}
			if err := set(unix.IPPROTO_IP, unix.IP_MULTICAST_LOOP, b2i(o.loop), "IP_MULTICAST_LOOP"); err != nil {
				return err
			}
		}
		sa = &unix.SockaddrInet4{Port: int(o.bind.Port()), Addr: o.bind.Addr().As4()}
	} else {
		if err := set(unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, 1, "IPV6_V6ONLY"); err != nil {
			return err
		}
		// IPV6_MULTICAST_ALL exists since Linux 4.20; older kernels lack it.
		if err := set(unix.IPPROTO_IPV6, unix.IPV6_MULTICAST_ALL, 0, "IPV6_MULTICAST_ALL"); err != nil && !errors.Is(err, unix.ENOPROTOOPT) {
			return err
		}
		if o.tos != 0 {
			if err := set(unix.IPPROTO_IPV6, unix.IPV6_TCLASS, o.tos, "IPV6_TCLASS"); err != nil {
				return err
			}
		}
		if o.mcastOut {
			if err := set(unix.IPPROTO_IPV6, unix.IPV6_MULTICAST_IF, o.ifindex, "IPV6_MULTICAST_IF"); err != nil {
				return err
			}
			if err := set(unix.IPPROTO_IPV6, unix.IPV6_MULTICAST_HOPS, max(o.ttl, 1), "IPV6_MULTICAST_HOPS"); err != nil {
				return err
			}
			if err := set(unix.IPPROTO_IPV6, unix.IPV6_MULTICAST_LOOP, b2i(o.loop), "IPV6_MULTICAST_LOOP"); err != nil {
				return err
			}
		}
		sa6 := &unix.SockaddrInet6{Port: int(o.bind.Port()), Addr: o.bind.Addr().As16()}
		if a := o.bind.Addr(); a.IsLinkLocalUnicast() || a.IsLinkLocalMulticast() {
			sa6.ZoneId = uint32(o.ifindex)
		}
		sa = sa6
	}
	if err := unix.Bind(fd, sa); err != nil {
		return fmt.Errorf("bind %s: %w", o.bind, err)
	}
	if o.join.IsValid() {
		if !o.v6 {
			mreq := &unix.IPMreqn{Multiaddr: o.join.As4(), Ifindex: int32(o.ifindex)}
			if err := unix.SetsockoptIPMreqn(fd, unix.IPPROTO_IP, unix.IP_ADD_MEMBERSHIP, mreq); err != nil {
				return fmt.Errorf("join %s: %w", o.join, err)
			}
		} else {
			mreq := &unix.IPv6Mreq{Multiaddr: o.join.As16(), Interface: uint32(o.ifindex)}
			if err := unix.SetsockoptIPv6Mreq(fd, unix.IPPROTO_IPV6, unix.IPV6_JOIN_GROUP, mreq); err != nil {
				return fmt.Errorf("join %s: %w", o.join, err)
			}
		}
	}
	return nil
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// ifaceInfo is what a UDP medium's sockets depend on; a change of any of it
// makes the medium rebind.
type ifaceInfo struct {
	index int
	src   netip.Addr // primary address, heartbeats leave from it
	bcast netip.Addr // IPv4 broadcast address of src's subnet
}

// resolveIface finds dev's index and primary address. IPv4: the first
// address without IFA_F_SECONDARY (VIPs added later in the subnet are
// secondary; the kernel lists primaries first). IPv6: the first usable
// (not tentative, deprecated or failed) link-local address when wantLL, a
// usable other address otherwise, falling back to the other kind. IPv6 has
// no primary/secondary, and the kernel lists a newly added address (a VIP
// this node took over) before the older ones of its scope: so the source in
// use, keep, stays while it is usable, and a fresh choice takes the oldest
// address of its kind (the last listed), passing over temporary (privacy)
// addresses unless nothing else is left.
func resolveIface(nl *netlink.Handle, dev string, v6, wantLL bool, keep netip.Addr) (ifaceInfo, error) {
	link, err := nl.LinkByName(dev)
	if err != nil {
		var nf netlink.LinkNotFoundError
		if errors.As(err, &nf) {
			return ifaceInfo{}, ErrNoInterface
		}
		return ifaceInfo{}, fmt.Errorf("look up interface: %w", err)
	}
	attrs := link.Attrs()
	if attrs.Flags&net.FlagUp == 0 {
		return ifaceInfo{}, errors.New("interface is down")
	}
	fam := netlink.FAMILY_V4
	if v6 {
		fam = netlink.FAMILY_V6
	}
	addrs, err := nl.AddrList(link, fam)
	if err != nil {
		return ifaceInfo{}, fmt.Errorf("list addresses: %w", err)
	}
	info := ifaceInfo{index: attrs.Index}
	if !v6 {
		for _, a := range addrs {
			if a.Flags&unix.IFA_F_SECONDARY != 0 || a.IPNet == nil {
				continue
			}
			ip, ok := netip.AddrFromSlice(a.IP.To4())
			if !ok {
				continue
			}
			info.src = ip
			if b, ok := netip.AddrFromSlice(a.Broadcast.To4()); ok && !b.IsUnspecified() {
				info.bcast = b
			} else {
				info.bcast = broadcastOf(ip, a.Mask)
			}
			return info, nil
		}
		return ifaceInfo{}, errors.New("no primary ipv4 address on interface")
	}
	var ll, other, llTemp, otherTemp netip.Addr
	for _, a := range addrs {
		if a.Flags&(unix.IFA_F_TENTATIVE|unix.IFA_F_DADFAILED|unix.IFA_F_DEPRECATED) != 0 {
			continue
		}
		ip, ok := netip.AddrFromSlice(a.IP.To16())
		if !ok {
			continue
		}
		if keep.IsValid() && ip == keep.WithZone("") {
			info.src = ip
			return info, nil
		}
		temp := a.Flags&unix.IFA_F_TEMPORARY != 0
		switch {
		case ip.IsLinkLocalUnicast() && !temp:
			ll = ip
		case ip.IsLinkLocalUnicast():
			llTemp = ip
		case !temp:
			other = ip
		default:
			otherTemp = ip
		}
	}
	if !ll.IsValid() {
		ll = llTemp
	}
	if !other.IsValid() {
		other = otherTemp
	}
	switch {
	case wantLL && ll.IsValid(), !other.IsValid() && ll.IsValid():
		info.src = ll
	case other.IsValid():
		info.src = other
	default:
		return ifaceInfo{}, errors.New("no usable ipv6 address on interface")
	}
	return info, nil
}

func broadcastOf(ip netip.Addr, mask net.IPMask) netip.Addr {
	a := ip.As4()
	if len(mask) == net.IPv6len {
		mask = mask[12:]
	}
	if len(mask) != net.IPv4len {
		return netip.AddrFrom4([4]byte{255, 255, 255, 255})
	}
	for i := range a {
		a[i] |= ^mask[i]
	}
	return netip.AddrFrom4(a)
}

// ownAddrs returns every address of the host (in nl's namespace) plus extra.
func ownAddrs(nl *netlink.Handle, extra []netip.Addr) (map[netip.Addr]struct{}, error) {
	addrs, err := nl.AddrList(nil, netlink.FAMILY_ALL)
	if err != nil {
		return nil, fmt.Errorf("list addresses: %w", err)
	}
	own := make(map[netip.Addr]struct{}, len(addrs)+len(extra))
	for _, a := range addrs {
		if ip, ok := netip.AddrFromSlice(a.IP); ok {
			own[ip.Unmap()] = struct{}{}
		}
	}
	for _, ip := range extra {
		own[ip.Unmap().WithZone("")] = struct{}{}
	}
	return own, nil
}
