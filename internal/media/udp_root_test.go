//go:build roottest

package media

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/netip"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netns"

	"github.com/linuxha/heartbeat/internal/engine"
)

// lab is two network namespaces joined by a veth pair, 10.99.0.1/24 and
// fd99::1/64 on a, 10.99.0.2/24 and fd99::2/64 on b.
type lab struct {
	t              *testing.T
	nsA, nsB       string
	devA, devB     string
	addrA, addrB   netip.Addr
	addr6A, addr6B netip.Addr
}

func ipCmd(t *testing.T, args ...string) {
	t.Helper()
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
	}
}

func newLab(t *testing.T) *lab {
	t.Helper()
	var r [3]byte
	_, _ = rand.Read(r[:])
	id := hex.EncodeToString(r[:])
	l := &lab{
		t: t, nsA: "hbt-" + id + "-a", nsB: "hbt-" + id + "-b",
		devA: "hb" + id + "a", devB: "hb" + id + "b",
		addrA: netip.MustParseAddr("10.99.0.1"), addrB: netip.MustParseAddr("10.99.0.2"),
		addr6A: netip.MustParseAddr("fd99::1"), addr6B: netip.MustParseAddr("fd99::2"),
	}
	for _, ns := range []string{l.nsA, l.nsB} {
		ipCmd(t, "netns", "add", ns)
		t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", ns).Run() })
		ipCmd(t, "-n", ns, "link", "set", "lo", "up")
	}
	l.link()
	return l
}

// link (re)creates the veth pair and its addresses.
func (l *lab) link() {
	t := l.t
	ipCmd(t, "link", "add", l.devA, "netns", l.nsA, "type", "veth", "peer", "name", l.devB, "netns", l.nsB)
	for _, x := range []struct {
		ns, dev, a4, a6 string
	}{{l.nsA, l.devA, "10.99.0.1/24", "fd99::1/64"}, {l.nsB, l.devB, "10.99.0.2/24", "fd99::2/64"}} {
		ipCmd(t, "-n", x.ns, "addr", "add", x.a4, "dev", x.dev)
		ipCmd(t, "-n", x.ns, "addr", "add", x.a6, "dev", x.dev, "nodad")
		ipCmd(t, "-n", x.ns, "link", "set", x.dev, "up")
	}
}

// open opens specs in namespace ns.
func (l *lab) open(ns string, specs []Spec, opts Options) ([]engine.Medium, error) {
	l.t.Helper()
	type result struct {
		ms  []engine.Medium
		err error
	}
	res := make(chan result, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread dies with the goroutine
		h, err := netns.GetFromName(ns)
		if err != nil {
			res <- result{err: err}
			return
		}
		defer h.Close()
		if err := netns.Set(h); err != nil {
			res <- result{err: err}
			return
		}
		ms, err := Open(l.t.Context(), specs, opts)
		res <- result{ms, err}
	}()
	r := <-res
	for _, m := range r.ms {
		l.t.Cleanup(func() { _ = m.Close() })
	}
	return r.ms, r.err
}

func (l *lab) mustOpen(ns string, specs []Spec, opts Options) engine.Medium {
	l.t.Helper()
	ms, err := l.open(ns, specs, opts)
	if err != nil {
		l.t.Fatal(err)
	}
	if len(ms) != 1 {
		l.t.Fatalf("%d media, want 1", len(ms))
	}
	return ms[0]
}

func expectFrom(t *testing.T, m engine.Medium, data string, from netip.Addr) {
	t.Helper()
	p := recvPacket(t, m.Packets())
	if string(p.Data) != data {
		t.Fatalf("%s received %q, want %q", m.Name(), p.Data, data)
	}
	ap, err := netip.ParseAddrPort(p.From)
	if err != nil || ap.Addr().WithZone("") != from {
		t.Fatalf("%s: packet from %q, want address %s", m.Name(), p.From, from)
	}
}

func TestRootUcast(t *testing.T) {
	l := newLab(t)
	// A VIP in the subnet (secondary) that the route would even prefer as
	// source: heartbeats must still leave from the primary address.
	ipCmd(t, "-n", l.nsA, "addr", "add", "10.99.0.100/24", "dev", l.devA)
	ipCmd(t, "-n", l.nsA, "route", "replace", "10.99.0.0/24", "dev", l.devA, "src", "10.99.0.100")
	specs := func(dev string) []Spec {
		return []Spec{
			{Kind: Ucast, Dev: dev, Peers: []netip.Addr{l.addrA}, Line: 1},
			{Kind: Ucast, Dev: dev, Peers: []netip.Addr{l.addrB}, Line: 2},
		}
	}
	a := l.mustOpen(l.nsA, specs(l.devA), Options{})
	b := l.mustOpen(l.nsB, specs(l.devB), Options{})
	if a.Name() != l.devA {
		t.Fatalf("name %q", a.Name())
	}
	if err := a.Send([]byte("from a")); err != nil {
		t.Fatal(err)
	}
	expectFrom(t, b, "from a", l.addrA)
	if err := b.Send([]byte("from b")); err != nil {
		t.Fatal(err)
	}
	expectFrom(t, a, "from b", l.addrB)

	msg := []byte("hb")
	if n := testing.AllocsPerRun(50, func() { _ = a.Send(msg) }); n != 0 {
		t.Errorf("Send allocates %v times per datagram", n)
	}
}

func TestRootBcastMcast(t *testing.T) {
	l := newLab(t)
	group := netip.MustParseAddr("239.0.0.43")
	for _, tc := range []struct {
		name string
		spec func(dev string) Spec
	}{
		{"bcast", func(dev string) Spec { return Spec{Kind: Bcast, Dev: dev, Line: 1} }},
		{"mcast", func(dev string) Spec {
			return Spec{Kind: Mcast, Dev: dev, Group: group, Port: 6694, TTL: 1, Loop: true, Line: 1}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := l.mustOpen(l.nsA, []Spec{tc.spec(l.devA)}, Options{})
			b := l.mustOpen(l.nsB, []Spec{tc.spec(l.devB)}, Options{})
			// a's own datagram loops back to a and must be dropped: the
			// first packet a gets is b's answer.
			if err := a.Send([]byte("ping")); err != nil {
				t.Fatal(err)
			}
			expectFrom(t, b, "ping", l.addrA)
			if err := b.Send([]byte("pong")); err != nil {
				t.Fatal(err)
			}
			expectFrom(t, a, "pong", l.addrB)
			_ = a.Close()
			_ = b.Close()
		})
	}
}

func TestRootIPv6(t *testing.T) {
	l := newLab(t)
	group := netip.MustParseAddr("ff15::43")
	for _, tc := range []struct {
		name       string
		specA, spB Spec
	}{
		{"ucast6",
			Spec{Kind: Ucast6, Dev: l.devA, Peers: []netip.Addr{l.addr6B}, Line: 1},
			Spec{Kind: Ucast6, Dev: l.devB, Peers: []netip.Addr{l.addr6A}, Line: 1}},
		{"mcast6",
			Spec{Kind: Mcast6, Dev: l.devA, Group: group, Port: 694, TTL: 1, Loop: true, Line: 1},
			Spec{Kind: Mcast6, Dev: l.devB, Group: group, Port: 694, TTL: 1, Loop: true, Line: 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := l.mustOpen(l.nsA, []Spec{tc.specA}, Options{})
			b := l.mustOpen(l.nsB, []Spec{tc.spB}, Options{})
			if err := a.Send([]byte("ping6")); err != nil {
				t.Fatal(err)
			}
			expectFrom(t, b, "ping6", l.addr6A)
			if err := b.Send([]byte("pong6")); err != nil {
				t.Fatal(err)
			}
			expectFrom(t, a, "pong6", l.addr6B)
			_ = a.Close()
			_ = b.Close()
		})
	}
}

func TestRootUcastSelfOnly(t *testing.T) {
	l := newLab(t)
	ms, err := l.open(l.nsA, []Spec{{Kind: Ucast, Dev: l.devA, Peers: []netip.Addr{l.addrA}, Line: 1}}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 0 {
		t.Fatalf("a ucast line naming our own address opened %d media", len(ms))
	}
	_, err = l.open(l.nsA, []Spec{{Kind: Ucast, Dev: "hbtnone9", Peers: []netip.Addr{l.addrB}, Line: 9}}, Options{})
	if err == nil || err.Error() != "ha.cf:9: ucast hbtnone9: no such interface" {
		t.Fatalf("missing interface: %v", err)
	}
}

func TestRootInterfaceRemoval(t *testing.T) {
	l := newLab(t)
	logA, msgsA := testLogger(t)
	logB, msgsB := testLogger(t)
	oa := Options{Retry: 50 * time.Millisecond, Logger: logA}
	ob := Options{Retry: 50 * time.Millisecond, Logger: logB}
	a := l.mustOpen(l.nsA, []Spec{{Kind: Ucast, Dev: l.devA, Peers: []netip.Addr{l.addrB}, Line: 1}}, oa)
	b := l.mustOpen(l.nsB, []Spec{{Kind: Ucast, Dev: l.devB, Peers: []netip.Addr{l.addrA}, Line: 1}}, ob)
	if err := a.Send([]byte("before")); err != nil {
		t.Fatal(err)
	}
	expectFrom(t, b, "before", l.addrA)

	ipCmd(t, "-n", l.nsA, "link", "del", l.devA) // takes the peer end too
	waitLog(t, msgsA, "medium down")
	waitLog(t, msgsB, "medium down")
	if err := a.Send([]byte("lost")); !errors.Is(err, ErrDown) {
		t.Fatalf("send without interface: %v", err)
	}
	select {
	case _, ok := <-a.Packets():
		if !ok {
			t.Fatal("packets closed while down")
		}
	default:
	}

	l.link() // new interfaces, new indexes
	waitLog(t, msgsA, "medium up")
	waitLog(t, msgsB, "medium up")
	if err := a.Send([]byte("after")); err != nil {
		t.Fatal(err)
	}
	expectFrom(t, b, "after", l.addrA)
	if err := b.Send([]byte("back")); err != nil {
		t.Fatal(err)
	}
	expectFrom(t, a, "back", l.addrB)
}

// With change reports the medium needs no polling: at a retry interval of
// an hour, a link going down and up and a new primary address are seen at
// once, because the kernel reports them (linkWatch).
func TestRootLinkChangeReported(t *testing.T) {
	l := newLab(t)
	logA, msgsA := testLogger(t)
	oa := Options{Retry: time.Hour, Logger: logA}
	a := l.mustOpen(l.nsA, []Spec{{Kind: Ucast, Dev: l.devA, Peers: []netip.Addr{l.addrB}, Line: 1}}, oa)
	b := l.mustOpen(l.nsB, []Spec{{Kind: Ucast, Dev: l.devB, Peers: []netip.Addr{l.addrA, netip.MustParseAddr("10.99.0.3")}, Line: 1}}, Options{Retry: time.Hour})
	if err := a.Send([]byte("before")); err != nil {
		t.Fatal(err)
	}
	expectFrom(t, b, "before", l.addrA)

	ipCmd(t, "-n", l.nsA, "link", "set", l.devA, "down")
	waitLog(t, msgsA, "medium down")
	if err := a.Send([]byte("lost")); !errors.Is(err, ErrDown) {
		t.Fatalf("send on a link that is down: %v", err)
	}
	ipCmd(t, "-n", l.nsA, "link", "set", l.devA, "up")
	waitLog(t, msgsA, "medium up")
	if err := a.Send([]byte("after")); err != nil {
		t.Fatal(err)
	}
	expectFrom(t, b, "after", l.addrA)

	// Renumbered: without an address the medium is down; with a new one
	// the heartbeats leave from it.
	ipCmd(t, "-n", l.nsA, "addr", "del", "10.99.0.1/24", "dev", l.devA)
	waitLog(t, msgsA, "medium down")
	ipCmd(t, "-n", l.nsA, "addr", "add", "10.99.0.3/24", "dev", l.devA)
	waitLog(t, msgsA, "medium up")
	if err := a.Send([]byte("renumbered")); err != nil {
		t.Fatal(err)
	}
	expectFrom(t, b, "renumbered", netip.MustParseAddr("10.99.0.3"))
}

// A receive error with no link or address change behind it takes the
// medium down; it is reopened at once, not at the backstop, although the
// monitor of a medium that was up sleeps until then (Retry an hour here).
func TestRootReceiveErrorReopens(t *testing.T) {
	l := newLab(t)
	// No link or address report may come after the medium opens, or it
	// would reopen the medium on its own and the test prove nothing: no
	// IPv6 (its DAD reports), and the carrier's report already sent.
	if out, err := exec.Command("ip", "netns", "exec", l.nsA, "sysctl", "-qw", "net.ipv6.conf."+l.devA+".disable_ipv6=1").CombinedOutput(); err != nil {
		t.Fatalf("disable IPv6: %v: %s", err, out)
	}
	for deadline := time.Now().Add(10 * time.Second); ; {
		out, err := exec.Command("ip", "-n", l.nsA, "link", "show", l.devA).CombinedOutput()
		if err == nil && strings.Contains(string(out), "LOWER_UP") && strings.Contains(string(out), "state UP") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("link not up: %v: %s", err, out)
		}
		time.Sleep(10 * time.Millisecond) // polls a state the kernel sets on its own
	}
	logA, msgsA := testLogger(t)
	a := l.mustOpen(l.nsA, []Spec{{Kind: Ucast, Dev: l.devA, Peers: []netip.Addr{l.addrB}, Line: 1}}, Options{Retry: time.Hour, Logger: logA})
	b := l.mustOpen(l.nsB, []Spec{{Kind: Ucast, Dev: l.devB, Peers: []netip.Addr{l.addrA}, Line: 1}}, Options{Retry: time.Hour})
	u, ok := a.(*udpMedium)
	if !ok {
		t.Fatalf("medium is a %T, want *udpMedium", a)
	}
	if !u.watching.Load() {
		t.Fatal("no link change reports: the monitor polls every retry and the test proves nothing")
	}
	u.mu.Lock()
	st := u.st
	u.mu.Unlock()
	if st == nil {
		t.Fatal("medium not up")
	}
	u.markDown(st, errors.New("receive: injected"))
	waitLog(t, msgsA, "medium down")
	waitLog(t, msgsA, "medium up")
	if err := a.Send([]byte("reopened")); err != nil {
		t.Fatal(err)
	}
	expectFrom(t, b, "reopened", l.addrA)
}

// IPv6 knows no primary address and the kernel lists the newest address
// first: a VIP this node takes over (added like ours, with nodad) must not
// become the heartbeat source, neither for a medium already open nor for
// one opened while the VIP is held.
func TestRootIPv6VIPNotSource(t *testing.T) {
	l := newLab(t)
	logA, msgsA := testLogger(t)
	oa := Options{Retry: 20 * time.Millisecond, Logger: logA}
	spec := func(dev string, peer netip.Addr) []Spec {
		return []Spec{{Kind: Ucast6, Dev: dev, Peers: []netip.Addr{peer}, Line: 1}}
	}
	a := l.mustOpen(l.nsA, spec(l.devA, l.addr6B), oa)
	b := l.mustOpen(l.nsB, spec(l.devB, l.addr6A), Options{})
	if err := a.Send([]byte("before")); err != nil {
		t.Fatal(err)
	}
	expectFrom(t, b, "before", l.addr6A)

	ipCmd(t, "-n", l.nsA, "addr", "add", "fd99::100/64", "dev", l.devA, "nodad")
	out, err := exec.Command("ip", "-n", l.nsA, "-6", "addr", "show", "dev", l.devA, "scope", "global").CombinedOutput()
	if err != nil || strings.Index(string(out), "fd99::100") > strings.Index(string(out), "fd99::1/") {
		t.Fatalf("the kernel does not list the VIP first, the test proves nothing: %v\n%s", err, out)
	}
	time.Sleep(200 * time.Millisecond) // ten interface checks at Retry 20ms
	if err := a.Send([]byte("with vip")); err != nil {
		t.Fatal(err)
	}
	expectFrom(t, b, "with vip", l.addr6A)
	for done := false; !done; {
		select {
		case m := <-msgsA:
			if strings.Contains(m, "medium down") || strings.Contains(m, "changed") {
				t.Errorf("adding a VIP disturbed the medium: %s", m)
			}
		default:
			done = true
		}
	}

	// A medium opened while the VIP is held picks the node's own address.
	c := l.mustOpen(l.nsA, []Spec{{Kind: Mcast6, Dev: l.devA, Group: netip.MustParseAddr("ff15::44"), Port: 694, TTL: 1, Loop: false, Line: 2}}, Options{})
	d := l.mustOpen(l.nsB, []Spec{{Kind: Mcast6, Dev: l.devB, Group: netip.MustParseAddr("ff15::44"), Port: 694, TTL: 1, Loop: false, Line: 2}}, Options{})
	if err := c.Send([]byte("fresh")); err != nil {
		t.Fatal(err)
	}
	expectFrom(t, d, "fresh", l.addr6A)
}

// A medium is bound to its device (SO_BINDTODEVICE): a heartbeat that
// reaches the node's port over another interface is not this medium's, so
// a cable pulled on eth0 is not hidden by traffic arriving on eth1.
func TestRootBoundToDevice(t *testing.T) {
	l := newLab(t)
	devA2, devB2 := l.devA+"x", l.devB+"x"
	ipCmd(t, "link", "add", devA2, "netns", l.nsA, "type", "veth", "peer", "name", devB2, "netns", l.nsB)
	ipCmd(t, "-n", l.nsA, "addr", "add", "10.98.0.1/24", "dev", devA2)
	ipCmd(t, "-n", l.nsB, "addr", "add", "10.98.0.2/24", "dev", devB2)
	ipCmd(t, "-n", l.nsA, "link", "set", devA2, "up")
	ipCmd(t, "-n", l.nsB, "link", "set", devB2, "up")
	a := l.mustOpen(l.nsA, []Spec{{Kind: Ucast, Dev: l.devA, Peers: []netip.Addr{l.addrB}, Line: 1}}, Options{})
	b := l.mustOpen(l.nsB, []Spec{{Kind: Ucast, Dev: l.devB, Peers: []netip.Addr{l.addrA}, Line: 1}}, Options{})
	// The stray one is even addressed to node A's eth0 address (Linux
	// accepts it on any interface): only the device binding keeps it out.
	ipCmd(t, "-n", l.nsB, "route", "add", l.addrA.String()+"/32", "dev", devB2)
	b2 := l.mustOpen(l.nsB, []Spec{{Kind: Ucast, Dev: devB2, Peers: []netip.Addr{l.addrA}, Line: 2}}, Options{})
	if err := b2.Send([]byte("other device")); err != nil {
		t.Fatal(err)
	}
	if err := b.Send([]byte("own device")); err != nil {
		t.Fatal(err)
	}
	expectFrom(t, a, "own device", l.addrB)
	select {
	case p := <-a.Packets():
		t.Fatalf("medium on %s received %q from %s, which came in on %s", l.devA, p.Data, p.From, devA2)
	case <-time.After(300 * time.Millisecond):
	}
}

// TestRootUcastReprobe: a ucast peer that did not answer ARP for a while
// leaves our neighbour entry for it INCOMPLETE, and the kernel asks again
// only after retrans_time (5 s here). When the peer is heard again, the
// medium resets that entry, so our next heartbeats reach it at once.
func TestRootUcastReprobe(t *testing.T) {
	l := newLab(t)
	sysctl := func(ns, kv string) {
		t.Helper()
		if out, err := exec.Command("ip", "netns", "exec", ns, "sysctl", "-qw", kv).CombinedOutput(); err != nil {
			t.Fatalf("sysctl %s: %v: %s", kv, err, out)
		}
	}
	sysctl(l.nsA, "net.ipv4.neigh."+l.devA+".retrans_time_ms=5000")
	sysctl(l.nsB, "net.ipv4.conf."+l.devB+".arp_ignore=8") // b answers no ARP
	// b knows a's MAC, so a never sees an ARP request from b (as with a
	// peer that had us cached while we were away).
	out, err := exec.Command("ip", "-n", l.nsA, "-br", "link", "show", l.devA).Output()
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(out))
	if len(f) < 3 {
		t.Fatalf("ip -br link: %q", out)
	}
	ipCmd(t, "-n", l.nsB, "neigh", "replace", l.addrA.String(), "lladdr", f[2], "dev", l.devB, "nud", "permanent")

	a := l.mustOpen(l.nsA, []Spec{{Kind: Ucast, Dev: l.devA, Peers: []netip.Addr{l.addrB}, Line: 1}}, Options{})
	b := l.mustOpen(l.nsB, []Spec{{Kind: Ucast, Dev: l.devB, Peers: []netip.Addr{l.addrA}, Line: 1}}, Options{})
	if err := a.Send([]byte("lost")); err != nil {
		t.Fatal(err)
	}
	state := func() string {
		out, _ := exec.Command("ip", "-n", l.nsA, "neigh", "show", l.addrB.String(), "dev", l.devA).CombinedOutput()
		return strings.TrimSpace(string(out))
	}
	if s := state(); !strings.Contains(s, "INCOMPLETE") {
		t.Fatalf("a's neighbour entry for b after an unanswered send: %q, want INCOMPLETE", s)
	}
	sysctl(l.nsB, "net.ipv4.conf."+l.devB+".arp_ignore=0") // b is back
	if err := b.Send([]byte("back")); err != nil {
		t.Fatal(err)
	}
	expectFrom(t, a, "back", l.addrB)
	// a's heartbeats reach b well before the kernel's next probe (5 s).
	sent := time.Now()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		if err := a.Send([]byte("hb")); err != nil {
			t.Fatal(err)
		}
		select {
		case p := <-b.Packets():
			if string(p.Data) == "hb" {
				t.Logf("b hears a %v after a heard b; neighbour entry now %q", time.Since(sent).Round(time.Millisecond), state())
				return
			}
		case <-tick.C:
		}
		if time.Since(sent) > 2*time.Second {
			t.Fatalf("b did not hear a within 2 s of a hearing b; a's entry for b: %q", state())
		}
	}
}
