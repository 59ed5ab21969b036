//go:build roottest

package vip

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/linuxha/heartbeat/internal/resource"
)

// lab is a server namespace (where the agent runs, interface s0) and a
// client namespace (interface c0) joined by a veth pair, with
// 10.98.N.1/24 and fd98:0:0:N::1/64 on s0, .2 and ::2 on c0.
type lab struct {
	srv, cli netns.NsHandle
	n        int
	srvMAC   net.HardwareAddr
}

func (l *lab) v4(host int) netip.Addr {
	return netip.AddrFrom4([4]byte{10, 98, byte(l.n), byte(host)})
}

func (l *lab) v6(host int) netip.Addr {
	return netip.MustParseAddr(fmt.Sprintf("fd98:0:0:%x::%x", l.n, host))
}

func run(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

func newLab(t *testing.T) *lab {
	t.Helper()
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("ip (iproute2) not installed")
	}
	l := &lab{n: 1 + rand.IntN(250)}
	tag := fmt.Sprintf("hbr-%08x", rand.Uint32())
	sName, cName := tag+"-s", tag+"-c"
	for _, ns := range []string{sName, cName} {
		run(t, "ip", "netns", "add", ns)
		t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
	}
	run(t, "ip", "link", "add", "s0", "netns", sName, "type", "veth", "peer", "name", "c0", "netns", cName)
	for _, c := range [][]string{
		{"-n", sName, "link", "set", "lo", "up"},
		{"-n", sName, "link", "set", "s0", "up"},
		{"-n", sName, "addr", "add", l.v4(1).String() + "/24", "dev", "s0"},
		{"-n", sName, "addr", "add", l.v6(1).String() + "/64", "dev", "s0", "nodad"},
		{"-n", cName, "link", "set", "lo", "up"},
		{"-n", cName, "link", "set", "c0", "up"},
		{"-n", cName, "addr", "add", l.v4(2).String() + "/24", "dev", "c0"},
		{"-n", cName, "addr", "add", l.v6(2).String() + "/64", "dev", "c0", "nodad"},
	} {
		run(t, append([]string{"ip"}, c...)...)
	}
	var err error
	if l.srv, err = netns.GetFromName(sName); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.srv.Close() })
	if l.cli, err = netns.GetFromName(cName); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.cli.Close() })
	l.in(t, l.srv, func() {
		link, err := netlink.LinkByName("s0")
		if err != nil {
			t.Fatal(err)
		}
		l.srvMAC = link.Attrs().HardwareAddr
	})
	return l
}

// in runs f on the calling goroutine with its thread switched to ns. The
// agent opens every socket it uses synchronously, so this is enough to run
// it inside ns.
func (l *lab) in(t *testing.T, ns netns.NsHandle, f func()) {
	t.Helper()
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		t.Fatal(err)
	}
	defer orig.Close()
	if err := netns.Set(ns); err != nil {
		runtime.UnlockOSThread()
		t.Fatal(err)
	}
	defer func() {
		if err := netns.Set(orig); err != nil {
			t.Errorf("restore namespace: %v (thread stays locked and dies)", err)
			return
		}
		runtime.UnlockOSThread()
	}()
	f()
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func findAddr(t *testing.T, ifname string, a netip.Addr) *netlink.Addr {
	t.Helper()
	link, err := netlink.LinkByName(ifname)
	if err != nil {
		t.Fatal(err)
	}
	addrs, err := netlink.AddrList(link, family(a))
	if err != nil {
		t.Fatal(err)
	}
	for _, ad := range addrs {
		if ip, _ := netip.AddrFromSlice(ad.IP); ip.Unmap() == a {
			return &ad
		}
	}
	return nil
}

func wantState(t *testing.T, ag *Agent, want resource.State) {
	t.Helper()
	got, err := ag.Status(context.Background())
	if err != nil {
		t.Fatalf("status: %v", err)
	}
	if got != want {
		t.Fatalf("status = %v, want %v", got, want)
	}
}

func TestRootVIPv4Derived(t *testing.T) {
	l := newLab(t)
	ctx := context.Background()
	l.in(t, l.srv, func() {
		vip := l.v4(100)
		ag, err := New(vip.String(), Spec{Addr: vip}, Options{Count: 1, Logger: testLogger(t)})
		if err != nil {
			t.Fatal(err)
		}
		wantState(t, ag, resource.Stopped)
		if err := ag.Start(ctx); err != nil {
			t.Fatalf("start: %v", err)
		}
		ad := findAddr(t, "s0", vip)
		if ad == nil {
			t.Fatal("address not on s0 after start")
		}
		if bits, _ := ad.Mask.Size(); bits != 24 {
			t.Errorf("prefix length %d, want 24 (derived)", bits)
		}
		if want := l.v4(255); !ad.Broadcast.Equal(want.AsSlice()) {
			t.Errorf("broadcast %v, want %v", ad.Broadcast, want)
		}
		if ad.Flags&unix.IFA_F_SECONDARY == 0 {
			t.Errorf("flags %#x: want a secondary address", ad.Flags)
		}
		wantState(t, ag, resource.Running)
		c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(vip, 0)))
		if err != nil {
			t.Fatalf("bind to vip: %v", err)
		}
		c.Close()
		if err := ag.Start(ctx); err != nil {
			t.Fatalf("second start: %v", err)
		}
		if err := ag.Stop(ctx); err != nil {
			t.Fatalf("stop: %v", err)
		}
		if findAddr(t, "s0", vip) != nil {
			t.Fatal("address still on s0 after stop")
		}
		if findAddr(t, "s0", l.v4(1)) == nil {
			t.Fatal("stop removed the primary address")
		}
		wantState(t, ag, resource.Stopped)
		if err := ag.Stop(ctx); err != nil {
			t.Fatalf("second stop: %v", err)
		}
	})
}

func TestRootVIPv4Explicit(t *testing.T) {
	l := newLab(t)
	ctx := context.Background()
	l.in(t, l.srv, func() {
		vip := l.v4(101)
		brd := l.v4(111)
		ag, err := New("IPaddr2::x", Spec{Addr: vip, Bits: 28, Iface: "s0", Broadcast: brd}, Options{Count: 1})
		if err != nil {
			t.Fatal(err)
		}
		if err := ag.Start(ctx); err != nil {
			t.Fatalf("start: %v", err)
		}
		ad := findAddr(t, "s0", vip)
		if ad == nil {
			t.Fatal("address not on s0")
		}
		if bits, _ := ad.Mask.Size(); bits != 28 || !ad.Broadcast.Equal(brd.AsSlice()) {
			t.Errorf("got /%d brd %v, want /28 brd %v", bits, ad.Broadcast, brd)
		}
		if err := ag.Stop(ctx); err != nil {
			t.Fatal(err)
		}
		wantState(t, ag, resource.Stopped)

		// Interface given, prefix length derived from its connected route.
		ag2, err := New("x", Spec{Addr: vip, Iface: "s0"}, Options{Count: 1})
		if err != nil {
			t.Fatal(err)
		}
		if err := ag2.Start(ctx); err != nil {
			t.Fatal(err)
		}
		if ad := findAddr(t, "s0", vip); ad == nil {
			t.Error("address not on s0")
		} else if bits, _ := ad.Mask.Size(); bits != 24 {
			t.Errorf("prefix length %d, want 24", bits)
		}
		if err := ag2.Stop(ctx); err != nil {
			t.Fatal(err)
		}

		// No route covers the address.
		ag3, err := New("x", Spec{Addr: netip.MustParseAddr("10.98.251.7")}, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if err := ag3.Start(ctx); err == nil || !strings.Contains(err.Error(), "unable to find an interface") {
			t.Errorf("start without route: %v", err)
		}
	})
}

// TestRootRouteMetric checks that the derived interface and prefix come
// from the lowest-metric route, not the longest prefix: an IPv4 /27 on a
// second interface d0 with metric 1000 loses to the connected /24 on s0
// (metric 0), and an IPv6 /56 on it with metric 10 beats the
// connected /64 on s0 (metric 256).
func TestRootRouteMetric(t *testing.T) {
	l := newLab(t)
	ctx := context.Background()
	l.in(t, l.srv, func() {
		// a veth pair, since the dummy driver may be missing
		if err := netlink.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "d0"}, PeerName: "d1"}); err != nil {
			t.Fatal(err)
		}
		var d0 netlink.Link
		for _, name := range []string{"d1", "d0"} {
			link, err := netlink.LinkByName(name)
			if err != nil {
				t.Fatal(err)
			}
			if err := netlink.LinkSetUp(link); err != nil {
				t.Fatal(err)
			}
			d0 = link
		}
		for _, r := range []struct {
			dst    string
			metric int
		}{
			{fmt.Sprintf("10.98.%d.96/27", l.n), 1000},
			{"fd98::/56", 10},
		} {
			p := netip.MustParsePrefix(r.dst)
			if err := netlink.RouteAdd(&netlink.Route{LinkIndex: d0.Attrs().Index, Dst: ipNet(p),
				Priority: r.metric, Scope: netlink.SCOPE_LINK}); err != nil {
				t.Fatalf("route %s: %v", r.dst, err)
			}
		}
		for _, tc := range []struct {
			vip    netip.Addr
			ifname string
			bits   int
		}{
			{l.v4(101), "s0", 24},
			{l.v6(0x101), "d0", 56},
		} {
			ag, err := New(tc.vip.String(), Spec{Addr: tc.vip}, Options{Count: 1, Logger: testLogger(t)})
			if err != nil {
				t.Fatal(err)
			}
			if err := ag.Start(ctx); err != nil {
				t.Fatalf("start %s: %v", tc.vip, err)
			}
			if ad := findAddr(t, tc.ifname, tc.vip); ad == nil {
				t.Errorf("%s not on %s", tc.vip, tc.ifname)
			} else if bits, _ := ad.Mask.Size(); bits != tc.bits {
				t.Errorf("%s: prefix length %d, want %d", tc.vip, bits, tc.bits)
			}
			if err := ag.Stop(ctx); err != nil {
				t.Fatal(err)
			}
		}
	})
}

func TestRootVIPv6NoDAD(t *testing.T) {
	l := newLab(t)
	ctx := context.Background()
	l.in(t, l.srv, func() {
		vip := l.v6(0x100)
		ag, err := New("IPv6addr::"+vip.String(), Spec{Addr: vip}, Options{Count: 1})
		if err != nil {
			t.Fatal(err)
		}
		if err := ag.Start(ctx); err != nil {
			t.Fatalf("start: %v", err)
		}
		// Bind at once: a tentative (DAD) address would fail here.
		c, err := net.ListenUDP("udp6", net.UDPAddrFromAddrPort(netip.AddrPortFrom(vip, 0)))
		if err != nil {
			t.Fatalf("bind right after start: %v", err)
		}
		c.Close()
		ad := findAddr(t, "s0", vip)
		if ad == nil {
			t.Fatal("address not on s0")
		}
		if bits, _ := ad.Mask.Size(); bits != 64 {
			t.Errorf("prefix length %d, want 64", bits)
		}
		if ad.Flags&unix.IFA_F_TENTATIVE != 0 {
			t.Errorf("address is tentative (flags %#x)", ad.Flags)
		}
		wantState(t, ag, resource.Running)
		if err := ag.Stop(ctx); err != nil {
			t.Fatal(err)
		}
		wantState(t, ag, resource.Stopped)
	})
}

// capture is a raw socket on c0 in the client namespace.
type capture struct{ fd int }

func (l *lab) capture(t *testing.T) *capture {
	var c capture
	l.in(t, l.cli, func() {
		link, err := netlink.LinkByName("c0")
		if err != nil {
			t.Fatal(err)
		}
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(htons(unix.ETH_P_ALL)))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { unix.Close(fd) })
		if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: link.Attrs().Index}); err != nil {
			t.Fatal(err)
		}
		tv := unix.NsecToTimeval((100 * time.Millisecond).Nanoseconds())
		if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
			t.Fatal(err)
		}
		c.fd = fd
	})
	return &c
}

// frames reads frames until match has accepted want of them or the
// deadline passes; it returns the accepted frames.
func (c *capture) frames(want int, within time.Duration, match func([]byte) bool) [][]byte {
	var got [][]byte
	buf := make([]byte, 2048)
	end := time.Now().Add(within)
	for len(got) < want && time.Now().Before(end) {
		n, _, err := unix.Recvfrom(c.fd, buf, 0)
		if err != nil {
			continue // EAGAIN at the receive timeout
		}
		if f := buf[:n]; match(f) {
			got = append(got, append([]byte(nil), f...))
		}
	}
	return got
}

// staleNeighbour makes the client believe ip is at a stale, wrong MAC:
// Linux only updates existing entries from unsolicited announcements.
func (l *lab) staleNeighbour(t *testing.T, ip netip.Addr) {
	l.in(t, l.cli, func() {
		link, err := netlink.LinkByName("c0")
		if err != nil {
			t.Fatal(err)
		}
		err = netlink.NeighSet(&netlink.Neigh{
			LinkIndex: link.Attrs().Index, Family: family(ip), State: netlink.NUD_STALE,
			IP: ip.AsSlice(), HardwareAddr: net.HardwareAddr{0x02, 0, 0, 0, 0, 0x99},
		})
		if err != nil {
			t.Fatalf("neighbour add: %v", err)
		}
	})
}

// neighbourMoves subscribes to the client's neighbour table and returns a
// function that waits until ip is at mac.
func (l *lab) neighbourMoves(t *testing.T, ip netip.Addr, mac net.HardwareAddr) func(time.Duration) bool {
	ch := make(chan netlink.NeighUpdate, 64)
	done := make(chan struct{})
	t.Cleanup(func() { close(done) })
	if err := netlink.NeighSubscribeAt(l.cli, ch, done); err != nil {
		t.Fatal(err)
	}
	return func(within time.Duration) bool {
		timeout := time.After(within)
		for {
			select {
			case u := <-ch:
				if u.Type == unix.RTM_NEWNEIGH && u.IP.Equal(ip.AsSlice()) && bytes.Equal(u.HardwareAddr, mac) {
					return true
				}
			case <-timeout:
				return false
			}
		}
	}
}

func TestRootGratuitousARP(t *testing.T) {
	l := newLab(t)
	vip := l.v4(102)
	l.staleNeighbour(t, vip)
	moved := l.neighbourMoves(t, vip, l.srvMAC)
	capt := l.capture(t)

	var ag *Agent
	l.in(t, l.srv, func() {
		var err error
		// A long interval: the frames seen below can only be the immediate burst.
		ag, err = New(vip.String(), Spec{Addr: vip}, Options{Count: 3, Interval: time.Hour, Logger: testLogger(t)})
		if err != nil {
			t.Fatal(err)
		}
		if err := ag.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
	})
	frames := capt.frames(2, 2*time.Second, func(f []byte) bool {
		return len(f) >= 42 && binary.BigEndian.Uint16(f[12:14]) == etherTypeARP &&
			bytes.Equal(f[6:12], l.srvMAC) && bytes.Equal(f[28:32], vip.AsSlice())
	})
	if len(frames) != 2 {
		t.Fatalf("captured %d gratuitous ARP frames, want 2 (request and reply)", len(frames))
	}
	ops := map[uint16]bool{}
	for _, f := range frames {
		a := f[14:]
		ops[binary.BigEndian.Uint16(a[6:8])] = true
		if !bytes.Equal(f[0:6], ethBroadcast) || !bytes.Equal(a[8:14], l.srvMAC) || !bytes.Equal(a[24:28], vip.AsSlice()) {
			t.Errorf("bad gratuitous ARP %x", f)
		}
	}
	if !ops[arpRequest] || !ops[arpReply] {
		t.Errorf("ARP operations seen %v, want request and reply", ops)
	}
	if !moved(2 * time.Second) {
		t.Error("client neighbour entry did not move to the server's MAC")
	}
	stopped := make(chan error, 1)
	l.in(t, l.srv, func() { stopped <- ag.Stop(context.Background()) })
	if err := <-stopped; err != nil {
		t.Fatal(err)
	}
}

func TestRootUnsolicitedNA(t *testing.T) {
	l := newLab(t)
	vip := l.v6(0x102)
	l.staleNeighbour(t, vip)
	moved := l.neighbourMoves(t, vip, l.srvMAC)
	capt := l.capture(t)

	var ag *Agent
	l.in(t, l.srv, func() {
		var err error
		ag, err = New(vip.String(), Spec{Addr: vip}, Options{Count: 2, Interval: time.Hour, Logger: testLogger(t)})
		if err != nil {
			t.Fatal(err)
		}
		if err := ag.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
	})
	frames := capt.frames(1, 2*time.Second, func(f []byte) bool {
		return len(f) >= 86 && binary.BigEndian.Uint16(f[12:14]) == etherTypeIPv6 &&
			f[20] == protoICMPv6 && f[54] == icmpv6NeighborAdvert && bytes.Equal(f[6:12], l.srvMAC)
	})
	if len(frames) != 1 {
		t.Fatalf("captured %d neighbour advertisements, want 1", len(frames))
	}
	if want := naFrame(l.srvMAC, vip); !bytes.Equal(frames[0], want) {
		t.Errorf("advertisement\n got %x\nwant %x", frames[0], want)
	}
	if !moved(2 * time.Second) {
		t.Error("client neighbour entry did not move to the server's MAC (kernel rejected the NA?)")
	}
	l.in(t, l.srv, func() {
		if err := ag.Stop(context.Background()); err != nil {
			t.Fatal(err)
		}
	})
}

// Reannounce announces an address in place and never adds one: after a
// release it must not bring the address back.
func TestRootReannounceNeverAdds(t *testing.T) {
	l := newLab(t)
	ctx := context.Background()
	l.in(t, l.srv, func() {
		vip := l.v4(101)
		ag, err := New(vip.String(), Spec{Addr: vip}, Options{Count: 1, Logger: testLogger(t)})
		if err != nil {
			t.Fatal(err)
		}
		defer ag.Close()
		if err := ag.Reannounce(ctx); err != nil {
			t.Fatalf("reannounce, never started: %v", err)
		}
		if findAddr(t, "s0", vip) != nil {
			t.Fatal("reannounce added the address")
		}
		if err := ag.Start(ctx); err != nil {
			t.Fatalf("start: %v", err)
		}
		if err := ag.Reannounce(ctx); err != nil {
			t.Fatalf("reannounce, held: %v", err)
		}
		if findAddr(t, "s0", vip) == nil {
			t.Fatal("address gone after reannounce")
		}
		if err := ag.Stop(ctx); err != nil {
			t.Fatalf("stop: %v", err)
		}
		if err := ag.Reannounce(ctx); err != nil {
			t.Fatalf("reannounce, released: %v", err)
		}
		if findAddr(t, "s0", vip) != nil {
			t.Fatal("reannounce after stop brought the address back")
		}
	})
}
