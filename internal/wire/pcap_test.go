package wire

import (
	"encoding/binary"
	"fmt"
	"os"
	"testing"
)

// udpPacket is one UDP datagram of a capture.
type udpPacket struct {
	src, dst string // "ip:port"
	payload  []byte
}

// Link types of the classic libpcap format that the captures may use.
const (
	linkEthernet = 1
	linkLinuxSLL = 113
	linkRaw      = 101
)

// readPcap extracts the UDP payloads of a classic libpcap file (either byte
// order, micro- or nanosecond timestamps) with Ethernet, Linux cooked (SLL)
// or raw IP link layer. Non-IPv4, non-UDP and fragmented packets are skipped
// and counted in skipped.
func readPcap(t testing.TB, path string) (pkts []udpPacket, skipped int) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(data) < 24 {
		t.Fatalf("%s: short pcap header", path)
	}
	var bo binary.ByteOrder
	switch binary.LittleEndian.Uint32(data) {
	case 0xa1b2c3d4, 0xa1b23c4d:
		bo = binary.LittleEndian
	case 0xd4c3b2a1, 0x4d3cb2a1:
		bo = binary.BigEndian
	default:
		t.Fatalf("%s: not a classic pcap file", path)
	}
	link := bo.Uint32(data[20:]) & 0x0fffffff
	for off := 24; off < len(data); {
		if off+16 > len(data) {
			t.Fatalf("%s: truncated record header at %d", path, off)
		}
		incl := int(bo.Uint32(data[off+8:]))
		orig := int(bo.Uint32(data[off+12:]))
		off += 16
		if off+incl > len(data) {
			t.Fatalf("%s: truncated record at %d", path, off)
		}
		if incl != orig {
			t.Fatalf("%s: packet at %d truncated by the capture (%d of %d bytes)", path, off, incl, orig)
		}
		frame := data[off : off+incl]
		off += incl
		p, ok := udpOf(t, link, frame)
		if !ok {
			skipped++
			continue
		}
		pkts = append(pkts, p)
	}
	return pkts, skipped
}

func udpOf(t testing.TB, link uint32, frame []byte) (udpPacket, bool) {
	var ip []byte
	switch link {
	case linkEthernet:
		if len(frame) < 14 {
			return udpPacket{}, false
		}
		etype, rest := binary.BigEndian.Uint16(frame[12:]), frame[14:]
		for etype == 0x8100 && len(rest) >= 4 { // VLAN tag
			etype, rest = binary.BigEndian.Uint16(rest[2:]), rest[4:]
		}
		if etype != 0x0800 {
			return udpPacket{}, false
		}
		ip = rest
	case linkLinuxSLL:
		if len(frame) < 16 || binary.BigEndian.Uint16(frame[14:]) != 0x0800 {
			return udpPacket{}, false
		}
		ip = frame[16:]
	case linkRaw:
		ip = frame
	default:
		t.Fatalf("unsupported pcap link type %d", link)
	}
	if len(ip) < 20 || ip[0]>>4 != 4 {
		return udpPacket{}, false
	}
	ihl := int(ip[0]&0x0f) * 4
	total := int(binary.BigEndian.Uint16(ip[2:]))
	if ihl < 20 || total < ihl || total > len(ip) || ip[9] != 17 {
		return udpPacket{}, false
	}
	if frag := binary.BigEndian.Uint16(ip[6:]); frag&0x3fff != 0 { // MF or offset
		return udpPacket{}, false
	}
	udp := ip[ihl:total]
	if len(udp) < 8 {
		return udpPacket{}, false
	}
	ulen := int(binary.BigEndian.Uint16(udp[4:]))
	if ulen < 8 || ulen > len(udp) {
		return udpPacket{}, false
	}
	sport, dport := binary.BigEndian.Uint16(udp[0:]), binary.BigEndian.Uint16(udp[2:])
	return udpPacket{
		src:     fmt.Sprintf("%d.%d.%d.%d:%d", ip[12], ip[13], ip[14], ip[15], sport),
		dst:     fmt.Sprintf("%d.%d.%d.%d:%d", ip[16], ip[17], ip[18], ip[19], dport),
		payload: udp[8:ulen],
	}, true
}
