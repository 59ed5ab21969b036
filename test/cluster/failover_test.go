//go:build clustertest

package cluster

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The failover tests run two nodes over ucast (keepalive 100ms, deadtime
// 500ms) with one group "node1 <VIP>/24/eth0 hbweb ...", a client probing
// http://<VIP>/ every 50ms; each logs its measured outages as "OUTAGE".

// servedWithin bounds the takeover after the owner fails: deadtime plus 2s.
const servedWithin = haDeadtime + 2*time.Second

// healWithin bounds how fast a healed split brain has one VIP holder
// again ("within a few keepalives"): the peers hear each other within a
// keepalive (the ucast medium resets a neighbour entry left unresolved by
// the cut, instead of waiting up to 1 s for the kernel's next ARP probe),
// exchange their resource reports, and one side stops hbweb and removes
// the VIP. Measured: 40-140 ms.
const healWithin = 5 * haKeepalive

// moveWithin bounds the interruption of a planned move (standby, takeover,
// failback) or of a heal: one release and one acquisition, no deadtime.
const moveWithin = 2 * time.Second

// TestFailoverKill9 kills the owner's daemon with SIGKILL: the peer takes
// the group after deadtime and the client is served by node2.
func TestFailoverKill9(t *testing.T) {
	start := time.Now()
	h := newHALab(t, haSetup{AutoFailback: "off"})
	ctx := t.Context()
	p := h.startCluster(ctx)
	n1, n2 := h.Node(1), h.Node(2)

	before := time.Now().Add(-500 * time.Millisecond)
	fault := time.Now()
	if _, err := n1.Run(ctx, "systemctl", "kill", "-s", "KILL", "heartbeat.service"); err != nil {
		t.Fatal(err)
	}
	served, err := p.waitServed(ctx, "node2", fault, servedWithin)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("node2 serves the VIP %v after kill -9 of node1's heartbeat", served.Sub(fault).Round(time.Millisecond))
	if _, err := h.waitOwner(ctx, "node2", 2*time.Second, n2); err != nil {
		t.Fatal(err)
	}
	// It keeps serving, also once systemd has restarted node1's daemon
	// (Restart=on-failure, RestartSec=1s).
	rs := p.settle(ctx, served, 2500*time.Millisecond)
	for _, r := range rs {
		if r.Node != "node2" {
			t.Errorf("after the takeover the VIP answered %q (%v), want node2", r.Node, r.Err)
		}
	}
	// node1's address and hbweb outlive its daemon, so node1 may go on
	// answering until node2's gratuitous ARP: the outage can be nil.
	p.checkOutage(t, "kill -9 of the owner's heartbeat", before, servedWithin)
	holders, err := h.holders(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("VIP holders 2.5s after the takeover: %v", holders)
	h.logHeartbeatJournal(ctx, n1, "heartbeat starting", "refusing", "left behind", "resource")
	h.logHeartbeatJournal(ctx, n2, "node status changed", "resource group")
	t.Logf("runtime %v", time.Since(start).Round(time.Millisecond))
}

// TestFailoverPowerOff cuts node1's power: node2 takes over, the client's
// neighbour entry for the VIP moves to node2 and only node2 answers ARP.
func TestFailoverPowerOff(t *testing.T) {
	start := time.Now()
	h := newHALab(t, haSetup{AutoFailback: "on"})
	ctx := t.Context()
	p := h.startCluster(ctx)
	n1, n2 := h.Node(1), h.Node(2)
	mac1, err := n1.MAC("eth0")
	if err != nil {
		t.Fatal(err)
	}
	mac2, err := n2.MAC("eth0")
	if err != nil {
		t.Fatal(err)
	}
	if mac, _, err := h.Client.NeighMAC(ctx, h.VIP); err != nil || mac != mac1 {
		t.Fatalf("client neighbour for the VIP before the fault: %q (%v), want node1's %s", mac, err, mac1)
	}

	before := time.Now().Add(-500 * time.Millisecond)
	fault := time.Now()
	if err := n1.PowerOff(); err != nil {
		t.Fatal(err)
	}
	served, err := p.waitServed(ctx, "node2", fault, servedWithin)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("node2 serves the VIP %v after node1's power cut", served.Sub(fault).Round(time.Millisecond))
	if _, err := h.waitOwner(ctx, "node2", 2*time.Second, n2); err != nil {
		t.Fatal(err)
	}
	for _, r := range p.settle(ctx, served, time.Second) {
		if r.Node != "node2" {
			t.Errorf("after the takeover the VIP answered %q (%v), want node2", r.Node, r.Err)
		}
	}
	if o := p.checkOutage(t, "power cut of the owner", before, servedWithin); o.Failed == 0 {
		t.Errorf("no failed request across a power cut of the owner: the prober saw nothing")
	}
	if mac, state, err := h.Client.NeighMAC(ctx, h.VIP); err != nil || mac != mac2 {
		t.Errorf("client neighbour for the VIP: %q %s (%v), want node2's %s", mac, state, err, mac2)
	}
	macs, err := arpWhoHas(h.Client, h.VIP, 600*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(macs, []string{mac2}) {
		t.Errorf("ARP replies for the VIP from %v, want only node2's %s", macs, mac2)
	}
	if holders, err := h.holders(ctx); err != nil || !slices.Equal(holders, []string{"node2"}) {
		t.Errorf("VIP holders %v (%v), want [node2]", holders, err)
	}
	t.Logf("runtime %v", time.Since(start).Round(time.Millisecond))
}

// TestFailoverLinkPull pulls node1's cable: node2 takes over; plugged back
// in, the split brain heals to one holder (node1, the preferred node with
// auto_failback on) and the client reaches the VIP again.
func TestFailoverLinkPull(t *testing.T) {
	start := time.Now()
	h := newHALab(t, haSetup{AutoFailback: "on"})
	ctx := t.Context()
	p := h.startCluster(ctx)
	n1, n2 := h.Node(1), h.Node(2)

	before := time.Now().Add(-500 * time.Millisecond)
	fault := time.Now()
	if err := n1.CutLink(); err != nil {
		t.Fatal(err)
	}
	served, err := p.waitServed(ctx, "node2", fault, servedWithin)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("node2 serves the VIP %v after node1's link was cut", served.Sub(fault).Round(time.Millisecond))
	// Both sides hold the group now: node1 cannot know.
	if _, err := h.waitHolders(ctx, 2*time.Second, "node1", "node2"); err != nil {
		t.Fatal(err)
	}
	if _, err := h.waitOwner(ctx, "node2", time.Second, n2); err != nil {
		t.Fatal(err)
	}
	// node2 serves steadily while the cable is out.
	for _, r := range p.settle(ctx, served, time.Second) {
		if r.Node != "node2" {
			t.Errorf("while node1 is cut off the VIP answered %q (%v), want node2", r.Node, r.Err)
		}
	}
	p.checkOutage(t, "link of the owner cut", before, servedWithin)
	// The client's neighbour entry moved to node2, and only node2 answers
	// ARP for the VIP (node1 still holds it, behind its cut cable).
	h.checkClientSees(ctx, n2)

	before = time.Now().Add(-300 * time.Millisecond)
	restored := time.Now()
	if err := n1.RestoreLink(); err != nil {
		t.Fatal(err)
	}
	d, err := h.waitHolders(ctx, healWithin, "node1")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("split brain healed: one VIP holder (node1) %v after the link came back", d.Round(time.Millisecond))
	if _, err := h.waitOwner(ctx, "node1", 2*time.Second); err != nil {
		t.Fatal(err)
	}
	back, err := p.waitServed(ctx, "node1", restored, 3*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("client served by node1 %v after the link came back", back.Sub(restored).Round(time.Millisecond))
	for _, r := range p.settle(ctx, back, time.Second) {
		if r.Node != "node1" {
			t.Errorf("after the heal the VIP answered %q (%v), want node1", r.Node, r.Err)
		}
	}
	p.checkOutage(t, "heal after the link came back", before, moveWithin)
	h.checkClientSees(ctx, n1)
	// Still one holder after a few more keepalives.
	if holders, err := h.holders(ctx); err != nil || !slices.Equal(holders, []string{"node1"}) {
		t.Errorf("VIP holders %v (%v), want [node1]", holders, err)
	}
	h.logHeartbeatJournal(ctx, n2, "split brain", "resource group", "node status changed")
	t.Logf("runtime %v", time.Since(start).Round(time.Millisecond))
}

// TestAutoFailbackOnOff powers node1 off and on again: with auto_failback on
// the group returns to node1, with off it stays on node2.
func TestAutoFailbackOnOff(t *testing.T) {
	for _, mode := range []string{"on", "off"} {
		t.Run(mode, func(t *testing.T) {
			start := time.Now()
			h := newHALab(t, haSetup{AutoFailback: mode})
			ctx := t.Context()
			p := h.startCluster(ctx)
			n1, n2 := h.Node(1), h.Node(2)

			before := time.Now().Add(-500 * time.Millisecond)
			if err := n1.PowerOff(); err != nil {
				t.Fatal(err)
			}
			if _, err := p.waitServed(ctx, "node2", before, servedWithin); err != nil {
				t.Fatal(err)
			}
			p.checkOutage(t, "power cut of node1 (auto_failback "+mode+")", before, servedWithin)

			// heartbeat may start at boot already (if the unit is enabled);
			// the clock runs from power-on.
			before = time.Now().Add(-300 * time.Millisecond)
			back := time.Now()
			if err := n1.Start(ctx); err != nil {
				t.Fatal(err)
			}
			h.startHeartbeat(n1)
			// node1 sees node2 active and knows node2's holdings first.
			if _, err := h.waitOwner(ctx, map[string]string{"on": "node1", "off": "node2"}[mode], 15*time.Second, n1, n2); err != nil {
				t.Fatal(err)
			}
			switch mode {
			case "on":
				served, err := p.waitServed(ctx, "node1", back, 20*time.Second)
				if err != nil {
					t.Fatal(err)
				}
				t.Logf("group back on node1 %v after node1 was powered on", served.Sub(back).Round(time.Millisecond))
				for _, r := range p.settle(ctx, served, time.Second) {
					if r.Node != "node1" {
						t.Errorf("after the failback the VIP answered %q (%v), want node1", r.Node, r.Err)
					}
				}
				if holders, err := h.holders(ctx); err != nil || !slices.Equal(holders, []string{"node1"}) {
					t.Errorf("VIP holders %v (%v), want [node1]", holders, err)
				}
				p.checkOutage(t, "auto failback to node1", before, moveWithin)
			case "off":
				st, err := h.status(ctx, n1)
				if err != nil {
					t.Fatal(err)
				}
				for _, n := range st.Nodes {
					if n.Name == "node2" && n.Status != "active" {
						t.Fatalf("node1 sees node2 %s, want active", n.Status)
					}
				}
				// 20 keepalives later it is still on node2, and nothing moved.
				rs := p.settle(ctx, time.Now(), 2*time.Second)
				for _, viaHbctl := range []bool{false, true} {
					if ok, views := h.ownerIs(ctx, "node2", []*Node{n1, n2}, viaHbctl); !ok {
						t.Errorf("with auto_failback off the group moved (hbctl view %v): %s", viaHbctl, views)
					}
				}
				for _, r := range rs {
					if r.Node != "node2" {
						t.Errorf("with auto_failback off the VIP answered %q (%v), want node2", r.Node, r.Err)
					}
				}
				if holders, err := h.holders(ctx); err != nil || !slices.Equal(holders, []string{"node2"}) {
					t.Errorf("VIP holders %v (%v), want [node2]", holders, err)
				}
				if o := p.logOutage(t, "node1 back with auto_failback off", before); o.Failed > 0 {
					t.Errorf("node1's return interrupted the service: %s", o)
				}
			}
			t.Logf("runtime %v", time.Since(start).Round(time.Millisecond))
		})
	}
}

// hbscript is a heartbeat resource script: "hbscript ARGS... start|stop|status".
// It logs every call with its time (seconds.nanoseconds) and arguments.
const hbscript = `#!/bin/sh
# hbscript ARG... {start|stop|status}: failover test resource.
eval "op=\${$#}"
echo "$(date +%s.%N) $op argc=$# args=$*" >> /var/log/hbscript.log
state=/run/hbscript.state
case "$op" in
start) touch "$state" ;;
stop) rm -f "$state" ;;
status)
	if [ -e "$state" ]; then echo running; else echo stopped; exit 3; fi ;;
*) exit 2 ;;
esac
exit 0
`

// scriptCall is one line of /var/log/hbscript.log.
type scriptCall struct {
	At   time.Time
	Op   string
	Line string
}

func scriptLog(t *testing.T, n *Node) []scriptCall {
	t.Helper()
	data, err := n.ReadFile("/var/log/hbscript.log")
	if err != nil {
		t.Fatal(err)
	}
	var out []scriptCall
	for line := range strings.SplitSeq(strings.TrimSpace(string(data)), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			t.Fatalf("%s: bad hbscript log line %q", n.Hostname, line)
		}
		sec, nsec, _ := strings.Cut(f[0], ".")
		s, err1 := strconv.ParseInt(sec, 10, 64)
		ns, err2 := strconv.ParseInt(nsec, 10, 64)
		if err1 != nil || err2 != nil {
			t.Fatalf("%s: bad time in hbscript log line %q", n.Hostname, line)
		}
		out = append(out, scriptCall{At: time.Unix(s, ns), Op: f[1], Line: line})
	}
	return out
}

// TestGroupOrder checks that a group starts left to right and stops right
// to left, with script arguments passed through: VIP, unit hbweb, and the
// resource script hbscript::alpha::beta.
func TestGroupOrder(t *testing.T) {
	start := time.Now()
	h := newHALab(t, haSetup{AutoFailback: "on", Extra: []string{"hbscript::alpha::beta"},
		Scripts: map[string]string{"hbscript": hbscript}})
	ctx := t.Context()
	p := h.startCluster(ctx)
	n1, n2 := h.Node(1), h.Node(2)
	order := []string{h.Key, "hbweb", "hbscript::alpha::beta"}

	// Standby on node1: node1 stops its group, node2 starts it.
	before := time.Now().Add(-300 * time.Millisecond)
	if err := h.hbctl(ctx, n1, "standby"); err != nil {
		t.Fatal(err)
	}
	if _, err := h.waitOwner(ctx, "node2", 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if _, err := p.waitServed(ctx, "node2", before, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	p.checkOutage(t, "standby with a three-resource group", before, moveWithin)

	for _, c := range []struct {
		n      *Node
		starts int // acquisitions expected in the journal
		stops  int
	}{{n1, 1, 1}, {n2, 1, 0}} {
		es, err := journal(ctx, c.n, "heartbeat.service")
		if err != nil {
			t.Fatal(err)
		}
		started := matching(es, "resource started", "group="+h.Key)
		stopped := matching(es, "resource stopped", "group="+h.Key)
		checkOrder(t, c.n.Hostname+" start", started, order, c.starts)
		checkOrder(t, c.n.Hostname+" stop", stopped, reversed(order), c.stops)

		calls := scriptLog(t, c.n)
		var ops []string
		for _, sc := range calls {
			if !strings.HasSuffix(sc.Line, "argc=3 args=alpha beta "+sc.Op) {
				t.Errorf("%s: hbscript called as %q, want args alpha beta %s", c.n.Hostname, sc.Line, sc.Op)
			}
			if sc.Op == "start" || sc.Op == "stop" {
				ops = append(ops, sc.Op)
			}
		}
		want := []string{"start"}
		if c.stops > 0 {
			want = append(want, "stop")
		}
		if !slices.Equal(ops, want) {
			t.Errorf("%s: hbscript start/stop calls %v, want %v (log:\n%v)", c.n.Hostname, ops, want, calls)
		}
		// The script ran after hbweb was started and before it was stopped.
		for _, sc := range calls {
			switch {
			case sc.Op == "start" && len(started) == len(order):
				if !(sc.At.After(started[1].At) && !sc.At.After(started[2].At)) {
					t.Errorf("%s: hbscript start at %s, want between hbweb started %s and hbscript started %s",
						c.n.Hostname, sc.At.Format(time.StampMicro), started[1].At.Format(time.StampMicro), started[2].At.Format(time.StampMicro))
				}
			case sc.Op == "stop" && len(stopped) == len(order):
				if !(!sc.At.After(stopped[0].At) && sc.At.Before(stopped[1].At)) {
					t.Errorf("%s: hbscript stop at %s, want before its own stopped line %s and hbweb's %s",
						c.n.Hostname, sc.At.Format(time.StampMicro), stopped[0].At.Format(time.StampMicro), stopped[1].At.Format(time.StampMicro))
				}
			}
		}
		// Status is asked before start (already running resources are skipped).
		if len(calls) == 0 || calls[0].Op != "status" {
			t.Errorf("%s: first hbscript call %v, want status", c.n.Hostname, calls)
		}
	}
	if st, err := n2.Run(ctx, "systemctl", "is-active", "hbweb.service"); err != nil || strings.TrimSpace(st) != "active" {
		t.Errorf("node2 hbweb.service %q (%v), want active", st, err)
	}
	if st, _ := n1.Run(ctx, "systemctl", "is-active", "hbweb.service"); strings.TrimSpace(st) != "inactive" {
		t.Errorf("node1 hbweb.service %q, want inactive", st)
	}
	t.Logf("runtime %v", time.Since(start).Round(time.Millisecond))
}

// checkOrder checks that es are times resources of the group were started
// (or stopped) `times` times in total, each time in the order want.
func checkOrder(t *testing.T, what string, es []journalEntry, want []string, times int) {
	t.Helper()
	var got []string
	for _, e := range es {
		got = append(got, logField(e.Msg, "resource"))
	}
	var full []string
	for range times {
		full = append(full, want...)
	}
	if !slices.Equal(got, full) {
		t.Errorf("%s order: %q, want %q", what, got, full)
		return
	}
	for i := 1; i < len(es); i++ {
		if es[i].At.Before(es[i-1].At) {
			t.Errorf("%s: journal times go back: %v then %v", what, es[i-1], es[i])
		}
	}
	var lines []string
	for _, e := range es {
		lines = append(lines, e.At.Format("15:04:05.000000")+" "+e.Msg)
	}
	t.Logf("%s:\n%s", what, strings.Join(lines, "\n"))
}

func reversed(s []string) []string {
	out := slices.Clone(s)
	slices.Reverse(out)
	return out
}

// hbfail starts everywhere except on node1.
const hbfail = `#!/bin/sh
# hbfail {start|stop|status}: failover test resource that cannot start on node1.
state=/run/hbfail.state
echo "$(date +%s.%N) $1" >> /var/log/hbfail.log
case "$1" in
start)
	if [ "$(uname -n)" = node1 ]; then echo "hbfail: refusing to start on node1"; exit 1; fi
	touch "$state" ;;
stop) rm -f "$state" ;;
status)
	if [ -e "$state" ]; then echo running; else echo stopped; exit 3; fi ;;
*) exit 2 ;;
esac
exit 0
`

// TestStartFailureMovesGroup makes the group's last resource fail to start
// on node1: node1 releases the whole group and node2 takes it.
func TestStartFailureMovesGroup(t *testing.T) {
	start := time.Now()
	h := newHALab(t, haSetup{AutoFailback: "on", Extra: []string{"hbfail"},
		Scripts: map[string]string{"hbfail": hbfail}})
	ctx := t.Context()
	n1, n2 := h.Node(1), h.Node(2)

	d, err := h.waitOwner(ctx, "node2", 15*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("group owned by node2 %v after heartbeat start", d.Round(time.Millisecond))
	g, err := h.group(ctx, n1, true)
	if err != nil {
		t.Fatal(err)
	}
	if !g.Failed || g.State != "failed" {
		t.Errorf("node1's view of the group %+v: want failed", g)
	}
	p := startProber(t, h.Client, h.VIP)
	served, err := p.waitServed(ctx, "node2", time.Now(), 3*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	// It stays there: auto_failback does not hand it back to a node that
	// failed it.
	for _, r := range p.settle(ctx, served, 1500*time.Millisecond) {
		if r.Node != "node2" {
			t.Errorf("the VIP answered %q (%v), want node2", r.Node, r.Err)
		}
	}
	for _, viaHbctl := range []bool{false, true} {
		if ok, views := h.ownerIs(ctx, "node2", []*Node{n1, n2}, viaHbctl); !ok {
			t.Errorf("group owner (hbctl view %v): %s, want node2", viaHbctl, views)
		}
	}
	if holders, err := h.holders(ctx); err != nil || !slices.Equal(holders, []string{"node2"}) {
		t.Errorf("VIP holders %v (%v), want [node2]", holders, err)
	}
	if st, _ := n1.Run(ctx, "systemctl", "is-active", "hbweb.service"); strings.TrimSpace(st) != "inactive" {
		t.Errorf("node1 hbweb.service %q after the failed start, want inactive (released)", st)
	}
	// node1 started VIP and hbweb, failed hbfail, and stopped all three.
	es, err := journal(ctx, n1, "heartbeat.service")
	if err != nil {
		t.Fatal(err)
	}
	checkOrder(t, "node1 start", matching(es, "resource started", "group="+h.Key), []string{h.Key, "hbweb"}, 1)
	checkOrder(t, "node1 release", matching(es, "resource stopped", "group="+h.Key), []string{"hbfail", "hbweb", h.Key}, 1)
	if len(matching(es, "resource group", "start failed")) == 0 {
		t.Errorf("node1's journal has no 'start failed' group event")
	}
	out, err := n1.Run(ctx, "hbctl", "groups")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("node1 hbctl groups:\n%s", out)
	h.logHeartbeatJournal(ctx, n1, "resource group", "hbfail")
	t.Logf("runtime %v", time.Since(start).Round(time.Millisecond))
}

// TestStandbyTakeover moves the group with hbctl standby on node1 and
// back with hbctl takeover on node1.
func TestStandbyTakeover(t *testing.T) {
	start := time.Now()
	h := newHALab(t, haSetup{AutoFailback: "on"})
	ctx := t.Context()
	p := h.startCluster(ctx)
	n1 := h.Node(1)

	before := time.Now().Add(-300 * time.Millisecond)
	req := time.Now()
	if err := h.hbctl(ctx, n1, "standby"); err != nil {
		t.Fatal(err)
	}
	served, err := p.waitServed(ctx, "node2", req, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("node2 serves %v after hbctl standby", served.Sub(req).Round(time.Millisecond))
	if _, err := h.waitOwner(ctx, "node2", 2*time.Second); err != nil {
		t.Fatal(err)
	}
	// auto_failback on does not undo a standby.
	for _, r := range p.settle(ctx, served, 1500*time.Millisecond) {
		if r.Node != "node2" {
			t.Errorf("after standby the VIP answered %q (%v), want node2", r.Node, r.Err)
		}
	}
	if holders, err := h.holders(ctx); err != nil || !slices.Equal(holders, []string{"node2"}) {
		t.Errorf("VIP holders %v (%v), want [node2]", holders, err)
	}
	p.checkOutage(t, "hbctl standby", before, moveWithin)

	before = time.Now().Add(-300 * time.Millisecond)
	req = time.Now()
	if err := h.hbctl(ctx, n1, "takeover"); err != nil {
		t.Fatal(err)
	}
	served, err = p.waitServed(ctx, "node1", req, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("node1 serves %v after hbctl takeover", served.Sub(req).Round(time.Millisecond))
	if _, err := h.waitOwner(ctx, "node1", 2*time.Second); err != nil {
		t.Fatal(err)
	}
	for _, r := range p.settle(ctx, served, time.Second) {
		if r.Node != "node1" {
			t.Errorf("after takeover the VIP answered %q (%v), want node1", r.Node, r.Err)
		}
	}
	if holders, err := h.holders(ctx); err != nil || !slices.Equal(holders, []string{"node1"}) {
		t.Errorf("VIP holders %v (%v), want [node1]", holders, err)
	}
	p.checkOutage(t, "hbctl takeover", before, moveWithin)
	t.Logf("runtime %v", time.Since(start).Round(time.Millisecond))
}

// TestStandbyTakeoverWhich moves two groups, one preferred by each node,
// with the which argument of standby and takeover (all/local/foreign), with
// auto_failback off so that only the requests move them. After each
// request both VIPs have exactly the expected holder and both daemons agree
// on the owners; neither VIP ever had two holders.
func TestStandbyTakeoverWhich(t *testing.T) {
	start := time.Now()
	h := newHALab(t, haSetup{AutoFailback: "off", SecondGroup: true})
	ctx := t.Context()
	n1, n2 := h.Node(1), h.Node(2)
	w1 := h.watchHolders(holderEvery)
	w2 := sdWatchVIP(t, h.Lab, h.VIP2, holderEvery)
	from := time.Now()
	steps := []struct {
		node       *Node
		args       []string
		own1, own2 string // expected owners of the node1 and node2 groups
	}{
		{nil, nil, "node1", "node2"}, // start: each its own
		{n2, []string{"standby"}, "node1", "node1"},
		{n1, []string{"standby", "foreign"}, "node1", "node2"},
		{n1, []string{"standby", "local"}, "node2", "node2"},
		{n1, []string{"takeover", "foreign"}, "node2", "node1"},
		{n1, []string{"takeover", "local"}, "node1", "node1"},
		{n2, []string{"takeover", "all"}, "node2", "node2"},
	}
	for _, st := range steps {
		what := "start"
		req := time.Now()
		if st.node != nil {
			what = st.node.Hostname + ": hbctl " + strings.Join(st.args, " ")
			if _, err := st.node.Run(ctx, append([]string{"hbctl"}, st.args...)...); err != nil {
				t.Fatalf("%s: %v", what, err)
			}
		}
		within := moveWithin
		if st.node == nil {
			within = 15 * time.Second
		}
		want := map[string]string{h.Key: st.own1, h.Key2: st.own2}
		if _, err := sdEventually(ctx, within, what, func() (bool, string) {
			var views []string
			ok := true
			for vip, owner := range map[string]string{h.VIP: st.own1, h.VIP2: st.own2} {
				got, err := h.holdersOf(ctx, vip)
				if err != nil {
					return false, err.Error()
				}
				ok = ok && slices.Equal(got, []string{owner})
				views = append(views, fmt.Sprintf("%s held by %v", vip, got))
			}
			for _, n := range []*Node{n1, n2} {
				cs, err := h.controlStatus(ctx, n)
				if err != nil {
					return false, err.Error()
				}
				for _, g := range cs.Groups {
					if o, mine := want[g.Key]; mine {
						ok = ok && g.Owner == o
						views = append(views, fmt.Sprintf("%s says %s owned by %q", n.Hostname, g.Key, g.Owner))
					}
				}
			}
			return ok, strings.Join(views, "; ")
		}); err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: owners %s / %s %v after the request", what, st.own1, st.own2, time.Since(req).Round(time.Millisecond))
		// and it stays so: auto_failback off moves nothing back.
		time.Sleep(300 * time.Millisecond)
		for vip, owner := range map[string]string{h.VIP: st.own1, h.VIP2: st.own2} {
			if got, err := h.holdersOf(ctx, vip); err != nil || !slices.Equal(got, []string{owner}) {
				t.Errorf("%s: 300ms later %s is held by %v (%v), want %s", what, vip, got, err, owner)
			}
		}
	}
	w1.checkOverlap(t, "group of node1 ("+h.VIP+")", from, nil)
	w2.checkOverlap(t, "group of node2 ("+h.VIP2+")", from, nil)
	t.Logf("runtime %v", time.Since(start).Round(time.Millisecond))
}

// TestSplitBrainHeal cuts node2's cable, the only heartbeat path, for
// longer than deadtime: both nodes hold the group. Plugged back in, node1
// (the preferred node) keeps it, also with auto_failback off.
func TestSplitBrainHeal(t *testing.T) {
	start := time.Now()
	h := newHALab(t, haSetup{AutoFailback: "off"})
	ctx := t.Context()
	p := h.startCluster(ctx)
	n1, n2 := h.Node(1), h.Node(2)

	before := time.Now().Add(-300 * time.Millisecond)
	if err := n2.CutLink(); err != nil {
		t.Fatal(err)
	}
	d, err := h.waitHolders(ctx, servedWithin, "node1", "node2")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("split brain: both nodes hold the VIP %v after the cut", d.Round(time.Millisecond))
	for _, n := range []*Node{n1, n2} {
		if _, err := h.waitOwner(ctx, n.Hostname, 2*time.Second, n); err != nil {
			t.Fatal(err)
		}
	}
	// The client, on node1's side, goes on being served by node1. The
	// split lasts until node2's announcements (about 1s) are over.
	for _, r := range p.settle(ctx, time.Now(), 1500*time.Millisecond) {
		if r.Node != "node1" {
			t.Errorf("during the split brain the VIP answered %q (%v), want node1", r.Node, r.Err)
		}
	}
	if o := p.logOutage(t, "split brain (node2 cut off)", before); o.Failed > 0 {
		t.Errorf("the client lost the service during the split brain: %s", o)
	}

	before = time.Now().Add(-300 * time.Millisecond)
	healed := time.Now()
	if err := n2.RestoreLink(); err != nil {
		t.Fatal(err)
	}
	d, err = h.waitHolders(ctx, healWithin, "node1")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("split brain healed: one VIP holder (node1) %v after the link came back", d.Round(time.Millisecond))
	if _, err := h.waitOwner(ctx, "node1", 2*time.Second); err != nil {
		t.Fatal(err)
	}
	if st, _ := n2.Run(ctx, "systemctl", "is-active", "hbweb.service"); strings.TrimSpace(st) != "inactive" {
		t.Errorf("node2 hbweb.service %q after the heal, want inactive", st)
	}
	served, err := p.waitServed(ctx, "node1", healed, 3*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range p.settle(ctx, served, time.Second) {
		if r.Node != "node1" {
			t.Errorf("after the heal the VIP answered %q (%v), want node1", r.Node, r.Err)
		}
	}
	if holders, err := h.holders(ctx); err != nil || !slices.Equal(holders, []string{"node1"}) {
		t.Errorf("VIP holders %v (%v), want [node1]", holders, err)
	}
	p.checkOutage(t, "split brain heal", before, moveWithin)
	h.logHeartbeatJournal(ctx, n2, "split brain", "resource group", "node status changed")
	t.Logf("runtime %v", time.Since(start).Round(time.Millisecond))
}
