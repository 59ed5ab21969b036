package vip

import (
	"net/netip"

	"golang.org/x/sys/unix"
)

// route is the part of a routing-table entry that interface derivation
// needs (Heartbeat's findif). Priority is the route's metric, its cost.
type route struct {
	Dst       netip.Prefix // invalid for a default route
	LinkIndex int
	Gateway   bool // has a next hop: not a connected route
	Priority  int  // metric
	Type      int  // unix.RTN_*; 0 is taken as unicast
}

// chooseRoute picks the route that gives a missing interface or prefix
// length, as Heartbeat's findif does: the lowest-cost (lowest metric) route
// to the address. Only connected routes count: unicast, without a gateway,
// with a destination that contains addr (default routes never qualify: they
// say nothing about the subnet). Among those the lowest metric wins; equal
// metrics go to the longest prefix, then to the lowest interface index so
// the choice is deterministic. A linkIndex > 0 restricts the search to that
// interface (the interface was given, the prefix length was not).
//
// Heartbeat's findif.c (IPaddr) keeps the matching /proc/net/route line
// with the lowest metric (resource-agents' tools/findif.c since 2012 also
// wants a prefix no shorter than the best so far, which makes its answer
// depend on table order); resource-agents' findif.sh (IPaddr2) sorts the
// "ip route list match" lines by metric, then by prefix length. Ties were
// left to table order; the prefix and index keys here replace it.
func chooseRoute(routes []route, addr netip.Addr, linkIndex int) (route, bool) {
	var best route
	found := false
	for _, r := range routes {
		switch {
		case r.Gateway, !r.Dst.IsValid(), r.Dst.Bits() == 0,
			r.Type != 0 && r.Type != unix.RTN_UNICAST,
			!r.Dst.Contains(addr),
			linkIndex > 0 && r.LinkIndex != linkIndex:
			continue
		}
		if !found || better(r, best) {
			best, found = r, true
		}
	}
	return best, found
}

// better orders candidate routes: lower metric, then longer prefix, then
// lower interface index.
func better(a, b route) bool {
	if a.Priority != b.Priority {
		return a.Priority < b.Priority
	}
	if a.Dst.Bits() != b.Dst.Bits() {
		return a.Dst.Bits() > b.Dst.Bits()
	}
	return a.LinkIndex < b.LinkIndex
}

// broadcastOf returns the highest address of the IPv4 subnet p, Heartbeat's
// default broadcast. It is invalid for IPv6 and for /31 and /32, which have
// no broadcast address (RFC 3021).
func broadcastOf(p netip.Prefix) netip.Addr {
	if !p.Addr().Is4() || p.Bits() >= 31 {
		return netip.Addr{}
	}
	a := p.Masked().Addr().As4()
	v := uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3])
	v |= ^uint32(0) >> p.Bits()
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}
