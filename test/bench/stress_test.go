//go:build clustertest && clusterbench

package bench

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/linuxha/heartbeat/test/cluster"
)

// TestClusterStress (issue 10 item 3) runs every system of STRESS_SYSTEMS at
// once, each on its own two-node lab, for STRESS_SECS (600) under
// STRESS_LOSS % random loss (20) on node1's bridge port (so every heartbeat
// and every advert crosses one lossy port) and STRESS_BUSY busy loops (1) in
// every node, then prints, per system, the false failovers: death
// declarations (ours, 3.0.6) or MASTER transitions (keepalived) in either
// node's journal, unplanned daemon restarts, and how often the once-a-second
// sample of `ip addr` found two holders of the VIP or none.
//
// STRESS_SYSTEMS is a comma-separated list of ours:KEEPALIVE_MS:DEAD_MS and
// keepalived:ADVERT_MS, e.g. "ours:20:240,keepalived:1000".
func TestClusterStress(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("the cluster bench needs root")
	}
	spec := os.Getenv("STRESS_SYSTEMS")
	if spec == "" {
		spec = "ours:20:240,ours:10:120,keepalived:1000,keepalived:10"
	}
	syss, err := parseStressSystems(spec)
	if err != nil {
		t.Fatal(err)
	}
	dur := time.Duration(envInt("STRESS_SECS", 600)) * time.Second
	loss := envInt("STRESS_LOSS", 20)
	busy := envInt("STRESS_BUSY", 1)
	if os.Getenv("STRESS_LOSS") == "0" {
		loss = 0
	}
	if os.Getenv("STRESS_BUSY") == "0" {
		busy = 0
	}
	results := make([]stressResult, len(syss))
	var wg sync.WaitGroup
	for i, sys := range syss {
		wg.Go(func() {
			results[i] = stressSystem(t, sys, dur, loss, busy)
		})
	}
	wg.Wait()
	var b strings.Builder
	fmt.Fprintf(&b, "\nStress: %v, %d %% loss on node1's port, %d busy loop(s) per node, %d systems at once; %s; load at end %s\n\n",
		dur, loss, busy, len(syss), time.Now().UTC().Format("2006-01-02 15:04 UTC"), loadavg())
	b.WriteString("| system | false failovers | unplanned restarts | samples with 2 holders | samples with no holder | samples |\n|---|---|---|---|---|---|\n")
	for _, r := range results {
		if r.Err != "" {
			fmt.Fprintf(&b, "| %s | error: %s | | | | |\n", r.Name, r.Err)
			continue
		}
		fmt.Fprintf(&b, "| %s | %d | %s | %d | %d | %d |\n", r.Name, r.Flaps, r.Restarts, r.Both, r.None, r.Samples)
	}
	t.Log(b.String())
	fmt.Print(b.String())
}

type stressResult struct {
	Name                string
	Flaps               int
	Restarts            string
	Both, None, Samples int
	Err                 string
}

func parseStressSystems(spec string) ([]System, error) {
	var out []System
	for _, f := range strings.Split(spec, ",") {
		p := strings.Split(strings.TrimSpace(f), ":")
		num := func(s string) (time.Duration, error) {
			v, err := strconv.Atoi(s)
			if err != nil || v <= 0 {
				return 0, fmt.Errorf("stress system %q: bad number %q", f, s)
			}
			return time.Duration(v) * time.Millisecond, nil
		}
		switch {
		case len(p) == 3 && p[0] == "ours":
			k, err := num(p[1])
			if err != nil {
				return nil, err
			}
			d, err := num(p[2])
			if err != nil {
				return nil, err
			}
			out = append(out, System{Name: fmt.Sprintf("ours %s/%s", ms(k), ms(d)), Kind: Ours, Interval: k, Dead: d})
		case len(p) == 2 && p[0] == "keepalived":
			a, err := num(p[1])
			if err != nil {
				return nil, err
			}
			out = append(out, System{Name: "keepalived " + secs(a), Kind: Keepalived, Interval: a})
		default:
			return nil, fmt.Errorf("stress system %q: want ours:KEEPALIVE_MS:DEAD_MS or keepalived:ADVERT_MS", f)
		}
	}
	return out, nil
}

// flapMarkers are the journal messages that count as a failover.
func (s System) flapMarkers() []string {
	if s.Kind == Keepalived {
		return []string{"Entering MASTER STATE"}
	}
	return []string{"node status changed", "state=dead"}
}

func stressSystem(t *testing.T, sys System, dur time.Duration, loss, busy int) stressResult {
	res := stressResult{Name: sys.Name}
	fail := func(err error) stressResult {
		res.Err = err.Error()
		t.Logf("%s: %v", sys.Name, err)
		return res
	}
	lab := cluster.New(t, cluster.Options{Nodes: 2})
	st := &Setup{Sys: sys, Lab: lab, VIP: lab.Addr(100)}
	ctx := t.Context()
	if err := st.Configure(ctx); err != nil {
		return fail(fmt.Errorf("configure: %w", err))
	}
	if err := st.WaitBaseline(ctx, nil, 90*time.Second); err != nil {
		return fail(err)
	}
	before := restartCounts(ctx, st)
	if loss > 0 {
		if err := lab.Node(1).Netem("loss", fmt.Sprintf("%d%%", loss)); err != nil {
			return fail(err)
		}
	}
	for _, n := range lab.Nodes() {
		for i := range busy {
			if _, err := n.Run(ctx, "systemd-run", "--quiet", "--unit", fmt.Sprintf("stress-busy%d", i),
				"/bin/sh", "-c", "while :; do :; done"); err != nil {
				return fail(fmt.Errorf("busy loop: %w", err))
			}
		}
	}
	t0 := time.Now()
	t.Logf("%s: stress on (load %s)", sys.Name, loadavg())
	for time.Since(t0) < dur {
		time.Sleep(time.Second)
		h := st.Holders(ctx)
		res.Samples++
		switch len(h) {
		case 0:
			res.None++
		case 2:
			res.Both++
		}
	}
	for _, n := range lab.Nodes() {
		res.Flaps += len(journalMatches(ctx, n, t0, sys.flapMarkers()))
	}
	after := restartCounts(ctx, st)
	var rs []string
	for _, n := range lab.Nodes() {
		rs = append(rs, fmt.Sprintf("%s %d", n.Hostname, after[n.Hostname]-before[n.Hostname]))
	}
	res.Restarts = strings.Join(rs, ", ")
	t.Logf("%s: %+v", sys.Name, res)
	return res
}

// restartCounts is systemd's NRestarts of the daemon's unit per node.
func restartCounts(ctx context.Context, st *Setup) map[string]int {
	out := map[string]int{}
	for _, n := range st.Lab.Nodes() {
		s, _ := n.Run(ctx, "systemctl", "show", "-p", "NRestarts", "--value", st.Sys.Unit())
		out[n.Hostname], _ = strconv.Atoi(strings.TrimSpace(s))
	}
	return out
}
