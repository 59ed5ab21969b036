//go:build clustertest

package cluster

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

// The interop tests run node1 with Debian's Heartbeat 3.0.6 (package
// heartbeat, installed on the host by scripts/deps) and node2 with ours,
// from the same ha.cf/haresources/authkeys. node1 is the preferred node of
// the only group "<VIP>/24/eth0 hbweb".

const (
	oldDaemon = "/usr/libexec/heartbeat/heartbeat"
	// hbwebScript is the haresources resource "hbweb" for 3.0.6 (it finds
	// resources in /etc/ha.d/resource.d; status is judged by the text).
	hbwebScript = `#!/bin/sh
case "$1" in
start) systemctl start hbweb.service ;;
stop) systemctl stop hbweb.service ;;
status) if systemctl -q is-active hbweb.service; then echo running; else echo stopped; fi ;;
esac
exit 0
`
)

// interopSetup is one interop cluster's configuration.
type interopSetup struct {
	Media    string // ha.cf media line(s); %[1]s/%[2]s are node1/node2's addresses
	Keys1    string // authkeys of node1 (3.0.6)
	Keys2    string // authkeys of node2 (ours)
	Failback string
	Deadtime string // ha.cf deadtime; "1" (5 keepalives) when empty
}

// newInteropLab boots two nodes: node1 runs Debian's heartbeat.service,
// node2 ours. Heartbeat is not started.
func newInteropLab(t *testing.T, s interopSetup) *haLab {
	t.Helper()
	if _, err := os.Stat(oldDaemon); err != nil {
		t.Skipf("Heartbeat 3.0.6 is not installed on the host (scripts/deps installs it): %v", err)
	}
	web := buildHbweb(t)
	lab := New(t, Options{Nodes: 2})
	h := &haLab{Lab: lab, t: t, VIP: lab.Addr(100)}
	h.Key = h.VIP + "/24/eth0"
	media := s.Media
	if strings.Contains(media, "%") {
		media = fmt.Sprintf(media, lab.Addr(1), lab.Addr(2))
	}
	deadtime := cmp.Or(s.Deadtime, "1")
	hacf := fmt.Sprintf(`# interop tests
logfile /var/log/ha-log
keepalive 200ms
warntime 600ms
deadtime %s
initdead 5
udpport 694
auto_failback %s
%s
node node1 node2
crm off
realtime off
`, deadtime, s.Failback, media)
	res := "node1 " + h.Key + " hbweb\n"
	n1, n2 := lab.Node(1), lab.Node(2)
	for i, n := range lab.Nodes() {
		keys := s.Keys1
		if i == 1 {
			keys = s.Keys2
		}
		if err := n.WriteFile("/usr/local/bin/hbweb", web, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := n.WriteFile("/etc/systemd/system/hbweb.service", []byte(hbwebUnit), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := n.WriteHaConfig(hacf, res, keys); err != nil {
			t.Fatal(err)
		}
	}
	if err := n1.WriteFile("/etc/ha.d/resource.d/hbweb", []byte(hbwebScript), 0o755); err != nil {
		t.Fatal(err)
	}
	// node1: unmask Debian's unit (the harness masks it in every node).
	if err := n1.RemoveFile("/etc/systemd/system/heartbeat.service"); err != nil {
		t.Fatal(err)
	}
	if err := n2.InstallBinaries(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			if data, err := n1.ReadFile("/var/log/ha-log"); err == nil {
				t.Logf("==== node1 /var/log/ha-log ====\n%s", data)
			}
		}
	})
	ctx := t.Context()
	for _, n := range lab.Nodes() {
		if _, err := n.Run(ctx, "systemctl", "daemon-reload"); err != nil {
			t.Fatal(err)
		}
	}
	return h
}

// oldNodeStatus is cl_status nodestatus <node> on node1 (3.0.6).
func oldNodeStatus(ctx context.Context, n1 *Node, node string) string {
	out, _ := n1.Run(ctx, "cl_status", "nodestatus", node)
	return strings.TrimSpace(out)
}

// waitMembers waits until node1 (cl_status) and node2 (hbctl) see each
// other active.
func (h *haLab) waitMembers(ctx context.Context, within time.Duration) error {
	deadline := time.Now().Add(within)
	var last string
	for time.Now().Before(deadline) {
		oldView := oldNodeStatus(ctx, h.Node(1), "node2")
		newView := "?"
		if st, err := h.status(ctx, h.Node(2)); err == nil {
			for _, n := range st.Nodes {
				if n.Name == "node1" {
					newView = n.Status
				}
			}
		}
		last = fmt.Sprintf("3.0.6 sees node2 %q, ours sees node1 %q", oldView, newView)
		if oldView == "active" && newView == "active" {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("membership: %s after %v", last, within)
}

// checkSteady checks that the mixed cluster went through what (since
// since) unchanged: both see each other active, node1 holds the VIP, and
// ours logged no status change of node1. It returns our journal since then.
func (h *haLab) checkSteady(ctx context.Context, since time.Time, what string) []journalEntry {
	h.t.Helper()
	if err := h.waitMembers(ctx, time.Second); err != nil {
		h.t.Errorf("%s: %v", what, err)
	}
	h.checkHolders(ctx, "node1")
	es, err := journalSince(ctx, h.Node(2), "heartbeat.service", since)
	if err != nil {
		h.t.Fatal(err)
	}
	if bad := matching(es, "node status changed", "node=node1"); len(bad) > 0 {
		h.t.Errorf("ours saw node1 change status %s:%s", what, formatEntries(bad))
	}
	return es
}

// checkLogs fails on error lines of either daemon: 3.0.6's /var/log/ha-log
// and our journal.
func (h *haLab) checkLogs(ctx context.Context) {
	h.t.Helper()
	// 3.0.6's words for a packet it refused: "Invalid authentication type
	// [n] in message!", "node [x] failed authentication", "bad packet".
	bad := []string{"bad packet", "authentication failed", "ERROR", "authtoken does not match",
		"Invalid authentication", "failed authentication"}
	if data, err := h.Node(1).ReadFile("/var/log/ha-log"); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			// 3.0.6 opens one receive socket per ucast line, all on port
			// 694 with SO_REUSEPORT: the kernel spreads a peer's packets
			// over them by source port, and 3.0.6 reads the sockets in
			// turn. When our daemon restarts (new source port) a last
			// packet of the old generation can be read after the first
			// of the new one, and 3.0.6 calls it a replay; it drops it,
			// nothing else happens (docs/interop-3.0.6.md).
			if strings.Contains(line, "should_drop_message: attempted replay attack [node2]") {
				h.t.Logf("3.0.6 log, reordering across its sockets after our restart: %s", line)
				continue
			}
			for _, b := range bad {
				if strings.Contains(line, b) {
					h.t.Errorf("3.0.6 log: %s", line)
					break
				}
			}
		}
	} else {
		h.t.Errorf("read 3.0.6 log: %v", err)
	}
	if h.Node(2).Running() {
		out, err := h.Node(2).Journal(ctx, "heartbeat.service")
		if err != nil {
			h.t.Errorf("journal of node2: %v", err)
			return
		}
		for _, line := range strings.Split(out, "\n") {
			if strings.Contains(line, "level=ERROR") || strings.Contains(line, "packet dropped") || strings.Contains(line, "bad packet") {
				h.t.Errorf("our log: %s", line)
			}
		}
		if st, err := h.status(ctx, h.Node(2)); err == nil && (st.Counters["bad_auth"] > 0 || st.Counters["malformed"] > 0) {
			h.t.Errorf("our counters: %+v", st.Counters)
		}
	}
}

// TestInteropMedia boots 3.0.6 and ours over each medium and auth method
// (ucast, bcast, mcast x crc, md5, sha1), and the state after a key
// rotation as 3.0.6 allows it: both list two different keys and sign with
// key 2 (3.0.6 verifies every packet with its *active* key, so the two
// sides cannot sign with different keys, see docs/interop-3.0.6.md): both
// see each other active, neither logs a bad packet.
func TestInteropMedia(t *testing.T) {
	type tcase struct {
		name string
		s    interopSetup
	}
	// Every medium with every method.
	var cases []tcase
	media := []struct{ name, line string }{
		{"ucast", "ucast eth0 %[1]s\nucast eth0 %[2]s"},
		{"bcast", "bcast eth0"},
		{"mcast", "mcast eth0 239.0.0.43 694 1 0"},
	}
	keys := []struct{ name, authkeys string }{
		{"crc", "auth 1\n1 crc\n"},
		{"md5", "auth 1\n1 md5 lab\n"},
		{"sha1", "auth 1\n1 sha1 lab\n"},
	}
	for _, m := range media {
		for _, k := range keys {
			cases = append(cases, tcase{m.name + "-" + k.name, interopSetup{Media: m.line, Keys1: k.authkeys, Keys2: k.authkeys}})
		}
	}
	// Both list an old and a new key and sign with the new one (index 2),
	// the state after a rotation.
	cases = append(cases, tcase{"ucast-sha1-second-key", interopSetup{Media: media[0].line,
		Keys1: "auth 2\n1 sha1 old-key\n2 sha1 new-key\n", Keys2: "auth 2\n1 sha1 old-key\n2 sha1 new-key\n"}})
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			tc.s.Failback = "on"
			h := newInteropLab(t, tc.s)
			h.startHeartbeat(h.Node(1), h.Node(2))
			ctx := t.Context()
			if err := h.waitMembers(ctx, 15*time.Second); err != nil {
				t.Fatal(err)
			}
			// The group settles on node1 (preferred) well before 3.0.6's
			// RQSTDELAY (10 s) thanks to our stable answer.
			if d, err := h.waitHolders(ctx, 15*time.Second, "node1"); err != nil {
				t.Fatal(err)
			} else {
				t.Logf("VIP on node1 %v after membership", d.Round(time.Millisecond))
			}
			time.Sleep(time.Second)
			h.checkLogs(ctx)
			t.Logf("runtime %v", time.Since(start).Round(time.Millisecond))
		})
	}
}

// TestInteropHandover moves the group between 3.0.6 (node1) and ours
// (node2) in every way while a client probes the VIP every 50 ms.
func TestInteropHandover(t *testing.T) {
	start := time.Now()
	h := newInteropLab(t, interopSetup{Media: "ucast eth0 %[1]s\nucast eth0 %[2]s",
		Keys1: "auth 1\n1 sha1 interop\n", Keys2: "auth 1\n1 sha1 interop\n", Failback: "on"})
	ctx := t.Context()
	n1, n2 := h.Node(1), h.Node(2)
	h.startHeartbeat(n1, n2)
	if err := h.waitMembers(ctx, 15*time.Second); err != nil {
		t.Fatal(err)
	}
	if _, err := h.waitHolders(ctx, 15*time.Second, "node1"); err != nil {
		t.Fatal(err)
	}
	p := startProber(t, h.Client, h.VIP)
	if _, err := p.waitServed(ctx, "node1", time.Now(), 5*time.Second); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second) // both stable

	// 3.0.6 starts a group through ResourceManager and resource-agents'
	// IPaddr, which takes about 5 s here: moves towards node1 get more.
	const toOld = 12 * time.Second
	step := func(what, to string, within time.Duration, act func() error) {
		t.Helper()
		from := time.Now()
		if err := act(); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if _, err := p.waitServed(ctx, to, from, within); err != nil {
			h.checkLogs(ctx)
			t.Fatalf("%s: %v", what, err)
		}
		if _, err := h.waitHolders(ctx, 2*time.Second, to); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		p.logOutage(t, what, from)
		time.Sleep(time.Second) // let both sides report stable
	}
	step("hb_standby on 3.0.6", "node2", 5*time.Second, func() error {
		_, err := n1.Run(ctx, "/usr/share/heartbeat/hb_standby")
		return err
	})
	step("hbctl standby on ours", "node1", toOld, func() error {
		_, err := n2.Run(ctx, "hbctl", "standby")
		return err
	})
	step("hbctl takeover on ours", "node2", 5*time.Second, func() error {
		_, err := n2.Run(ctx, "hbctl", "takeover")
		return err
	})
	step("hb_takeover on 3.0.6", "node1", toOld, func() error {
		_, err := n1.Run(ctx, "/usr/share/heartbeat/hb_takeover")
		return err
	})
	h.checkLogs(ctx)
	step("graceful stop of 3.0.6", "node2", 3*time.Second, func() error {
		_, err := n1.Run(ctx, "systemctl", "stop", "heartbeat.service")
		return err
	})
	// 3.0.6 comes back: ours gives the group back (auto_failback on).
	step("3.0.6 restarts: auto_failback", "node1", 20*time.Second+toOld, func() error {
		_, err := n1.Run(ctx, "systemctl", "start", "heartbeat.service")
		return err
	})
	step("graceful stop of ours with the group on node1, then takeover by stop of 3.0.6", "node2", 25*time.Second, func() error {
		if _, err := n2.Run(ctx, "systemctl", "restart", "heartbeat.service"); err != nil {
			return err
		}
		if err := h.waitMembers(ctx, 15*time.Second); err != nil {
			return err
		}
		time.Sleep(2 * time.Second)
		_, err := n1.Run(ctx, "systemctl", "stop", "heartbeat.service")
		return err
	})
	if _, err := n1.Run(ctx, "systemctl", "start", "heartbeat.service"); err != nil {
		t.Fatal(err)
	}
	if _, err := h.waitHolders(ctx, 20*time.Second, "node1"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	h.checkLogs(ctx)
	// Ours holds the group and stops: 3.0.6 hears the good-bye and takes
	// the group because we left, not because we fell silent.
	step("hbctl takeover on ours, again", "node2", 5*time.Second, func() error {
		_, err := n2.Run(ctx, "hbctl", "takeover")
		return err
	})
	logBefore, err := n1.ReadFile("/var/log/ha-log")
	if err != nil {
		t.Fatal(err)
	}
	step("graceful stop of ours holding the group", "node1", toOld, func() error {
		_, err := n2.Run(ctx, "systemctl", "stop", "heartbeat.service")
		return err
	})
	if data, err := n1.ReadFile("/var/log/ha-log"); err != nil || len(data) < len(logBefore) {
		t.Fatalf("read 3.0.6 log: %v", err)
	} else {
		// 3.0.6 hears the notice and acquires at once; "is dead" may
		// follow later (it marks a node that left dead), never before.
		var notice, acquired, deadFirst bool
		for _, line := range strings.Split(string(data[len(logBefore):]), "\n") {
			switch {
			case strings.Contains(line, "Received shutdown notice from 'node2'"):
				notice = true
			case notice && strings.Contains(line, "Resources being acquired from node2"):
				acquired = true
			case !acquired && strings.Contains(line, "node node2: is dead"):
				deadFirst = true
			}
		}
		if !notice || !acquired || deadFirst {
			t.Errorf("3.0.6 after our graceful stop: shutdown notice %v, acquired on it %v, declared dead first %v", notice, acquired, deadFirst)
		}
	}
	if _, err := n2.Run(ctx, "systemctl", "start", "heartbeat.service"); err != nil {
		t.Fatal(err)
	}
	if err := h.waitMembers(ctx, 15*time.Second); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second)
	step("power off of 3.0.6", "node2", 5*time.Second, n1.PowerOff)
	t.Logf("runtime %v", time.Since(start).Round(time.Millisecond))
}

// TestInteropKeySwitch rotates the signing key of a running mixed cluster
// the way docs/interop-3.0.6.md says: both already list keys 1 and 2 and
// sign with 1; authkeys switches to `auth 2` on both nodes, then 3.0.6
// re-reads it (`heartbeat -r`) and ours reloads (`systemctl reload`), one
// right after the other (well within deadtime). Neither side declares the
// other dead (3.0.6 verifies with its active key only, so a side still on
// key 1 a deadtime later would be), the group stays on node1, and once
// both sign with key 2 neither logs a bad packet.
func TestInteropKeySwitch(t *testing.T) {
	start := time.Now()
	const (
		keys1 = "auth 1\n1 sha1 old-key\n2 sha1 new-key\n"
		keys2 = "auth 2\n1 sha1 old-key\n2 sha1 new-key\n"
	)
	h := newInteropLab(t, interopSetup{Media: "ucast eth0 %[1]s\nucast eth0 %[2]s", Keys1: keys1, Keys2: keys1, Failback: "on"})
	n1, n2 := h.Node(1), h.Node(2)
	h.startHeartbeat(n1, n2)
	ctx := t.Context()
	if err := h.waitMembers(ctx, 15*time.Second); err != nil {
		t.Fatal(err)
	}
	if _, err := h.waitHolders(ctx, 15*time.Second, "node1"); err != nil {
		t.Fatal(err)
	}
	// 3.0.6 must be done with its start-up: a re-read signalled while its
	// resource scripts still run leaves it verifying with the old key.
	if _, err := sdEventually(ctx, 15*time.Second, "3.0.6 settled on node1", func() (bool, string) {
		rsc, _ := n1.Run(ctx, "cl_status", "rscstatus")
		web, _ := n1.Run(ctx, "systemctl", "is-active", "hbweb.service")
		rsc, web = strings.TrimSpace(rsc), strings.TrimSpace(web)
		return rsc != "" && rsc != "transition" && web == "active", "rscstatus " + rsc + ", hbweb " + web
	}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	for _, n := range h.Nodes() {
		if err := n.WriteFile("/etc/ha.d/authkeys", []byte(keys2), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	switched := time.Now()
	if _, err := n1.Run(ctx, oldDaemon, "-r"); err != nil {
		t.Fatal(err)
	}
	if _, err := n2.Run(ctx, "systemctl", "reload", "heartbeat.service"); err != nil {
		t.Fatal(err)
	}
	t.Logf("both nodes on auth 2 %v after the first re-read", time.Since(switched).Round(time.Millisecond))
	// Settled: from here on every packet is signed and checked with key 2.
	time.Sleep(time.Second)
	settled := time.Now()
	logSize := 0
	if data, err := n1.ReadFile("/var/log/ha-log"); err == nil {
		logSize = len(data)
	}
	st0, err := h.status(ctx, n2)
	if err != nil {
		t.Fatal(err)
	}
	// Three deadtimes on key 2.
	time.Sleep(3 * time.Second)
	es := h.checkSteady(ctx, switched, "across the key switch")
	if ok := matching(es, "configuration reloaded"); len(ok) == 0 {
		t.Errorf("our journal since the switch has no reload line:%s", formatEntries(es))
	}
	late, err := journalSince(ctx, n2, "heartbeat.service", settled)
	if err != nil {
		t.Fatal(err)
	}
	if bad := matching(late, "packet dropped"); len(bad) > 0 {
		t.Errorf("ours dropped packets on key 2:%s", formatEntries(bad))
	}
	st1, err := h.status(ctx, n2)
	if err != nil {
		t.Fatal(err)
	}
	if st1.Counters["bad_auth"] != st0.Counters["bad_auth"] {
		t.Errorf("our bad_auth counter went from %d to %d on key 2", st0.Counters["bad_auth"], st1.Counters["bad_auth"])
	}
	data, err := n1.ReadFile("/var/log/ha-log")
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.SplitSeq(string(data[min(logSize, len(data)):]), "\n") {
		for _, b := range []string{"authentication failed", "authtoken does not match", "Invalid authentication", "failed authentication", "bad packet", "is dead"} {
			if strings.Contains(line, b) {
				t.Errorf("3.0.6 log on key 2: %s", line)
				break
			}
		}
	}
	for line := range strings.SplitSeq(string(data[:min(logSize, len(data))]), "\n") {
		if strings.Contains(line, "node2") && strings.Contains(line, "dead") {
			t.Errorf("3.0.6 declared node2 dead across the key switch: %s", line)
		}
	}
	t.Logf("runtime %v", time.Since(start).Round(time.Millisecond))
}

// TestInteropRexmit puts 15 % loss on the cable between 3.0.6 and ours
// (both directions) for 15 s. Each side misses messages of the other and
// asks for them (NS_rexmit); the other resends them. Checked: ours served
// 3.0.6's requests (rexmit_sent), asked for what it missed (rexmit_asked)
// and got those gaps filled (gap_filled); 3.0.6 logged the retransmissions
// it asked for and got, and neither declared the other dead or logged a
// bad packet. The deadtime is 3 s (15 keepalives) here: at the usual 1 s,
// 15 % loss gives a silence of a whole deadtime (4-5 lost in a row, by 3.0.6's
// send jitter) in about 1 run of 30 over the 75 windows of 15 s, and a CI
// run did hit it. Losing 14 in a row is out of reach (0.15^14 per window).
func TestInteropRexmit(t *testing.T) {
	start := time.Now()
	h := newInteropLab(t, interopSetup{Media: "ucast eth0 %[1]s\nucast eth0 %[2]s",
		Keys1: "auth 1\n1 sha1 interop\n", Keys2: "auth 1\n1 sha1 interop\n", Failback: "on",
		Deadtime: "3"})
	n1, n2 := h.Node(1), h.Node(2)
	h.startHeartbeat(n1, n2)
	ctx := t.Context()
	if err := h.waitMembers(ctx, 15*time.Second); err != nil {
		t.Fatal(err)
	}
	if _, err := h.waitHolders(ctx, 15*time.Second, "node1"); err != nil {
		t.Fatal(err)
	}
	st0, err := h.status(ctx, n2)
	if err != nil {
		t.Fatal(err)
	}
	logSize := 0
	if data, err := n1.ReadFile("/var/log/ha-log"); err == nil {
		logSize = len(data)
	}
	lossy := time.Now()
	if err := n2.Netem("loss", "15%"); err != nil {
		if errors.Is(err, ErrNoNetem) {
			t.Skip(err)
		}
		t.Fatal(err)
	}
	time.Sleep(15 * time.Second)
	if err := n2.ClearNetem(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second) // the last requests are answered
	st1, err := h.status(ctx, n2)
	if err != nil {
		t.Fatal(err)
	}
	d := func(k string) uint64 { return st1.Counters[k] - st0.Counters[k] }
	t.Logf("ours during the loss: received %d, rexmit_asked %d, gap_filled %d, rexmit_sent %d (served to 3.0.6)",
		d("received"), d("rexmit_asked"), d("gap_filled"), d("rexmit_sent"))
	for _, k := range []string{"rexmit_asked", "gap_filled", "rexmit_sent"} {
		if d(k) == 0 {
			t.Errorf("counter %s did not move under 15 %% loss", k)
		}
	}
	h.checkSteady(ctx, lossy, "under loss")
	data, err := n1.ReadFile("/var/log/ha-log")
	if err != nil {
		t.Fatal(err)
	}
	var lost, filled int
	lastFilled := false // 3.0.6's last word on node2's sequence: nothing missing
	for line := range strings.SplitSeq(string(data[min(logSize, len(data)):]), "\n") {
		switch {
		case strings.Contains(line, "lost packet"):
			lost++
			lastFilled = false
		case strings.Contains(line, "No pkts missing from node2"):
			filled++
			lastFilled = true
		}
		if strings.Contains(line, "node2") {
			t.Logf("3.0.6: %s", line)
		}
		for _, b := range []string{"is dead", "bad packet", "ERROR", "authentication"} {
			if strings.Contains(line, b) {
				t.Errorf("3.0.6 log under loss: %s", line)
				break
			}
		}
	}
	t.Logf("3.0.6 log during the loss: %d 'lost packet' lines, %d 'No pkts missing' lines", lost, filled)
	if !lastFilled {
		t.Errorf("3.0.6 still misses packets of ours after the loss")
	}
	if lost == 0 || filled == 0 {
		t.Errorf("3.0.6 did not both miss packets of ours and get them all resent (%d lost, %d filled)", lost, filled)
	}
	h.checkLogs(ctx)
	t.Logf("runtime %v", time.Since(start).Round(time.Millisecond))
}
