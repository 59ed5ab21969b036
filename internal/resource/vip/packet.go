package vip

import (
	"encoding/binary"
	"net"
	"net/netip"
)

// Ethernet and protocol constants used by the announcement frames.
const (
	etherTypeARP  = 0x0806
	etherTypeIPv6 = 0x86dd
	etherMinFrame = 60 // without FCS; shorter frames are padded with zeros

	arpRequest = 1
	arpReply   = 2

	icmpv6NeighborAdvert = 136
	ndOptTargetLLAddr    = 2
	naFlagOverride       = 0x20 // first byte of the NA flags word: R=0x80 S=0x40 O=0x20
	protoICMPv6          = 58
	ndHopLimit           = 255
)

var (
	ethBroadcast = net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	// allNodes is ff02::1 and its Ethernet multicast address 33:33:00:00:00:01.
	allNodes    = netip.AddrFrom16([16]byte{0: 0xff, 1: 0x02, 15: 0x01})
	allNodesMAC = net.HardwareAddr{0x33, 0x33, 0x00, 0x00, 0x00, 0x01}
)

// arpFrame builds a gratuitous ARP Ethernet frame for ip owned by mac:
// broadcast destination, sender and target protocol address both ip, sender
// hardware address mac. op is arpRequest (target hardware address zero, as
// RFC 5227 announces) or arpReply (target hardware address broadcast, as
// Heartbeat's send_arp and arping -A do). The frame is padded to 60 bytes.
// mac must be 6 bytes and ip an IPv4 address.
func arpFrame(mac net.HardwareAddr, ip netip.Addr, op uint16) []byte {
	b := make([]byte, etherMinFrame)
	copy(b[0:6], ethBroadcast)
	copy(b[6:12], mac)
	binary.BigEndian.PutUint16(b[12:14], etherTypeARP)
	a := b[14:]
	binary.BigEndian.PutUint16(a[0:2], 1)      // hardware type Ethernet
	binary.BigEndian.PutUint16(a[2:4], 0x0800) // protocol type IPv4
	a[4] = 6                                   // hardware address length
	a[5] = 4                                   // protocol address length
	binary.BigEndian.PutUint16(a[6:8], op)
	ip4 := ip.As4()
	copy(a[8:14], mac)
	copy(a[14:18], ip4[:])
	if op == arpReply {
		copy(a[18:24], ethBroadcast)
	}
	copy(a[24:28], ip4[:])
	return b
}

// naFrame builds an unsolicited neighbour advertisement (RFC 4861 7.2.6)
// for ip owned by mac: Ethernet to 33:33:00:00:00:01, IPv6 from ip to ff02::1
// with hop limit 255, ICMPv6 type 136 with only the override flag set, the
// target ip and a target link-layer address option carrying mac. mac must
// be 6 bytes and ip an IPv6 address.
func naFrame(mac net.HardwareAddr, ip netip.Addr) []byte {
	const icmpLen = 4 + 4 + 16 + 8 // header, flags, target, option
	b := make([]byte, 14+40+icmpLen)
	copy(b[0:6], allNodesMAC)
	copy(b[6:12], mac)
	binary.BigEndian.PutUint16(b[12:14], etherTypeIPv6)

	h := b[14:54]
	h[0] = 6 << 4 // version 6, traffic class 0, flow label 0
	binary.BigEndian.PutUint16(h[4:6], icmpLen)
	h[6] = protoICMPv6
	h[7] = ndHopLimit
	src, dst := ip.As16(), allNodes.As16()
	copy(h[8:24], src[:])
	copy(h[24:40], dst[:])

	m := b[54:]
	m[0] = icmpv6NeighborAdvert
	m[1] = 0 // code
	m[4] = naFlagOverride
	copy(m[8:24], src[:])
	m[24] = ndOptTargetLLAddr
	m[25] = 1 // length in units of 8 bytes
	copy(m[26:32], mac)
	binary.BigEndian.PutUint16(m[2:4], icmpv6Checksum(ip, allNodes, m))
	return b
}

// icmpv6Checksum is the Internet checksum of msg (whose checksum field must
// be zero) preceded by the IPv6 pseudo-header (RFC 8200 8.1): source,
// destination, upper-layer length and next header 58.
func icmpv6Checksum(src, dst netip.Addr, msg []byte) uint16 {
	s, d := src.As16(), dst.As16()
	var sum uint32
	add := func(b []byte) {
		for i := 0; i+1 < len(b); i += 2 {
			sum += uint32(b[i])<<8 | uint32(b[i+1])
		}
		if len(b)%2 == 1 {
			sum += uint32(b[len(b)-1]) << 8
		}
	}
	add(s[:])
	add(d[:])
	var l [8]byte
	binary.BigEndian.PutUint32(l[0:4], uint32(len(msg)))
	l[7] = protoICMPv6
	add(l[:])
	add(msg)
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}
