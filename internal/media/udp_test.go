package media

import (
	"errors"
	"log/slog"
	"net/netip"
	"slices"
	"testing"
)

func TestGroupUDP(t *testing.T) {
	a := netip.MustParseAddr
	own := map[netip.Addr]struct{}{a("10.99.0.1"): {}}
	specs := []Spec{
		{Kind: Ucast, Dev: "eth0", Peers: []netip.Addr{a("10.99.0.1")}, Line: 1}, // ourselves: skipped
		{Kind: Ucast, Dev: "eth0", Peers: []netip.Addr{a("10.99.0.2")}, Line: 2},
		{Kind: Bcast, Dev: "eth0", Line: 3},
		{Kind: Ucast, Dev: "eth0", Peers: []netip.Addr{a("10.99.0.3")}, Line: 4},
		{Kind: Bcast, Dev: "eth1", Line: 5},
		{Kind: Mcast, Dev: "eth0", Group: a("239.0.0.43"), Port: 694, TTL: 1, Line: 6},
		{Kind: Ucast6, Dev: "eth0", Peers: []netip.Addr{a("fd99::2")}, Line: 7},
		{Kind: Ucast, Dev: "eth2", Peers: []netip.Addr{a("10.99.0.1")}, Line: 8}, // only ourselves: no medium
	}
	cfgs, err := groupUDP(specs, own, "ha.cf", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, c := range cfgs {
		keys = append(keys, c.key)
	}
	want := []string{"udp:eth0:694", "udp:eth1:694", "udp:eth0:239.0.0.43:694", "udp6:eth0:694"}
	if !slices.Equal(keys, want) {
		t.Fatalf("media %q, want %q", keys, want)
	}
	eth0 := cfgs[0]
	if !slices.Equal(eth0.peers, []netip.Addr{a("10.99.0.2"), a("10.99.0.3")}) || !eth0.bcast || eth0.first.Line != 2 {
		t.Fatalf("eth0 merged wrongly: peers %v bcast %v line %d", eth0.peers, eth0.bcast, eth0.first.Line)
	}
	if cfgs[1].bcast != true || len(cfgs[1].peers) != 0 {
		t.Fatalf("eth1: %+v", cfgs[1])
	}
}

func TestGroupUDPErrors(t *testing.T) {
	a := netip.MustParseAddr
	_, err := groupUDP([]Spec{
		{Kind: Mcast, Dev: "eth0", Group: a("10.0.0.1"), Line: 4},
		{Kind: Ucast, Dev: "eth0", Peers: []netip.Addr{a("fd99::1")}, Line: 5},
		{Kind: Ucast, Peers: []netip.Addr{a("10.0.0.1")}, Line: 6},
	}, nil, "ha.cf", slog.New(slog.DiscardHandler))
	want := "ha.cf:4: mcast eth0: 10.0.0.1 is not an ipv4 multicast group\n" +
		"ha.cf:5: ucast eth0: peer fd99::1 is not an ipv4 address\n" +
		"ha.cf:6: ucast : no interface"
	if err == nil || err.Error() != want {
		t.Fatalf("got %v\nwant %s", err, want)
	}
	var se *SpecError
	if !errors.As(err, &se) {
		t.Fatal("not a SpecError")
	}
}

func TestOpenNoInterface(t *testing.T) {
	specs := []Spec{{Kind: Ucast, Dev: "hbtnone0", Peers: []netip.Addr{netip.MustParseAddr("192.0.2.7")}, Line: 3}}
	ms, err := Open(t.Context(), specs, Options{})
	if err == nil {
		for _, m := range ms {
			_ = m.Close()
		}
		t.Fatal("opened a medium on a missing interface")
	}
	if want := "ha.cf:3: ucast hbtnone0: no such interface"; err.Error() != want {
		t.Fatalf("got %q, want %q", err, want)
	}
	if !errors.Is(err, ErrNoInterface) {
		t.Fatal("not ErrNoInterface")
	}
}
