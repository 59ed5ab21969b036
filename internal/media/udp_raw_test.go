package media

import (
	"net"
	"net/netip"
	"testing"
)

// The raw send and receive paths carry datagrams and sender addresses as
// the net package does.
func TestRawSendReceive(t *testing.T) {
	for _, tc := range []struct {
		net, addr string
		v6        bool
	}{{"udp4", "127.0.0.1:0", false}, {"udp6", "[::1]:0", true}} {
		t.Run(tc.net, func(t *testing.T) {
			rx, err := net.ListenUDP(tc.net, net.UDPAddrFromAddrPort(netip.MustParseAddrPort(tc.addr)))
			if err != nil {
				t.Skipf("no %s loopback: %v", tc.net, err)
			}
			defer rx.Close()
			tx, err := net.ListenUDP(tc.net, net.UDPAddrFromAddrPort(netip.MustParseAddrPort(tc.addr)))
			if err != nil {
				t.Fatal(err)
			}
			defer tx.Close()
			txrc, err := tx.SyscallConn()
			if err != nil {
				t.Fatal(err)
			}
			rxrc, err := rx.SyscallConn()
			if err != nil {
				t.Fatal(err)
			}
			dst, err := toRawSockaddr(rx.LocalAddr().(*net.UDPAddr).AddrPort(), tc.v6)
			if err != nil {
				t.Fatal(err)
			}
			s := newRawSender(txrc)
			r := newRawReceiver(rxrc, make([]byte, MaxDatagram), func(id uint32) string { return "zone" })
			for _, msg := range []string{"one", "two"} {
				if err := s.sendTo([]byte(msg), &dst, netip.AddrPort{}); err != nil {
					t.Fatal(err)
				}
				n, from, err := r.recvFrom()
				if err != nil {
					t.Fatal(err)
				}
				if got := string(r.buf[:n]); got != msg {
					t.Errorf("got %q, want %q", got, msg)
				}
				if want := tx.LocalAddr().(*net.UDPAddr).AddrPort(); from != want {
					t.Errorf("from %v, want %v", from, want)
				}
			}
			rx.Close()
			if _, _, err := r.recvFrom(); err == nil {
				t.Error("receive on a closed socket: no error")
			}
		})
	}
}

func TestToRawSockaddrRefuses(t *testing.T) {
	if _, err := toRawSockaddr(netip.MustParseAddrPort("[2001:db8::1]:694"), false); err == nil {
		t.Error("ipv6 destination on an ipv4 socket accepted")
	}
	if _, err := toRawSockaddr(netip.MustParseAddrPort("10.0.0.1:694"), true); err == nil {
		t.Error("ipv4 destination on an ipv6 socket accepted")
	}
}
