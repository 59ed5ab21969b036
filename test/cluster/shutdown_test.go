//go:build clustertest

package cluster

import (
	"strings"
	"testing"
	"time"
)

// TestHostRebootReleasesFirst reboots the owner from inside (systemctl
// reboot). heartbeat's drop-in orders it after the units it manages, so at
// a host shutdown heartbeat stops first: it stops hbweb itself (right to
// left), drops the VIP and says good-bye, and the peer takes over because
// node1 left (reason shutdown), not because it fell silent.
func TestHostRebootReleasesFirst(t *testing.T) {
	h := newHALab(t, haSetup{AutoFailback: "off"})
	ctx := t.Context()
	p := h.startCluster(ctx)
	n1, n2 := h.Node(1), h.Node(2)

	after, err := n1.Run(ctx, "systemctl", "show", "-p", "After", "--value", "heartbeat.service")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(after, "hbweb.service") {
		t.Fatalf("heartbeat.service After=%q: not ordered after the unit it manages", strings.TrimSpace(after))
	}

	tReboot := time.Now()
	rebooted := make(chan error, 1)
	go func() { rebooted <- n1.Reboot(ctx) }()
	served, err := p.waitServed(ctx, "node2", tReboot, servedWithin)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("node2 serves the VIP %v after node1's reboot began", served.Sub(tReboot).Round(time.Millisecond))
	if err := <-rebooted; err != nil {
		t.Fatal(err)
	}

	// node2 saw node1 leave, not die.
	es2, err := journal(ctx, n2, "heartbeat.service")
	if err != nil {
		t.Fatal(err)
	}
	var left, died bool
	for _, e := range es2 {
		if e.At.Before(tReboot) || !strings.Contains(e.Msg, "node status changed") || !strings.Contains(e.Msg, "node=node1") || !strings.Contains(e.Msg, "state=dead") {
			continue
		}
		left = left || strings.Contains(e.Msg, "reason=shutdown")
		died = died || strings.Contains(e.Msg, "reason=deadtime")
	}
	if !left || died {
		t.Errorf("node2 saw node1 leave=%v, time out=%v; want a good-bye and no deadtime", left, died)
	}

	// In node1's journal of the boot that ended: heartbeat began stopping
	// before systemd began stopping hbweb, and heartbeat stopped it.
	hb, err := journal(ctx, n1, "heartbeat.service")
	if err != nil {
		t.Fatal(err)
	}
	web, err := journal(ctx, n1, "hbweb.service")
	if err != nil {
		t.Fatal(err)
	}
	first := func(es []journalEntry, subs ...string) (journalEntry, bool) {
		for _, e := range matching(es, subs...) {
			if !e.At.Before(tReboot) {
				return e, true
			}
		}
		return journalEntry{}, false
	}
	stopping, ok1 := first(hb, "stopping", "node=node1")
	released, ok2 := first(hb, "resource stopped", "resource=hbweb")
	webStop, ok3 := first(web, "Stopping hbweb")
	if !ok1 || !ok2 || !ok3 {
		t.Fatalf("node1's journal after the reboot began: heartbeat stopping %v, heartbeat stopped hbweb %v, systemd stopping hbweb %v", ok1, ok2, ok3)
	}
	if webStop.At.Before(stopping.At) {
		t.Errorf("systemd began stopping hbweb (%s) before heartbeat began stopping (%s)", webStop.At.Format("15:04:05.000000"), stopping.At.Format("15:04:05.000000"))
	}
	t.Logf("heartbeat stopping %s, hbweb stopping %s, heartbeat: hbweb stopped %s",
		stopping.At.Format("15:04:05.000"), webStop.At.Format("15:04:05.000"), released.At.Format("15:04:05.000"))
}
