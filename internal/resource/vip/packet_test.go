package vip

import (
	"bytes"
	"encoding/hex"
	"net"
	"net/netip"
	"strings"
	"testing"
)

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.Join(strings.Fields(s), ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

var testMAC = net.HardwareAddr{0x02, 0x00, 0x00, 0x00, 0x00, 0x01}

func TestARPFrame(t *testing.T) {
	ip := netip.MustParseAddr("10.98.1.100")
	pad := strings.Repeat("00", 18)
	tests := []struct {
		name string
		op   uint16
		want string
	}{
		{"request", arpRequest, `
			ffffffffffff 020000000001 0806
			0001 0800 06 04 0001
			020000000001 0a620164
			000000000000 0a620164` + pad},
		{"reply", arpReply, `
			ffffffffffff 020000000001 0806
			0001 0800 06 04 0002
			020000000001 0a620164
			ffffffffffff 0a620164` + pad},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := arpFrame(testMAC, ip, tt.op)
			want := unhex(t, tt.want)
			if len(got) != 60 {
				t.Errorf("len = %d, want 60", len(got))
			}
			if !bytes.Equal(got, want) {
				t.Errorf("frame\n got %x\nwant %x", got, want)
			}
		})
	}
}

func TestNAFrame(t *testing.T) {
	ip := netip.MustParseAddr("fd98::100")
	want := unhex(t, `
		333300000001 020000000001 86dd
		60000000 0020 3a ff
		fd980000000000000000000000000100
		ff020000000000000000000000000001
		88 00 576d 20000000
		fd980000000000000000000000000100
		02 01 020000000001`)
	got := naFrame(testMAC, ip)
	if !bytes.Equal(got, want) {
		t.Fatalf("frame\n got %x\nwant %x", got, want)
	}
	// Independent check: the one's-complement sum over pseudo-header and
	// message, checksum included, must be 0xffff.
	var sum uint32
	ph := append(append(append([]byte{}, got[22:38]...), got[38:54]...), 0, 0, 0, 32, 0, 0, 0, 58)
	for _, b := range [][]byte{ph, got[54:]} {
		for i := 0; i < len(b); i += 2 {
			sum += uint32(b[i])<<8 | uint32(b[i+1])
		}
	}
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	if sum != 0xffff {
		t.Errorf("checksum does not verify: folded sum %#x", sum)
	}
}

func TestICMPv6ChecksumOddLength(t *testing.T) {
	src := netip.MustParseAddr("::1")
	dst := netip.MustParseAddr("::2")
	// pseudo-header words: 1 + 2 + len 3 + 58 = 64; message 0x0102, 0x0300
	// -> 0x40 + 0x102 + 0x300 = 0x442, complement 0xfbbd.
	if got := icmpv6Checksum(src, dst, []byte{1, 2, 3}); got != 0xfbbd {
		t.Errorf("checksum = %#x, want 0xfbbd", got)
	}
}
