//go:build clustertest

package cluster

import (
	"crypto/rand"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/linuxha/heartbeat/internal/control"
	"github.com/linuxha/heartbeat/internal/wire"
)

// The daemon on real links: heartbeat.service in real systemd nodes, over
// ucast, mcast, bcast and a serial line, against real faults (kill -9, power
// cut, pulled cables) and hostile packets.

const lkAuthSHA1 = "auth 1\n1 sha1 linktest-secret\n"

// lkFastTimers are the timers of the fast tests: keepalive 200ms, deadtime 1s.
const lkFastTimers = "keepalive 200ms\ndeadtime 1\nwarntime 600ms\ninitdead 5\n"

const (
	lkKeepalive = 200 * time.Millisecond
	lkDeadtime  = time.Second
	// lkSlack is the scheduling slack allowed around a timed event: the
	// journal stamps an entry when journald reads it, not when it is written.
	lkSlack = 25 * time.Millisecond
)

func lkUcastConf(lab *Lab, extra string) string {
	var b strings.Builder
	b.WriteString("logfacility daemon\n" + lkFastTimers + "udpport 694\n")
	for _, n := range lab.Nodes() {
		fmt.Fprintf(&b, "ucast eth0 %s\n", n.Addr())
	}
	b.WriteString(extra)
	b.WriteString("auto_failback on\n")
	for _, n := range lab.Nodes() {
		fmt.Fprintf(&b, "node %s\n", n.Hostname)
	}
	return b.String()
}

// TestUcastDeathTiming: node2's daemon is killed (no goodbye); node1 declares
// it dead between deadtime and deadtime + keepalive after the last heartbeat
// from node2 reached node1's eth0 (tcpdump in node1's namespace; the journal
// stamp of the declaration is on the same host clock).
func TestUcastDeathTiming(t *testing.T) {
	t0 := time.Now()
	lab := New(t, Options{Nodes: 2})
	n1, n2 := lab.Node(1), lab.Node(2)
	lkStartDaemons(t, lab, lkUcastConf(lab, ""), "", lkAuthSHA1, 2)
	for _, n := range lab.Nodes() {
		lkWait(t, n, 15*time.Second, "both nodes active", lkAllActive("node1", "node2"))
	}
	tActive := time.Now()

	tap := lkStartTap(t, n1.NS, "eth0", "udp port 694 and src host "+n2.Addr())
	// A few heartbeats on the tap prove it sees node2's traffic.
	time.Sleep(3 * lkKeepalive)
	kill := time.Now()
	if err := lkKill9(t.Context(), n2); err != nil {
		t.Fatal(err)
	}
	ev := lkWaitJournal(t, n1, kill, 5*lkDeadtime, "node status changed", "node=node2", "state=dead")
	// Anything node2 sent was on the wire well before this.
	time.Sleep(100 * time.Millisecond)
	tap.stop()
	pkts, err := tap.packets()
	if err != nil {
		t.Fatal(err)
	}
	// The last heartbeat: the last message of node2 that carries a sequence
	// number (NS_ control messages do not count as heard), before the death.
	var (
		last   time.Time
		before int
		after  []string
		trail  []string
	)
	for _, p := range pkts {
		m, err := wire.ParseUnverified(p.Payload)
		desc := fmt.Sprintf("%s %d bytes", p.At.Format("15:04:05.000000"), len(p.Payload))
		if err != nil {
			desc += " undecodable: " + err.Error()
		} else {
			desc += fmt.Sprintf(" t=%s seq=%s", m.Type(), m.Get("seq"))
		}
		if !p.At.Before(ev.At) {
			after = append(after, desc)
			continue
		}
		before++
		if p.At.After(kill.Add(-time.Second)) {
			trail = append(trail, desc)
		}
		if err == nil && m.Get("seq") != "" && p.At.After(last) {
			last = p.At
		}
	}
	t.Logf("node2's packets on node1's eth0 in the last second before the kill and after (%d in all):\n  %s", before, strings.Join(trail, "\n  "))
	if before < 2 || last.IsZero() {
		t.Fatalf("tcpdump saw %d packets (no heartbeat) from node2 before its death", before)
	}
	if len(after) > 0 {
		t.Fatalf("tcpdump saw packets from node2 after node1 declared it dead: %q", after)
	}
	if !strings.Contains(ev.Msg, "reason=deadtime") {
		t.Errorf("death entry %q: want reason=deadtime", ev.Msg)
	}
	gap := ev.At.Sub(last)
	t.Logf("kill at %s, last packet from node2 at %s (%v after the kill), declared dead at %s: %v after the last packet (deadtime %v, keepalive %v); entry %q",
		kill.Format("15:04:05.000000"), last.Format("15:04:05.000000"), last.Sub(kill), ev.At.Format("15:04:05.000000"),
		gap, lkDeadtime, lkKeepalive, ev.Msg)
	if gap < lkDeadtime-lkSlack {
		t.Errorf("node2 declared dead %v after its last heartbeat: sooner than deadtime %v", gap, lkDeadtime)
	}
	if gap > lkDeadtime+lkKeepalive+lkSlack {
		t.Errorf("node2 declared dead %v after its last heartbeat: later than deadtime + keepalive %v", gap, lkDeadtime+lkKeepalive)
	}
	st := lkWait(t, n1, 2*time.Second, "node2 dead in hbctl status", func(st *control.Status) bool {
		return lkNodeStatus(st, "node2") == "dead" && st.State == "active"
	})
	if ls := lkLinkStatus(st, "node2", "eth0"); ls != "dead" {
		t.Errorf("node1: link eth0 of node2 is %q after its death, want dead (%s)", ls, lkSummary(st))
	}
	lkStaysDown(t, n2)
	// The journal's own view of the silence matches the wire.
	if lh, ok := lkLastHeard(ev.Msg); !ok {
		t.Errorf("death entry without last_heard: %q", ev.Msg)
	} else {
		t.Logf("daemon's last_heard %s is %v after tcpdump's", lh.Format("15:04:05.000000"), lh.Sub(last))
		if d := lh.Sub(last); d < -lkSlack || d > lkSlack {
			t.Errorf("daemon's last_heard %s is %v from the last packet on the wire", lh, d)
		}
	}
	t.Logf("timings: lab+start to all active %v, whole test %v", tActive.Sub(t0).Round(time.Millisecond), time.Since(t0).Round(time.Millisecond))
}

// lkLastHeard parses the last_heard=RFC3339 attribute of a journal message.
func lkLastHeard(msg string) (time.Time, bool) {
	i := strings.Index(msg, "last_heard=")
	if i < 0 {
		return time.Time{}, false
	}
	f := strings.Fields(msg[i+len("last_heard="):])
	if len(f) == 0 {
		return time.Time{}, false
	}
	lh, err := time.Parse(time.RFC3339Nano, strings.Trim(f[0], `"`))
	return lh, err == nil
}

// TestMcastPowerOff: three nodes over multicast; node3 loses power; the two
// others declare it dead and stay active with each other.
func TestMcastPowerOff(t *testing.T) {
	t0 := time.Now()
	lab := New(t, Options{Nodes: 3})
	conf := "logfacility daemon\n" + lkFastTimers + "mcast eth0 239.0.0.43 694 1 0\nauto_failback on\nnode node1 node2 node3\n"
	lkStartDaemons(t, lab, conf, "", lkAuthSHA1)
	all := lkAllActive("node1", "node2", "node3")
	for _, n := range lab.Nodes() {
		lkWait(t, n, 15*time.Second, "all three active", all)
	}
	off := time.Now()
	if err := lab.Node(3).PowerOff(); err != nil {
		t.Fatal(err)
	}
	for _, n := range []*Node{lab.Node(1), lab.Node(2)} {
		st := lkWait(t, n, lkDeadtime+3*time.Second, "node3 dead", func(st *control.Status) bool {
			return lkNodeStatus(st, "node3") == "dead"
		})
		peer := "node2"
		if n.Index == 2 {
			peer = "node1"
		}
		if st.State != "active" || lkNodeStatus(st, peer) != "active" {
			t.Errorf("%s after node3's power cut: %s; want itself and %s active", n.Hostname, lkSummary(st), peer)
		}
		ev := lkWaitJournal(t, n, off, time.Second, "node status changed", "node=node3", "state=dead")
		t.Logf("%s: node3 dead %v after the power cut: %q", n.Hostname, ev.At.Sub(off).Round(time.Millisecond), ev.Msg)
		// The silence starts at the last heartbeat, up to a keepalive
		// before the cut.
		if d := ev.At.Sub(off); d < lkDeadtime-lkKeepalive-lkSlack || d > lkDeadtime+lkKeepalive+lkSlack {
			t.Errorf("%s declared node3 dead %v after the power cut; want deadtime %v +- keepalive %v", n.Hostname, d, lkDeadtime, lkKeepalive)
		}
		if lh, ok := lkLastHeard(ev.Msg); !ok {
			t.Errorf("%s: death entry without last_heard: %q", n.Hostname, ev.Msg)
		} else if lh.After(off) || ev.At.Sub(lh) < lkDeadtime-lkSlack {
			t.Errorf("%s: node3 last heard at %s, declared dead at %s (power cut at %s): want the last heartbeat before the cut and deadtime %v of silence",
				n.Hostname, lh.Format("15:04:05.000000"), ev.At.Format("15:04:05.000000"), off.Format("15:04:05.000000"), lkDeadtime)
		}
	}
	// And they keep hearing each other.
	time.Sleep(2 * lkDeadtime)
	for _, n := range []*Node{lab.Node(1), lab.Node(2)} {
		st, err := lkStatus(t.Context(), n)
		if err != nil {
			t.Fatal(err)
		}
		if lkNodeStatus(st, "node1") != "active" || lkNodeStatus(st, "node2") != "active" || lkNodeStatus(st, "node3") != "dead" {
			t.Errorf("%s, 2 deadtimes later: %s", n.Hostname, lkSummary(st))
		}
	}
	t.Logf("whole test %v", time.Since(t0).Round(time.Millisecond))
}

// TestTwoMediaUcastAndSerial: ucast on eth0 and a serial line; with the
// network cable pulled the node lives on over the serial line; with both
// pulled it is dead; with both back it is active again.
func TestTwoMediaUcastAndSerial(t *testing.T) {
	t0 := time.Now()
	lab := New(t, Options{Nodes: 2, Serial: [][2]int{{1, 2}}})
	n1, n2 := lab.Node(1), lab.Node(2)
	tty := lab.Serial(0).Device(n1)
	if tty == "" || tty != lab.Serial(0).Device(n2) {
		t.Fatalf("serial devices %q, %q: want the same name in both nodes", tty, lab.Serial(0).Device(n2))
	}
	lkStartDaemons(t, lab, lkUcastConf(lab, "serial "+tty+"\n"), "", lkAuthSHA1)
	both := func(peer string) func(*control.Status) bool {
		return func(st *control.Status) bool {
			return st.State == "active" && lkNodeStatus(st, peer) == "active" &&
				lkLinkStatus(st, peer, "eth0") == "up" && lkLinkStatus(st, peer, tty) == "up"
		}
	}
	lkWait(t, n1, 15*time.Second, "node2 active over eth0 and "+tty, both("node2"))
	lkWait(t, n2, 15*time.Second, "node1 active over eth0 and "+tty, both("node1"))

	// Network cable pulled: the serial line carries on.
	cut := time.Now()
	if err := n2.CutLink(); err != nil {
		t.Fatal(err)
	}
	st := lkWait(t, n1, lkDeadtime+3*time.Second, "link eth0 of node2 dead", func(st *control.Status) bool {
		return lkLinkStatus(st, "node2", "eth0") == "dead"
	})
	t.Logf("eth0 of node2 dead %v after the cut", time.Since(cut).Round(time.Millisecond))
	if lkNodeStatus(st, "node2") != "active" || lkLinkStatus(st, "node2", tty) != "up" {
		t.Fatalf("node1 with node2's network cut: %s; want node2 active over %s", lkSummary(st), tty)
	}
	// Still so a few deadtimes later: serial heartbeats keep it alive.
	time.Sleep(2 * lkDeadtime)
	st, err := lkStatus(t.Context(), n1)
	if err != nil {
		t.Fatal(err)
	}
	if lkNodeStatus(st, "node2") != "active" || lkLinkStatus(st, "node2", tty) != "up" || lkLinkStatus(st, "node2", "eth0") != "dead" {
		t.Fatalf("node1, 2 deadtimes after node2's network cut: %s", lkSummary(st))
	}
	if evs, err := lkJournal(t.Context(), n1, "node status changed", "node=node2", "state=dead"); err != nil || len(evs) > 0 {
		t.Fatalf("node1 declared node2 dead while the serial line was up: %v %v", evs, err)
	}

	// Serial cable pulled too: dead.
	lab.Serial(0).Disconnect()
	lkWait(t, n1, lkDeadtime+3*time.Second, "node2 dead", func(st *control.Status) bool {
		return lkNodeStatus(st, "node2") == "dead"
	})
	lkWait(t, n2, lkDeadtime+3*time.Second, "node1 dead", func(st *control.Status) bool {
		return lkNodeStatus(st, "node1") == "dead"
	})

	// Both back: active again on both links.
	back := time.Now()
	if err := n2.RestoreLink(); err != nil {
		t.Fatal(err)
	}
	lab.Serial(0).Connect()
	lkWait(t, n1, 10*time.Second, "node2 active again over eth0 and "+tty, both("node2"))
	lkWait(t, n2, 10*time.Second, "node1 active again over eth0 and "+tty, both("node1"))
	t.Logf("active again %v after restoring both links; whole test %v",
		time.Since(back).Round(time.Millisecond), time.Since(t0).Round(time.Millisecond))
}

// TestBadPacketsIgnored: from the client, node1 gets a packet signed with a
// wrong key, one from an unknown node, a replay of a real packet of node2
// after node2 was killed, and 1000 random datagrams. The counters show each,
// the daemon lives on (same PID), and the replay does not revive node2.
func TestBadPacketsIgnored(t *testing.T) {
	t0 := time.Now()
	lab := New(t, Options{Nodes: 2})
	n1, n2 := lab.Node(1), lab.Node(2)
	ctx := t.Context()
	lkStartDaemons(t, lab, lkUcastConf(lab, ""), "", lkAuthSHA1, 2)
	for _, n := range lab.Nodes() {
		lkWait(t, n, 15*time.Second, "both nodes active", lkAllActive("node1", "node2"))
	}
	pid, err := lkMainPID(ctx, n1)
	if err != nil || pid == 0 {
		t.Fatalf("node1 MainPID %d, %v", pid, err)
	}

	// A real heartbeat of node2, as node1 received it.
	payloads, err := lkCapture(ctx, t, n1.NS, "eth0", "udp dst port 694 and src host "+n2.Addr(), 5)
	if err != nil {
		t.Fatal(err)
	}
	var (
		replay []byte
		orig   *wire.Message
	)
	for _, p := range payloads {
		m, err := wire.ParseUnverified(p)
		if err == nil && m.Type() == "status" && m.Get("seq") != "" && m.Get("src") == "node2" {
			replay, orig = p, m
		}
	}
	if replay == nil {
		t.Fatalf("no status heartbeat of node2 among %d captured packets", len(payloads))
	}
	seq, err := orig.GetHex("seq")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("captured heartbeat of node2: seq %d hg %s st %s, %d bytes", seq, orig.Get("hg"), orig.Get("st"), len(replay))

	conn, err := lab.Client.Dial(ctx, "udp", n1.Addr()+":694")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	send := func(what string, b []byte) {
		t.Helper()
		if _, err := conn.Write(b); err != nil {
			t.Fatalf("send %s: %v", what, err)
		}
	}
	forge := func(src, secret string, seq uint64) []byte {
		t.Helper()
		m := orig.Clone()
		m.Del("auth")
		m.Set("src", src)
		m.SetHex("seq", seq)
		ring := &wire.Keyring{Active: 1, Keys: map[int]wire.Key{1: {Index: 1, Method: wire.MethodSHA1, Secret: []byte(secret)}}}
		b, err := wire.Marshal(m, ring)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	// The forged packets themselves must be well formed: the right key
	// verifies them, so only the key can be what node1 rejects.
	goodRing := &wire.Keyring{Active: 1, Keys: map[int]wire.Key{1: {Index: 1, Method: wire.MethodSHA1, Secret: []byte("linktest-secret")}}}
	wrongKey := forge("node2", "not-the-secret", seq+1000)
	if _, err := wire.Unmarshal(wrongKey, goodRing); err == nil {
		t.Fatal("the wrong-key packet verifies with the right key")
	}
	unknown := forge("node9", "linktest-secret", 1)
	if _, err := wire.Unmarshal(unknown, goodRing); err != nil {
		t.Fatalf("the unknown-node packet does not verify: %v", err)
	}

	c0 := lkWait(t, n1, 5*time.Second, "status", func(*control.Status) bool { return true }).Counters
	send("wrong key", wrongKey)
	send("unknown node", unknown)
	c1 := lkWait(t, n1, 5*time.Second, "bad_auth and unknown_node counted", func(st *control.Status) bool {
		return st.Counters["bad_auth"] > c0["bad_auth"] && st.Counters["unknown_node"] > c0["unknown_node"]
	}).Counters

	// node2 dies without a goodbye; its heartbeat replayed does not revive it.
	kill := time.Now()
	if err := lkKill9(ctx, n2); err != nil {
		t.Fatal(err)
	}
	dead := lkWaitJournal(t, n1, kill, 5*lkDeadtime, "node status changed", "node=node2", "state=dead")
	replayAt := time.Now()
	send("replay", replay)
	c2 := lkWait(t, n1, 5*time.Second, "replay counted", func(st *control.Status) bool {
		return st.Counters["duplicate"]+st.Counters["replayed"] > c1["duplicate"]+c1["replayed"]
	}).Counters

	// 1000 random datagrams of 1..1472 bytes, paced so that no socket
	// buffer overflows.
	const nRandom = 1000
	drops0, err := lkUDPRcvbufErrors(ctx, n1.NS)
	if err != nil {
		t.Fatal(err)
	}
	for i := range nRandom {
		sz, err := rand.Int(rand.Reader, big.NewInt(1472))
		if err != nil {
			t.Fatal(err)
		}
		b := make([]byte, sz.Int64()+1)
		if _, err := rand.Read(b); err != nil {
			t.Fatal(err)
		}
		send("random datagram "+strconv.Itoa(i), b)
		if i%10 == 9 {
			time.Sleep(5 * time.Millisecond)
		}
	}
	c3 := lkPollCounters(t, n1, 5*time.Second, func(c map[string]uint64) bool {
		return c["malformed"]-c2["malformed"] >= nRandom
	})
	drops1, err := lkUDPRcvbufErrors(ctx, n1.NS)
	if err != nil {
		t.Fatal(err)
	}
	// Datagrams the kernel dropped for a full socket buffer never reached
	// the daemon; there should be none at this pace.
	kernelDrops := int64(drops1 - drops0)
	t.Logf("UDP RcvbufErrors in node1 during the burst: %d", kernelDrops)
	if kernelDrops > nRandom/100 {
		t.Errorf("the kernel dropped %d of %d datagrams for node1's full socket buffer: the daemon reads too slowly", kernelDrops, nRandom)
	}
	// Let any late effect show.
	time.Sleep(2 * lkDeadtime)
	st, err := lkStatus(ctx, n1)
	if err != nil {
		t.Fatal(err)
	}
	c4 := st.Counters
	t.Logf("counters before %v\nafter wrong key + unknown node %v\nafter replay %v\nafter random %v\nend %v", c0, c1, c2, c3, c4)

	delta := func(k string, a, b map[string]uint64) int64 { return int64(b[k]) - int64(a[k]) }
	if d := delta("bad_auth", c0, c4); d != 1 {
		t.Errorf("bad_auth rose by %d, want 1 (the wrong-key packet)", d)
	}
	if d := delta("unknown_node", c0, c4); d != 1 {
		t.Errorf("unknown_node rose by %d, want 1", d)
	}
	if d := delta("duplicate", c0, c4) + delta("replayed", c0, c4); d < 1 {
		t.Errorf("duplicate+replayed rose by %d, want >= 1 (the replay)", d)
	}
	if d := delta("malformed", c2, c4); d != nRandom-kernelDrops {
		t.Errorf("malformed rose by %d for %d random datagrams (%d dropped by the kernel)", d, nRandom, kernelDrops)
	}
	if d := delta("malformed", c0, c2); d != 0 {
		t.Errorf("malformed rose by %d for the signed packets: they were well formed", d)
	}
	if lkNodeStatus(st, "node2") != "dead" || st.State != "active" {
		t.Errorf("node1 after the replay: %s; want itself active and node2 dead", lkSummary(st))
	}
	if evs, err := lkJournal(ctx, n1, "node status changed", "node=node2"); err != nil {
		t.Fatal(err)
	} else {
		for _, e := range evs {
			if e.At.After(dead.At) {
				t.Errorf("node2's status changed after its death (replay sent at %s): %s %q", replayAt.Format("15:04:05.000"), e.At.Format("15:04:05.000"), e.Msg)
			}
		}
	}
	out, err := n1.Run(ctx, "systemctl", "is-active", "heartbeat.service")
	if strings.TrimSpace(out) != "active" {
		t.Errorf("node1 heartbeat.service is %q (%v)", out, err)
	}
	if pid2, err := lkMainPID(ctx, n1); err != nil || pid2 != pid {
		t.Errorf("node1 heartbeat MainPID %d -> %d (%v): the daemon restarted", pid, pid2, err)
	}
	lkStaysDown(t, n2)
	t.Logf("whole test %v", time.Since(t0).Round(time.Millisecond))
}

// TestBcast306Config runs the ha.cf of a real 3.0.6 lab cluster
// (/work/shared/wire-samples/config/hbA/etc/ha.d/ha.cf), copied verbatim into
// testdata/ha.cf.bcast306 with one change: the media line "ucast eth0
// 10.250.0.2" became "bcast eth0" (the sample cluster ran ucast). The node
// names hbA and hbB are kept: the lab's hosts are node1 and node2, so each
// daemon is told its name with --node-name in a unit drop-in, as an admin of
// a renamed host would.
//
// Every other directive (logfile, debugfile, logfacility local0, keepalive 1,
// warntime 2, deadtime 3, initdead 10, udpport 694, auto_failback on, crm off)
// is kept. Both nodes see each other active; node2's daemon stopped cleanly
// says goodbye and node1 reports it dead within 1s, without a deadtime wait.
func TestBcast306Config(t *testing.T) {
	t0 := time.Now()
	hacf, err := os.ReadFile(filepath.Join("testdata", "ha.cf.bcast306"))
	if err != nil {
		t.Fatal(err)
	}
	lab := New(t, Options{Nodes: 2})
	n1, n2 := lab.Node(1), lab.Node(2)
	for n, name := range map[*Node]string{n1: "hbA", n2: "hbB"} {
		dropIn := fmt.Sprintf("[Service]\nExecStartPre=\nExecStartPre=/usr/sbin/heartbeat --check-config --node-name %s\nExecStart=\nExecStart=/usr/sbin/heartbeat --node-name %s\n", name, name)
		if err := n.WriteFile("/etc/systemd/system/heartbeat.service.d/60-node-name.conf", []byte(dropIn), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	lkStartDaemons(t, lab, string(hacf), "", "auth 1\n1 md5 labsecret\n")
	for _, n := range lab.Nodes() {
		lkWait(t, n, 20*time.Second, "both nodes active", lkAllActive("hba", "hbb"))
	}
	st, err := lkStatus(t.Context(), n1)
	if err != nil {
		t.Fatal(err)
	}
	if st.Keepalive != "1s" || st.Deadtime != "3s" {
		t.Errorf("node1 runs keepalive %q deadtime %q, want 1s and 3s from the 3.0.6 ha.cf", st.Keepalive, st.Deadtime)
	}
	stop := time.Now()
	if _, err := n2.Run(t.Context(), "systemctl", "stop", "heartbeat.service"); err != nil {
		t.Fatal(err)
	}
	stopped := time.Now()
	ev := lkWaitJournal(t, n1, stop, 5*time.Second, "node status changed", "node=hbb", "state=dead")
	d := ev.At.Sub(stop)
	t.Logf("systemctl stop took %v; node1 declared node2 dead %v after the stop began: %q",
		stopped.Sub(stop).Round(time.Millisecond), d.Round(time.Millisecond), ev.Msg)
	if d > time.Second {
		t.Errorf("node2 declared dead %v after systemctl stop: want a graceful leave within 1s", d)
	}
	if strings.Contains(ev.Msg, "reason=deadtime") {
		t.Errorf("death by deadtime after a clean stop: %q", ev.Msg)
	}
	lkWait(t, n1, 2*time.Second, "node2 dead in hbctl status", func(st *control.Status) bool {
		return st.State == "active" && lkNodeStatus(st, "hbb") == "dead"
	})
	// Stopped means stopped: node1's next broadcast heartbeats (keepalive 1s)
	// must not start node2's daemon again, nor make node1 see it back.
	time.Sleep(2500 * time.Millisecond)
	lkStaysDown(t, n2)
	if st, err := lkStatus(t.Context(), n1); err != nil {
		t.Error(err)
	} else if lkNodeStatus(st, "hbb") != "dead" {
		t.Errorf("node1, 2.5s after node2's daemon was stopped: %s; want node2 dead", lkSummary(st))
	}
	t.Logf("whole test %v", time.Since(t0).Round(time.Millisecond))
}
