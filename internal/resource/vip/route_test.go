package vip

import (
	"net"
	"net/netip"
	"testing"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

func TestChooseRoute(t *testing.T) {
	pfx := netip.MustParsePrefix
	routes := []route{
		{Dst: netip.Prefix{}, LinkIndex: 2, Gateway: true, Priority: 0}, // default
		{Dst: pfx("10.98.0.0/16"), LinkIndex: 3, Gateway: true},         // via a router
		{Dst: pfx("10.98.1.0/24"), LinkIndex: 4, Priority: 100},
		{Dst: pfx("10.98.1.0/24"), LinkIndex: 5, Priority: 50},
		{Dst: pfx("10.98.0.0/20"), LinkIndex: 6, Priority: 60},
		{Dst: pfx("10.98.1.128/25"), LinkIndex: 7, Type: unix.RTN_BLACKHOLE},
		{Dst: pfx("10.98.2.0/24"), LinkIndex: 8, Priority: 0},
		{Dst: pfx("10.98.3.0/24"), LinkIndex: 9, Priority: 7},
		{Dst: pfx("10.98.3.0/24"), LinkIndex: 1, Priority: 7},
		// 10.99/16: a longer prefix with a higher metric, and the reverse
		{Dst: pfx("10.99.0.0/16"), LinkIndex: 10, Priority: 10},
		{Dst: pfx("10.99.5.0/24"), LinkIndex: 11, Priority: 20},
		{Dst: pfx("10.99.6.0/24"), LinkIndex: 12, Priority: 5},
		{Dst: pfx("10.99.7.0/24"), LinkIndex: 13, Priority: 10}, // equal metric
		{Dst: pfx("10.99.8.0/24"), LinkIndex: 10, Priority: 30}, // on link 10 too
		{Dst: pfx("fd98::/64"), LinkIndex: 4, Priority: 256},
		{Dst: pfx("fd98::/48"), LinkIndex: 5, Priority: 100},
		{Dst: pfx("fd97::/48"), LinkIndex: 4, Priority: 256},
		{Dst: pfx("fd97::/64"), LinkIndex: 5, Priority: 1024},
		{Dst: pfx("fe80::/64"), LinkIndex: 4, Priority: 256},
	}
	tests := []struct {
		name   string
		addr   string
		link   int
		want   int // link index, 0 = none
		wantPx string
	}{
		{"lowest metric among equal prefixes", "10.98.1.200", 0, 5, "10.98.1.0/24"},
		{"restricted to given link", "10.98.1.200", 4, 4, "10.98.1.0/24"},
		{"restricted link uses its own route", "10.98.1.9", 5, 5, "10.98.1.0/24"},
		{"restricted link falls back to its shorter prefix", "10.98.1.9", 6, 6, "10.98.0.0/20"},
		{"only the shorter prefix covers", "10.98.4.1", 0, 6, "10.98.0.0/20"},
		{"gateway and default routes do not count", "10.98.200.1", 0, 0, ""},
		{"nothing covers", "192.0.2.1", 0, 0, ""},
		{"restricted link without cover", "10.98.2.1", 4, 0, ""},
		{"tie broken by lowest index", "10.98.3.3", 0, 1, "10.98.3.0/24"},
		{"longer prefix with higher metric loses", "10.99.5.1", 0, 10, "10.99.0.0/16"},
		{"longer prefix with lower metric wins", "10.99.6.1", 0, 12, "10.99.6.0/24"},
		{"equal metric: longer prefix wins", "10.99.7.1", 0, 13, "10.99.7.0/24"},
		{"restricted link: lower metric beats longer prefix", "10.99.8.1", 10, 10, "10.99.0.0/16"},
		{"ipv6 lower metric beats longer prefix", "fd98::100", 0, 5, "fd98::/48"},
		{"ipv6 restricted link", "fd98::100", 4, 4, "fd98::/64"},
		{"ipv6 longer prefix with higher metric loses", "fd97::1", 0, 4, "fd97::/48"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, ok := chooseRoute(routes, netip.MustParseAddr(tt.addr), tt.link)
			if tt.want == 0 {
				if ok {
					t.Fatalf("got route %+v, want none", r)
				}
				return
			}
			if !ok {
				t.Fatalf("no route, want link %d", tt.want)
			}
			if r.LinkIndex != tt.want || r.Dst.String() != tt.wantPx {
				t.Errorf("got link %d %s, want link %d %s", r.LinkIndex, r.Dst, tt.want, tt.wantPx)
			}
		})
	}
}

func TestBroadcastOf(t *testing.T) {
	tests := []struct{ in, want string }{
		{"10.98.1.100/24", "10.98.1.255"},
		{"10.98.1.100/16", "10.98.255.255"},
		{"10.98.1.100/25", "10.98.1.127"},
		{"10.98.1.200/25", "10.98.1.255"},
		{"10.98.1.100/30", "10.98.1.103"},
		{"10.98.1.100/8", "10.255.255.255"},
		{"10.98.1.100/31", "invalid IP"},
		{"10.98.1.100/32", "invalid IP"},
		{"fd98::1/64", "invalid IP"},
	}
	for _, tt := range tests {
		if got := broadcastOf(netip.MustParsePrefix(tt.in)).String(); got != tt.want {
			t.Errorf("broadcastOf(%s) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

func TestFromNetlink(t *testing.T) {
	_, dst, _ := net.ParseCIDR("10.98.1.0/24")
	got := fromNetlink(netlink.Route{Dst: dst, LinkIndex: 3, Priority: 20, Type: unix.RTN_UNICAST})
	want := route{Dst: netip.MustParsePrefix("10.98.1.0/24"), LinkIndex: 3, Priority: 20, Type: unix.RTN_UNICAST}
	if got != want {
		t.Errorf("got %+v, want %+v", got, want)
	}
	gw := fromNetlink(netlink.Route{LinkIndex: 3, Gw: net.ParseIP("10.98.1.1")})
	if !gw.Gateway || gw.Dst.IsValid() {
		t.Errorf("default via gateway: got %+v", gw)
	}
}

func TestNewValidates(t *testing.T) {
	bad := []Spec{
		{},
		{Addr: netip.MustParseAddr("10.98.1.1"), Bits: 33},
		{Addr: netip.MustParseAddr("fd98::1"), Broadcast: netip.MustParseAddr("10.98.1.255")},
		{Addr: netip.MustParseAddr("fe80::1%eth0")},
		{Addr: netip.MustParseAddr("::ffff:10.98.1.1")},
	}
	for _, s := range bad {
		if _, err := New("t", s, Options{}); err == nil {
			t.Errorf("New(%+v) succeeded", s)
		}
	}
	a, err := New("10.98.1.1", Spec{Addr: netip.MustParseAddr("10.98.1.1"), Bits: 24}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if a.opts.Count != DefaultCount || a.opts.Interval != DefaultInterval || a.Token() != "10.98.1.1" {
		t.Errorf("defaults not applied: %+v token %q", a.opts, a.Token())
	}
}
