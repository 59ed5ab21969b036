package ping

import (
	"net/netip"
	"testing"

	"golang.org/x/sys/unix"
)

func TestEchoRequestBytes(t *testing.T) {
	got := EchoRequest(false, 0x1234, 7)
	want := []byte{8, 0, 0, 0, 0x12, 0x34, 0, 7, 'h', 'b', 'p', 'i', 'n', 'g', 0, 0}
	c := checksum(append([]byte{8, 0, 0, 0}, want[4:]...))
	want[2], want[3] = byte(c>>8), byte(c)
	if string(got) != string(want) {
		t.Fatalf("echo = % x\nwant   % x", got, want)
	}
	// A correct checksum sums to zero over the message.
	if checksum(got) != 0 {
		t.Errorf("checksum does not verify")
	}
	if v6 := EchoRequest(true, 1, 2); v6[0] != 128 || v6[2] != 0 || v6[3] != 0 {
		t.Errorf("icmpv6 echo = % x", v6)
	}
}

func TestParseAndMatchReply(t *testing.T) {
	p := New(nil, 0, nil)
	p.id = 0x4242
	ip := []byte{0x45, 0, 0, 36, 0, 0, 0, 0, 64, 1, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2}
	reply := EchoRequest(false, 0x4242, 1)
	reply[0] = 0
	addr, msg := parse(&unix.SockaddrInet4{Addr: [4]byte{10, 0, 0, 1}}, append(ip, reply...), false)
	if addr == nil || *addr != netip.MustParseAddr("10.0.0.1") || !p.isReply(msg, false) {
		t.Fatalf("reply not recognised: %v % x", addr, msg)
	}
	other := EchoRequest(false, 0x9999, 1)
	other[0] = 0
	if _, msg := parse(&unix.SockaddrInet4{}, append(ip, other...), false); p.isReply(msg, false) {
		t.Errorf("reply to another process accepted")
	}
	if _, msg := parse(&unix.SockaddrInet4{}, append(ip, EchoRequest(false, 0x4242, 1)...), false); p.isReply(msg, false) {
		t.Errorf("echo request taken as a reply")
	}
}
