//go:build clustertest

package cluster

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The fault campaign (issue 10 item 4): faults not covered by the failover
// tests, on the same two-node cluster (newHALab: VIP + hbweb, keepalive
// 100ms, deadtime 500ms) with the client probing http://<VIP>/ every 50ms.
// Each test logs the client's longest outage ("OUTAGE") and samples the VIP
// holders of both nodes every holderEvery in the background: two holders
// at once are allowed only where a node cannot know better (its link is
// cut), and never once the owner has settled.

// holderEvery is the VIP holder sampling interval of the campaign.
const holderEvery = 30 * time.Millisecond

// TestCampaignLinkFlap flaps node1's cable: down 1s, up 1s (a flap every
// 2s) for a minute, as the campaign asks: 30 flaps, each longer than
// deadtime, so every one of them is a takeover by node2 and a split brain
// to heal. In the end exactly one node holds the VIP and serves the client.
func TestCampaignLinkFlap(t *testing.T) {
	start := time.Now()
	h := newHALab(t, haSetup{AutoFailback: "on"})
	ctx := t.Context()
	p := h.startCluster(ctx)
	n1 := h.Node(1)
	w := h.watchHolders(holderEvery)

	const (
		flapFor = time.Minute
		downFor = time.Second
		upFor   = time.Second
	)
	type window struct{ cut, restored time.Time }
	var cuts []window
	before := time.Now().Add(-500 * time.Millisecond)
	fault := time.Now()
	for time.Since(fault) < flapFor {
		c := time.Now()
		if err := n1.CutLink(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(downFor)
		if err := n1.RestoreLink(); err != nil {
			t.Fatal(err)
		}
		cuts = append(cuts, window{c, time.Now()})
		time.Sleep(upFor)
	}
	last := cuts[len(cuts)-1].restored
	t.Logf("%d flaps of node1's link in %v", len(cuts), last.Sub(fault).Round(time.Millisecond))

	// Settle: one holder, and the owner agreed on by both daemons.
	d, err := h.waitHolders(ctx, 10*time.Second, "node1")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("one VIP holder (node1, the preferred node) %v after the last restore", d.Round(time.Millisecond))
	if _, err := h.waitOwner(ctx, "node1", 5*time.Second); err != nil {
		t.Fatal(err)
	}
	served, err := p.waitServed(ctx, "node1", time.Now(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	settled := time.Now()
	for _, r := range p.settle(ctx, served, 1500*time.Millisecond) {
		if r.Node != "node1" {
			t.Errorf("after the flapping settled the VIP answered %q (%v), want node1", r.Node, r.Err)
		}
	}
	h.checkHolders(ctx, "node1")
	h.checkClientSees(ctx, n1)

	// Two holders are expected while node1 is cut off (it cannot know) and
	// until the heal after each restore; never after the settle.
	w.checkOverlap(t, "during and after the link flapping", before, func(at time.Time) bool {
		if at.After(settled) {
			return false
		}
		for _, c := range cuts {
			if !at.Before(c.cut) && at.Before(c.restored.Add(healWithin)) {
				return true
			}
		}
		return false
	})
	if err := w.stop(); err != nil {
		t.Errorf("VIP sampler: %v", err)
	}
	o := p.logOutage(t, "link of the owner flapping every 2s for a minute", before)
	if o.Open {
		t.Errorf("the client is not served after the flapping: %s", o)
	}
	// Each cut is a takeover: deadtime, then node2 announces the VIP. But
	// Linux ignores a gratuitous ARP within neigh locktime (1 s) of the last
	// update, so when ownership changes faster than that the client can keep
	// a stale entry until it goes STALE and is probed again (up to ~10 s):
	// a known weakness under flapping, bounded here rather than hidden.
	if limit := 15 * time.Second; o.Gap > limit {
		t.Errorf("longest outage %s, want at most %v", o, limit)
	}
	acq := map[string]int{}
	for _, n := range h.Nodes() {
		es, err := journalSince(ctx, n, "heartbeat.service", fault)
		if err != nil {
			t.Fatal(err)
		}
		acq[n.Hostname] = len(matching(es, "resource group", "group="+h.Key, "state=running"))
	}
	t.Logf("FLAP REPORT: %d flaps, %d changes of the VIP holder set, group acquisitions %v, longest outage %s",
		len(cuts), w.changes(before), acq, o)
	if acq["node2"] == 0 {
		t.Errorf("node2 never took the group over during %d link cuts longer than deadtime", len(cuts))
	}
	h.logHeartbeatJournal(ctx, h.Node(2), "split brain", "node status changed")
	t.Logf("runtime %v", time.Since(start).Round(time.Millisecond))
}

// TestCampaignDaemonReexec re-executes systemd in node1 (the owner) while
// the client probes: heartbeat keeps running under the same PID, keeps the
// group and the client loses at most one probe.
func TestCampaignDaemonReexec(t *testing.T) {
	start := time.Now()
	h := newHALab(t, haSetup{AutoFailback: "on"})
	ctx := t.Context()
	p := h.startCluster(ctx)
	n1, n2 := h.Node(1), h.Node(2)
	w := h.watchHolders(holderEvery)

	pid, err := sdMainPID(ctx, n1)
	if err != nil || pid == 0 {
		t.Fatalf("node1 heartbeat MainPID %d (%v)", pid, err)
	}
	before := time.Now().Add(-500 * time.Millisecond)
	fault := time.Now()
	if _, err := n1.Run(ctx, "systemctl", "daemon-reexec"); err != nil {
		t.Fatal(err)
	}
	t.Logf("systemctl daemon-reexec took %v", time.Since(fault).Round(time.Millisecond))
	// Long enough for several watchdog periods (half the deadtime) and for
	// node2 to notice node1 if it had gone quiet.
	rs := p.settle(ctx, fault, 3*time.Second)
	if after, err := sdMainPID(ctx, n1); err != nil || after != pid {
		t.Errorf("node1 heartbeat MainPID %d (%v) after daemon-reexec, want %d", after, err, pid)
	}
	if st := sdIsActive(ctx, n1, "heartbeat.service"); st != "active" {
		t.Errorf("node1 heartbeat.service %s after daemon-reexec, want active", st)
	}
	if nr, err := sdShow(ctx, n1, "heartbeat.service", "NRestarts"); err != nil || nr != "0" {
		t.Errorf("node1 heartbeat.service NRestarts %q (%v), want 0", nr, err)
	}
	if _, err := h.waitOwner(ctx, "node1", time.Second); err != nil {
		t.Error(err)
	}
	for _, r := range rs {
		if r.Node != "node1" && r.Err == nil {
			t.Errorf("during daemon-reexec the VIP answered %q, want node1", r.Node)
		}
	}
	o := p.logOutage(t, "systemctl daemon-reexec in the owner", before)
	if o.Open || o.Gap > 2*probeEvery {
		t.Errorf("outage %s across daemon-reexec, want at most one lost probe (%v between answers)", o, 2*probeEvery)
	}
	w.checkOverlap(t, "across daemon-reexec", before, nil)
	h.checkHolders(ctx, "node1")
	h.checkClientSees(ctx, n1)
	es, err := journalSince(ctx, n2, "heartbeat.service", fault)
	if err != nil {
		t.Fatal(err)
	}
	if bad := matching(es, "node status changed", "node=node1"); len(bad) > 0 {
		t.Errorf("node2 saw node1 change status across its daemon-reexec:%s", formatEntries(bad))
	}
	es, err = journalSince(ctx, n1, "heartbeat.service", fault)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("node1 heartbeat journal since daemon-reexec:%s", formatEntries(es))

	// The unit agent still drives systemd after the re-exec (its bus
	// connection to systemd was cut): re-exec node2's systemd too, then a
	// standby stops hbweb.service on node1 and starts it on node2, and a
	// takeover brings it back.
	if _, err := n2.Run(ctx, "systemctl", "daemon-reexec"); err != nil {
		t.Fatal(err)
	}
	for _, step := range []struct {
		cmd      string
		on       *Node
		from, to *Node
	}{{"standby", n1, n1, n2}, {"takeover", n1, n2, n1}} {
		req := time.Now()
		if err := h.hbctl(ctx, step.on, step.cmd); err != nil {
			t.Fatal(err)
		}
		if _, err := p.waitServed(ctx, step.to.Hostname, req, 5*time.Second); err != nil {
			t.Fatalf("hbctl %s after daemon-reexec: %v", step.cmd, err)
		}
		if _, err := sdEventually(ctx, 5*time.Second, "hbweb.service inactive in "+step.from.Hostname, func() (bool, string) {
			st := sdIsActive(ctx, step.from, "hbweb.service")
			return st == "inactive", st
		}); err != nil {
			t.Errorf("hbctl %s after daemon-reexec: %v", step.cmd, err)
		}
		if st := sdIsActive(ctx, step.to, "hbweb.service"); st != "active" {
			t.Errorf("hbctl %s after daemon-reexec: hbweb.service %s in %s, want active", step.cmd, st, step.to.Hostname)
		}
		t.Logf("hbctl %s after daemon-reexec: served by %s %v after the request", step.cmd, step.to.Hostname, time.Since(req).Round(time.Millisecond))
	}
	t.Logf("runtime %v", time.Since(start).Round(time.Millisecond))
}

// hbhang is a resource script whose stop hangs: it marks the resource
// stopped, then waits for a child "sleep infinity" (in the script's process
// group) that never ends. Its pid goes to /run/hbhang.sleep.
const hbhang = `#!/bin/sh
# hbhang {start|stop|status}: campaign resource whose stop never returns.
state=/run/hbhang.state
echo "$(date +%s.%N) $1" >> /var/log/hbhang.log
case "$1" in
start) touch "$state" ;;
stop)
	rm -f "$state"
	sleep infinity &
	echo $! > /run/hbhang.sleep
	wait
	;;
status)
	if [ -e "$state" ]; then echo running; else echo stopped; exit 3; fi ;;
*) exit 2 ;;
esac
exit 0
`

// scriptTimeout is the script agent's timeout (internal/resource/script
// DefaultTimeout); the daemon has no setting for it.
const scriptTimeout = 60 * time.Second

// TestCampaignHangingScript puts node1 in standby with a group whose
// resource script hangs in stop. The daemon offers no way to shorten the
// script timeout (script.Options.Timeout is always DefaultTimeout, 60s),
// and every operation (start, stop, status) has the same one, so this
// test waits the full minute once; a hanging stop is the one that does not
// cost the client anything meanwhile (hbweb and the VIP, stopped after the
// script, keep serving from node1). After the timeout the agent kills the
// script's process group (the sleep child must be gone); the script's
// status then says stopped, so the release goes on ("probably not
// LSB-compliant") and node2 takes the group. During the hang the daemon
// must stay alive (same PID, not killed by the watchdog) and hbctl status
// must answer in both nodes.
func TestCampaignHangingScript(t *testing.T) {
	start := time.Now()
	h := newHALab(t, haSetup{AutoFailback: "on", Extra: []string{"hbhang"},
		Scripts: map[string]string{"hbhang": hbhang}})
	ctx := t.Context()
	p := h.startCluster(ctx)
	n1, n2 := h.Node(1), h.Node(2)
	w := h.watchHolders(holderEvery)
	pid, err := sdMainPID(ctx, n1)
	if err != nil || pid == 0 {
		t.Fatalf("node1 heartbeat MainPID %d (%v)", pid, err)
	}

	before := time.Now().Add(-500 * time.Millisecond)
	req := time.Now()
	if err := h.hbctl(ctx, n1, "standby"); err != nil {
		t.Fatal(err)
	}
	// The stop is hanging: wait for its sleep child.
	var sleepPID int
	if _, err := sdEventually(ctx, 5*time.Second, "hbhang stop hanging in node1", func() (bool, string) {
		b, err := n1.ReadFile("/run/hbhang.sleep")
		if err != nil {
			return false, err.Error()
		}
		sleepPID, err = strconv.Atoi(strings.TrimSpace(string(b)))
		return err == nil, string(b)
	}); err != nil {
		t.Fatal(err)
	}
	t.Logf("hbhang stop hanging %v after hbctl standby (sleep child pid %d)", time.Since(req).Round(time.Millisecond), sleepPID)

	// During the hang: the daemons answer, node1 still holds and serves.
	var worst time.Duration
	polls := 0
	for time.Since(req) < scriptTimeout-5*time.Second {
		for _, n := range []*Node{n1, n2} {
			q := time.Now()
			st, err := h.status(ctx, n)
			took := time.Since(q)
			worst = max(worst, took)
			polls++
			if err != nil {
				t.Fatalf("%s: hbctl status during the hanging stop (%v after standby): %v", n.Hostname, time.Since(req).Round(time.Millisecond), err)
			}
			if took > 2*time.Second {
				t.Errorf("%s: hbctl status took %v during the hanging stop", n.Hostname, took.Round(time.Millisecond))
			}
			if n == n1 {
				for _, g := range st.Groups {
					if g.Key == h.Key && g.Owner != "node1" {
						t.Errorf("node1 says the group is owned by %q while its stop hangs, want node1", g.Owner)
					}
				}
			}
		}
		if _, err := n1.Run(ctx, "kill", "-0", strconv.Itoa(sleepPID)); err != nil {
			t.Fatalf("hbhang's sleep child died %v after standby, before the timeout: %v", time.Since(req).Round(time.Millisecond), err)
		}
		time.Sleep(2 * time.Second)
	}
	t.Logf("hbctl status answered %d times during the hang, slowest %v", polls, worst.Round(time.Millisecond))
	for _, r := range p.since(before) {
		if r.Node != "node1" {
			t.Errorf("while the stop hangs the VIP answered %q (%v), want node1", r.Node, r.Err)
			break
		}
	}
	h.checkHolders(ctx, "node1")

	// The timeout: the agent kills the process group, the release goes
	// on, node2 takes the group.
	served, err := p.waitServed(ctx, "node2", req, scriptTimeout+servedWithin)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("node2 serves %v after hbctl standby", served.Sub(req).Round(time.Millisecond))
	if served.Sub(req) < scriptTimeout-time.Second {
		t.Errorf("node2 served %v after standby, before the %v script timeout", served.Sub(req), scriptTimeout)
	}
	if _, err := h.waitOwner(ctx, "node2", 2*time.Second); err != nil {
		t.Fatal(err)
	}
	if out, err := n1.Run(ctx, "kill", "-0", strconv.Itoa(sleepPID)); err == nil {
		t.Errorf("hbhang's sleep child %d still alive after the timeout: the process group was not killed (%s)", sleepPID, out)
	}
	if after, err := sdMainPID(ctx, n1); err != nil || after != pid {
		t.Errorf("node1 heartbeat MainPID %d (%v) after the hang, want %d", after, err, pid)
	}
	for _, r := range p.settle(ctx, served, time.Second) {
		if r.Node != "node2" {
			t.Errorf("after the release the VIP answered %q (%v), want node2", r.Node, r.Err)
		}
	}
	p.checkOutage(t, "standby with a stop hanging until the script timeout", before, moveWithin)
	w.checkOverlap(t, "standby with a hanging stop", before, nil)
	h.checkHolders(ctx, "node2")
	h.checkClientSees(ctx, n2)

	es, err := journalSince(ctx, n1, "heartbeat.service", req)
	if err != nil {
		t.Fatal(err)
	}
	timedOut := matching(es, "script timed out", "op=stop", "resource=hbhang")
	if len(timedOut) != 1 {
		t.Errorf("node1 journal: %d 'script timed out' lines for hbhang stop, want 1", len(timedOut))
	} else if d := timedOut[0].At.Sub(req); d < scriptTimeout-time.Second || d > scriptTimeout+5*time.Second {
		t.Errorf("hbhang stop timed out %v after standby, want about %v", d.Round(time.Millisecond), scriptTimeout)
	}
	if len(matching(es, "resource stopped", "resource=hbweb")) != 1 {
		t.Errorf("node1 did not stop hbweb after the timed-out script")
	}
	t.Logf("node1 heartbeat journal since standby:%s", formatEntries(es))
	t.Logf("runtime %v", time.Since(start).Round(time.Millisecond))
}

// hbunitfail is a unit that starts everywhere but on node1 (%H is the
// host name): on node1 its ExecStart is as good as /bin/false.
const hbunitfail = `[Unit]
Description=campaign: unit resource that fails to start on node1 only

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/bin/sh -c 'test "%H" != node1'
`

// TestCampaignUnitFailsToStart has a systemd unit resource that fails to
// start on node1: node1 releases the group and node2 takes it and serves.
func TestCampaignUnitFailsToStart(t *testing.T) {
	start := time.Now()
	h := newCampaignLab(t, haSetup{AutoFailback: "on", Extra: []string{"hbunitfail"}},
		map[string]campaignFile{"/etc/systemd/system/hbunitfail.service": {hbunitfail, 0o644}})
	ctx := t.Context()
	n1, n2 := h.Node(1), h.Node(2)
	w := h.watchHolders(holderEvery)
	boot := time.Now()

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
	for _, r := range p.settle(ctx, served, 1500*time.Millisecond) {
		if r.Node != "node2" {
			t.Errorf("the VIP answered %q (%v), want node2", r.Node, r.Err)
		}
	}
	p.logOutage(t, "unit resource failing on node1 (from the first answer)", served)
	h.checkHolders(ctx, "node2")
	h.checkClientSees(ctx, n2)
	if st := sdIsActive(ctx, n1, "hbunitfail.service"); st != "failed" {
		t.Errorf("node1 hbunitfail.service %q, want failed", st)
	}
	if st := sdIsActive(ctx, n2, "hbunitfail.service"); st != "active" {
		t.Errorf("node2 hbunitfail.service %q, want active", st)
	}
	if st := sdIsActive(ctx, n1, "hbweb.service"); st != "inactive" {
		t.Errorf("node1 hbweb.service %q after the failed start, want inactive (released)", st)
	}

	es, err := journal(ctx, n1, "heartbeat.service")
	if err != nil {
		t.Fatal(err)
	}
	failed := matching(es, "resource group", "group="+h.Key, "start failed")
	if len(failed) == 0 {
		t.Fatalf("node1's journal has no 'start failed' group event:%s", formatEntries(es))
	}
	if len(matching(es, "hbunitfail")) == 0 {
		t.Errorf("node1's journal never names hbunitfail")
	}
	// As journal fields: the failure is an error (PRIORITY=3) with its
	// MESSAGE_ID, then the release has the release MESSAGE_ID.
	gs, err := sdJournal(ctx, n1, "GROUP="+h.Key)
	if err != nil {
		t.Fatal(err)
	}
	var failEntry, relEntry *sdEntry
	for i := range gs {
		e := &gs[i]
		switch {
		case failEntry == nil && e.Fields["MESSAGE_ID"] == sdMsgGroupFailed:
			failEntry = e
		case failEntry != nil && relEntry == nil && e.Fields["MESSAGE_ID"] == sdMsgGroupReleased:
			relEntry = e
		}
	}
	if failEntry == nil || relEntry == nil {
		t.Fatalf("node1: GROUP=%s entries lack the failure (%v) or the release after it (%v):\n%s", h.Key, failEntry != nil, relEntry != nil, sdEntries(gs))
	}
	if failEntry.Fields["PRIORITY"] != "3" || !strings.Contains(failEntry.Fields["ERR"], "hbunitfail") {
		t.Errorf("failure entry %s: PRIORITY=%q ERR=%q, want 3 and the failing unit", failEntry, failEntry.Fields["PRIORITY"], failEntry.Fields["ERR"])
	}
	if relEntry.Fields["STATE"] != "failed" || relEntry.Fields["PRIORITY"] != "6" {
		t.Errorf("release entry %s: STATE=%q PRIORITY=%q, want failed and 6", relEntry, relEntry.Fields["STATE"], relEntry.Fields["PRIORITY"])
	}
	// node1 held the VIP until it released the group; node2 took it after.
	// Two holders would only be excusable within deadtime of the failure.
	w.checkOverlap(t, "start failure on node1 and takeover by node2", boot, func(at time.Time) bool {
		return !at.Before(failed[0].At) && at.Before(failed[0].At.Add(haDeadtime))
	})
	h.logHeartbeatJournal(ctx, n1, "resource group", "hbunitfail", "resource started", "resource stopped", "address")
	h.logHeartbeatJournal(ctx, n2, "resource group", "resource started", "address", "node status changed")
	t.Logf("runtime %v", time.Since(start).Round(time.Millisecond))
}

// TestCampaignStateDirFull moves the group to node2 (standby), then
// restarts heartbeat on node1 with a full state directory (a 64k tmpfs over
// /var/lib/heartbeat, filled, with the node's hb_uuid kept so the
// generation is the first write): the daemon must say clearly in the
// journal that it cannot write hb_generation, systemd's restarts must end
// (the unit fails, no endless loop), and node2 serves without a break.
func TestCampaignStateDirFull(t *testing.T) {
	start := time.Now()
	h := newHALab(t, haSetup{AutoFailback: "on"})
	ctx := t.Context()
	p := h.startCluster(ctx)
	n1, n2 := h.Node(1), h.Node(2)
	w := h.watchHolders(holderEvery)

	// node2 serves first: stopping heartbeat while it holds a unit
	// resource (hbweb) hangs (heartbeat.service is ordered After= the unit,
	// so the unit's stop job waits for heartbeat's own stop job, which
	// waits for the unit: a separate daemon bug, reported with the
	// campaign), and the point here is the restart with a full directory.
	if err := h.hbctl(ctx, n1, "standby"); err != nil {
		t.Fatal(err)
	}
	if _, err := h.waitOwner(ctx, "node2", 5*time.Second); err != nil {
		t.Fatal(err)
	}
	moved, err := p.waitServed(ctx, "node2", time.Now(), 3*time.Second)
	if err != nil {
		t.Fatal(err)
	}

	uuid, err := n1.ReadFile("/var/lib/heartbeat/hb_uuid")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n1.Run(ctx, "mount", "-t", "tmpfs", "-o", "size=64k,mode=0755", "hbfull", "/var/lib/heartbeat"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if n1.Running() {
			n1.Run(context.Background(), "umount", "-l", "/var/lib/heartbeat")
		}
	})
	if err := n1.WriteFile("/var/lib/heartbeat/hb_uuid", uuid, 0o644); err != nil {
		t.Fatal(err)
	}
	// dd stops with "No space left on device" (exit 1): that is the point.
	n1.Run(ctx, "dd", "if=/dev/zero", "of=/var/lib/heartbeat/fill", "bs=1k")
	df, err := n1.Run(ctx, "df", "--output=avail,used,size", "-B1", "/var/lib/heartbeat")
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(df)
	if len(f) < 6 || f[3] != "0" {
		t.Fatalf("state directory not full: df says %q", df)
	}
	t.Logf("node1 /var/lib/heartbeat: %s", strings.Join(strings.Fields(df), " "))

	before := moved // node2 serves from here on
	fault := time.Now()
	sctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	out, rerr := n1.Run(sctx, "systemctl", "restart", "heartbeat.service")
	hung := sctx.Err() != nil
	cancel()
	t.Logf("systemctl restart heartbeat in node1: %v %s (took %v)", rerr, out, time.Since(fault).Round(time.Millisecond))
	if hung {
		t.Fatalf("systemctl restart heartbeat in node1 hung")
	}
	served := time.Now()
	if _, err := h.waitOwner(ctx, "node2", 2*time.Second, n2); err != nil {
		t.Fatal(err)
	}
	// Let systemd's restarts (RestartSec=1s) run their course.
	var state string
	if _, err := sdEventually(ctx, 15*time.Second, "node1 heartbeat.service to give up", func() (bool, string) {
		state = sdIsActive(ctx, n1, "heartbeat.service")
		return state == "failed", state
	}); err != nil {
		t.Errorf("%v: the daemon is still being restarted (or runs) with a full state directory", err)
	}
	props, _ := n1.Run(ctx, "systemctl", "show", "-p", "ActiveState,SubState,Result,NRestarts,ExecMainStatus", "heartbeat.service")
	t.Logf("node1 heartbeat.service: %s", strings.Join(strings.Fields(props), " "))

	for _, r := range p.settle(ctx, served, time.Second) {
		if r.Node != "node2" {
			t.Errorf("with node1's heartbeat failing the VIP answered %q (%v), want node2", r.Node, r.Err)
		}
	}
	if o := p.logOutage(t, "restart of node1's heartbeat with a full state directory", before); o.Failed > 0 {
		t.Errorf("node1's failing restarts interrupted node2's service: %s", o)
	}
	w.checkOverlap(t, "standby, then restart with a full state directory", time.Time{}, nil)
	h.checkHolders(ctx, "node2")
	h.checkClientSees(ctx, n2)

	es, err := journalSince(ctx, n1, "heartbeat.service", fault)
	if err != nil {
		t.Fatal(err)
	}
	clearLines := matching(es, "generation", "no space left on device")
	if len(clearLines) == 0 {
		t.Errorf("node1's journal has no line saying hb_generation cannot be written (no space left on device)")
	}
	starts := matching(es, "heartbeat starting")
	t.Logf("STATEDIR REPORT: %d 'cannot write generation' lines, %d 'heartbeat starting' lines, unit %s; node1 journal since the restart:%s",
		len(clearLines), len(starts), state, formatEntries(es))
	t.Logf("runtime %v", time.Since(start).Round(time.Millisecond))
}

// TestCampaignStopOwnerWithUnit: `systemctl stop heartbeat` on the owner of a
// group with a systemd unit finishes at once and the peer takes over. (The
// daemon orders itself after its units; a stop job for the unit queued in
// "replace" mode would wait for heartbeat's own stop: a deadlock.)
func TestCampaignStopOwnerWithUnit(t *testing.T) {
	h := newHALab(t, haSetup{AutoFailback: "on"})
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	p := h.startCluster(ctx)
	start := time.Now()
	if _, err := h.Node(1).Run(ctx, "timeout", "20", "systemctl", "stop", "heartbeat"); err != nil {
		t.Fatalf("systemctl stop heartbeat on the owner: %v (after %v)", err, time.Since(start))
	}
	took := time.Since(start)
	t.Logf("stop took %v", took.Round(time.Millisecond))
	if took > 10*time.Second {
		t.Errorf("stopping the owner took %v", took)
	}
	if _, err := p.waitServed(ctx, "node2", start, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	p.logOutage(t, "graceful stop of the owner", start.Add(-time.Second))
	if _, err := h.waitHolders(ctx, 5*time.Second, "node2"); err != nil {
		t.Error(err)
	}
}

// hbstopfail is a resource whose stop fails, while its status says it
// still runs, as long as /etc/hbstopfail.broken exists: the case where
// 3.0.6 reboots the node (RecoverFromFailedStop). Its state lives in /run,
// so a reboot clears it.
const hbstopfail = `#!/bin/sh
# hbstopfail {start|stop|status}: campaign resource that cannot be stopped.
state=/run/hbstopfail.state
echo "$(date +%s.%N) $1" >> /var/log/hbstopfail.log
case "$1" in
start) touch "$state" ;;
stop)
	[ -e /etc/hbstopfail.broken ] && exit 1
	rm -f "$state" ;;
status)
	if [ -e "$state" ]; then echo running; else echo stopped; exit 3; fi ;;
*) exit 2 ;;
esac
exit 0
`

// fenceWithin bounds standby-to-reboot: ten stop attempts a second apart,
// then the reboot job, the node's shutdown and the harness booting it again.
const fenceWithin = 30 * time.Second

// TestCampaignStopFailureFences puts node1 in standby with a group whose
// last resource cannot be stopped. As in 3.0.6, node1 retries that stop
// ten times a second apart while what the resource stands on (hbweb, the
// VIP) keeps running and serving, then fences itself through systemd
// (reboot.target). The reboot must come promptly: heartbeat.service,
// stopped by the shutdown, must not wait for the group it cannot release,
// and must leave without a good-bye, so that node2 cannot take the group
// before node1 is down. After the reboot node1 serves again (node2 may
// hold the group meanwhile: node1 is the preferred node and auto_failback
// is on), and never did two nodes hold the VIP.
func TestCampaignStopFailureFences(t *testing.T) {
	start := time.Now()
	h := newHALab(t, haSetup{AutoFailback: "on", Extra: []string{"hbstopfail"},
		Scripts: map[string]string{"hbstopfail": hbstopfail}})
	ctx := t.Context()
	p := h.startCluster(ctx)
	n1, n2 := h.Node(1), h.Node(2)
	w := h.watchHolders(holderEvery)
	boots := n1.Boots()
	if err := n1.WriteFile("/etc/hbstopfail.broken", nil, 0o644); err != nil {
		t.Fatal(err)
	}

	before := time.Now().Add(-500 * time.Millisecond)
	req := time.Now()
	if err := h.hbctl(ctx, n1, "standby"); err != nil {
		t.Fatal(err)
	}
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for n1.Boots() == boots || n1.PID1() == 0 {
		if time.Since(req) > fenceWithin {
			t.Fatalf("node1 not rebooted %v after standby with a stop that fails (boots %d)", fenceWithin, n1.Boots())
		}
		select {
		case <-ctx.Done():
			t.Fatal(ctx.Err())
		case <-tick.C:
		}
	}
	rebootedAt := time.Now()
	t.Logf("node1 rebooted (boot %d) %v after hbctl standby", n1.Boots(), rebootedAt.Sub(req).Round(time.Millisecond))
	if err := n1.WaitRunning(ctx); err != nil {
		t.Fatal(err)
	}
	// Repaired: node1 can stop the resource again (for the failback and
	// the lab's shutdown).
	if _, err := n1.Run(ctx, "rm", "/etc/hbstopfail.broken"); err != nil {
		t.Fatal(err)
	}

	es, err := journalAllBoots(ctx, n1, "heartbeat.service")
	if err != nil {
		t.Fatal(err)
	}
	es = slices.DeleteFunc(es, func(e journalEntry) bool { return e.At.Before(req) })
	t.Logf("node1 heartbeat journal since standby (all boots):%s", formatEntries(es))
	if n := len(matching(es, "stop failed, retrying")); n != 9 {
		t.Errorf("node1 journal: %d 'stop failed, retrying' lines, want 9 (10 attempts)", n)
	}
	if n := len(matching(es, "resource stopped", "resource=hbweb")); n != 0 {
		t.Errorf("node1 stopped hbweb %d times under a resource that could not be stopped", n)
	}
	fence := matching(es, "fencing this node: rebooting")
	if len(fence) != 1 {
		t.Fatalf("node1 journal: %d 'fencing this node' lines, want 1", len(fence))
	}
	fencedAt := fence[0].At
	left := matching(es, "stopped without a good-bye")
	if len(left) != 1 {
		t.Errorf("node1 journal: %d 'stopped without a good-bye' lines, want 1", len(left))
	} else if d := left[0].At.Sub(fencedAt); d > 10*time.Second {
		t.Errorf("heartbeat stopped %v after the fence: the shutdown waited for the group", d.Round(time.Millisecond))
	}
	// While node1 retried, the client was served by node1 alone.
	for _, r := range p.since(req) {
		if r.At.After(fencedAt.Add(-200 * time.Millisecond)) {
			break
		}
		if r.Node != "node1" {
			t.Errorf("during the stop retries the VIP answered %q (%v) at %s, want node1", r.Node, r.Err, r.At.Format("15:04:05.000"))
			break
		}
	}

	// Back within deadtime or not, node1 is the preferred node again
	// (auto_failback on): it ends up serving.
	if _, err := h.waitOwner(ctx, "node1", 15*time.Second); err != nil {
		t.Fatal(err)
	}
	served, err := p.waitServed(ctx, "node1", rebootedAt, 15*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("node1 serves again %v after the fence, %v after its reboot", served.Sub(fencedAt).Round(time.Millisecond), served.Sub(rebootedAt).Round(time.Millisecond))
	for _, r := range p.settle(ctx, served, time.Second) {
		if r.Node != "node1" {
			t.Errorf("after node1's reboot and failback the VIP answered %q (%v), want node1", r.Node, r.Err)
		}
	}
	p.checkOutage(t, "standby with a stop that fails: retries, then a reboot", before, servedWithin+5*time.Second)
	w.checkOverlap(t, "standby with a stop that fails", before, nil)
	h.checkHolders(ctx, "node1")

	// node1 left without a good-bye: node2 saw no shutdown notice.
	es2, err := journalSince(ctx, n2, "heartbeat.service", req)
	if err != nil {
		t.Fatal(err)
	}
	if bye := matching(es2, "node status changed", "node=node1", "reason=shutdown"); len(bye) != 0 {
		t.Errorf("node2 journal: node1 said good-bye while fencing:%s", formatEntries(bye))
	}
	t.Logf("node2 heartbeat journal since standby:%s", formatEntries(es2))
	t.Logf("runtime %v", time.Since(start).Round(time.Millisecond))
}
