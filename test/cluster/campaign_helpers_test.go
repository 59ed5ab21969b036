//go:build clustertest

package cluster

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

// campaignFile is a file the campaign installs in every node.
type campaignFile struct {
	Data string
	Mode os.FileMode
}

// newCampaignLab is newHALab with extra files (units, for instance) written
// into every node before systemd is reloaded and heartbeat started: a unit
// named in haresources must be known when the group is first acquired.
func newCampaignLab(t *testing.T, s haSetup, files map[string]campaignFile) *haLab {
	t.Helper()
	web := buildHbweb(t)
	lab := New(t, Options{Nodes: 2})
	h := &haLab{Lab: lab, t: t, VIP: lab.Addr(100)}
	h.Key = h.VIP + "/24/eth0"
	line := strings.Join(append([]string{"node1", h.Key, "hbweb"}, s.Extra...), " ")
	hacf := fmt.Sprintf(`# fault campaign
keepalive 100ms
warntime 300ms
deadtime 500ms
initdead 5
udpport 694
auto_failback %s
ucast eth0 %s
ucast eth0 %s
node node1 node2
`, s.AutoFailback, lab.Addr(1), lab.Addr(2))
	all := map[string]campaignFile{
		"/usr/local/bin/hbweb":              {string(web), 0o755},
		"/etc/systemd/system/hbweb.service": {hbwebUnit, 0o644},
	}
	for name, body := range s.Scripts {
		all["/etc/ha.d/resource.d/"+name] = campaignFile{body, 0o755}
	}
	for p, f := range files {
		all[p] = f
	}
	for _, n := range lab.Nodes() {
		for p, f := range all {
			if err := n.WriteFile(p, []byte(f.Data), f.Mode); err != nil {
				t.Fatal(err)
			}
		}
		if err := n.WriteHaConfig(hacf, "# fault campaign\n"+line+"\n", "auth 1\n1 sha1 campaign-tests\n"); err != nil {
			t.Fatal(err)
		}
	}
	if err := lab.InstallBinaries(); err != nil {
		t.Fatal(err)
	}
	h.startHeartbeat(lab.Nodes()...)
	return h
}

// watchHolders samples, every interval in a goroutine, which nodes have
// the VIP on eth0 (sdWatchVIP: the addresses ip -br addr shows, read over
// netlink from each node's namespace). Spawning "ip" per node, as
// h.holders() does, reads the two nodes tens of milliseconds apart under
// load and shows a clean handover as an overlap; netlink reads them within
// microseconds. It stops in t.Cleanup at the latest.
func (h *haLab) watchHolders(every time.Duration) *vipWatch {
	return sdWatchVIP(h.t, h.Lab, h.VIP, every)
}

// checkOverlap fails the test for every sample since from in which two
// nodes held the VIP, unless allowed(sample time) says the overlap is
// expected there (a node cut off cannot know). It logs the holder timeline
// and the longest overlap, and returns the number of forbidden samples.
func (w *vipWatch) checkOverlap(t *testing.T, what string, from time.Time, allowed func(time.Time) bool) int {
	t.Helper()
	ss := w.since(from)
	if len(ss) < 10 {
		t.Errorf("%s: only %d VIP holder samples since %s: the sampler did not run", what, len(ss), from.Format("15:04:05.000"))
	}
	bad := 0
	var first vipSample
	for _, s := range ss {
		if s.count() < 2 || (allowed != nil && allowed(s.At)) {
			continue
		}
		if bad == 0 {
			first = s
		}
		bad++
	}
	o, runs := longestOverlap(ss)
	t.Logf("VIP holders %s: %d samples, %d overlap runs (longest seen %v, bound %v), timeline:%s",
		what, len(ss), runs, o.Seen.Round(time.Millisecond), o.Bound.Round(time.Millisecond), holderTimeline(ss, from))
	if bad > 0 {
		t.Errorf("%s: %d samples with two VIP holders outside the allowed windows, first at %s (%+.3fs) %v",
			what, bad, first.At.Format("15:04:05.000000"), first.At.Sub(from).Seconds(), first.holders())
	}
	return bad
}

// changes counts the changes of the holder set since from.
func (w *vipWatch) changes(from time.Time) int {
	ss := w.since(from)
	n := 0
	for i := 1; i < len(ss); i++ {
		if !slices.Equal(ss[i].Held, ss[i-1].Held) {
			n++
		}
	}
	return n
}

// checkClientSees checks the client's side: its neighbour entry for the
// VIP is owner's MAC and only owner answers ARP requests for the VIP.
func (h *haLab) checkClientSees(ctx context.Context, owner *Node) {
	h.t.Helper()
	want, err := owner.MAC("eth0")
	if err != nil {
		h.t.Fatal(err)
	}
	if mac, state, err := h.Client.NeighMAC(ctx, h.VIP); err != nil || mac != want {
		h.t.Errorf("client neighbour for the VIP: %q %s (%v), want %s's %s", mac, state, err, owner.Hostname, want)
	}
	macs, err := arpWhoHas(h.Client, h.VIP, 500*time.Millisecond)
	if err != nil {
		h.t.Fatal(err)
	}
	if !slices.Equal(macs, []string{want}) {
		h.t.Errorf("ARP replies for the VIP from %v, want only %s's %s", macs, owner.Hostname, want)
	}
}

// checkHolders checks that exactly want hold the VIP now.
func (h *haLab) checkHolders(ctx context.Context, want ...string) {
	h.t.Helper()
	if got, err := h.holders(ctx); err != nil || !slices.Equal(got, want) {
		h.t.Errorf("VIP holders %v (%v), want %v", got, err, want)
	}
}

// journalSince is n's heartbeat journal from since on.
func journalSince(ctx context.Context, n *Node, unit string, since time.Time) ([]journalEntry, error) {
	es, err := journal(ctx, n, unit)
	if err != nil {
		return nil, err
	}
	var out []journalEntry
	for _, e := range es {
		if !e.At.Before(since) {
			out = append(out, e)
		}
	}
	return out, nil
}

// formatEntries renders journal entries one a line.
func formatEntries(es []journalEntry) string {
	var b strings.Builder
	for _, e := range es {
		fmt.Fprintf(&b, "\n  %s %s", e.At.Format("15:04:05.000000"), e.Msg)
	}
	return b.String()
}
