//go:build clustertest && clusterbench

package bench

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/linuxha/heartbeat/test/cluster"
)

// pingEvery is the client's echo interval.
const pingEvery = 20 * time.Millisecond

// systems are the 2-node configurations compared, in table order.
var systems = []System{
	{Name: NameOurs20, Kind: Ours, Interval: 20 * time.Millisecond, Dead: 80 * time.Millisecond},
	{Name: NameOurs10, Kind: Ours, Interval: 10 * time.Millisecond, Dead: 40 * time.Millisecond,
		Scenarios: []string{ScLink, ScPower, ScFailback, ScStandby}},
	// Three lost keepalives, as keepalived's master-down interval is three
	// lost adverts (plus a skew).
	{Name: NameOurs10x3, Kind: Ours, Interval: 10 * time.Millisecond, Dead: 30 * time.Millisecond,
		Scenarios: []string{ScLink, ScPower, ScFailback, ScStandby}},
	{Name: NameKa1, Kind: Keepalived, Interval: time.Second},
	{Name: NameKa10ms, Kind: Keepalived, Interval: 10 * time.Millisecond},
	{Name: NameHb306, Kind: Heartbeat306, Interval: 500 * time.Millisecond, Dead: 2 * time.Second},
}

// envInt reads an integer setting from the environment.
func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// TestClusterBench is the whole benchmark (make bench-cluster). Settings:
// BENCH_RUNS (runs per scenario, 3), BENCH_CPU_SECS (footprint window, 30),
// BENCH_SYSTEMS (comma-separated substrings of system names; all if empty),
// BENCH_SCALE (node counts, "2,4,8,16"; "0" skips), BENCH_SCALE_TIMERS
// (keepalive/deadtime of the scale series, 20ms/80ms), BENCH_DOCS (where
// benchmarks.md/png go, ../../docs), BENCH_JSON (raw results,
// ../../bin/bench-results.json; BENCH_MERGE=1 reads it first and replaces
// only the systems run now, and the scaling series if one was run).
func TestClusterBench(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("the cluster bench needs root")
	}
	rep := &Report{
		Date:        time.Now(),
		Machine:     machine(),
		PingEveryMS: float64(pingEvery) / float64(time.Millisecond),
		RunsPer:     envInt("BENCH_RUNS", 3),
		CPUWindow:   time.Duration(envInt("BENCH_CPU_SECS", 30)) * time.Second,
	}
	filter := strings.Split(os.Getenv("BENCH_SYSTEMS"), ",")
	for _, sys := range systems {
		if !matches(filter, sys.Name) {
			continue
		}
		res := &SystemResult{Name: sys.Name, Timers: sys.Timers(), Kind: sys.Kind, Interval: sys.Interval}
		rep.Systems = append(rep.Systems, res)
		t.Run(strings.ReplaceAll(sys.Name, " ", "_"), func(t *testing.T) {
			if err := benchSystem(t, sys, rep, res); err != nil {
				res.Err = err.Error()
				t.Logf("%s: %v", sys.Name, err)
			}
		})
	}
	ka, dt := scaleTimers(t)
	for _, n := range scaleSizes() {
		res := &ScaleResult{Nodes: n, Media: "mcast", Timers: fmt.Sprintf("keepalive %v, deadtime %v", ka, dt)}
		rep.Scaling = append(rep.Scaling, res)
		t.Run(fmt.Sprintf("scale_%d", n), func(t *testing.T) {
			if err := benchScale(t, n, ka, dt, min(rep.CPUWindow, 20*time.Second), res); err != nil {
				res.Err = err.Error()
				t.Logf("scale %d: %v", n, err)
			}
		})
	}
	docs := os.Getenv("BENCH_DOCS")
	if docs == "" {
		docs = "../../docs"
	}
	js := os.Getenv("BENCH_JSON")
	if js == "" {
		js = "../../bin/bench-results.json"
	}
	if os.Getenv("BENCH_MERGE") == "1" {
		old, err := ReadReport(js)
		if err != nil {
			t.Fatalf("BENCH_MERGE: %v", err)
		}
		var order []string
		for _, sys := range systems {
			order = append(order, sys.Name)
		}
		rep = rep.Merge(old, order)
	}
	t.Logf("results:\n%s", rep.Text())
	fmt.Println(rep.Text())
	if err := rep.WriteJSON(js); err != nil {
		t.Error(err)
	}
	if err := rep.WriteDocs(docs, skeleton); err != nil {
		t.Error(err)
	}
	if err := rep.Plot(context.Background(), mustAbs(t, filepath.Join(docs, "benchmarks.png"))); err != nil {
		t.Error(err)
	}
}

func mustAbs(t *testing.T, p string) string {
	a, err := filepath.Abs(p)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func matches(filter []string, name string) bool {
	any := false
	for _, f := range filter {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		any = true
		if strings.Contains(name, f) {
			return true
		}
	}
	return !any
}

// scaleTimers are the timers of the scale series, BENCH_SCALE_TIMERS
// ("keepalive/deadtime", default the two-node bench's 20ms/80ms).
func scaleTimers(t *testing.T) (keepalive, deadtime time.Duration) {
	v := os.Getenv("BENCH_SCALE_TIMERS")
	if v == "" {
		v = "20ms/80ms"
	}
	a, b, ok := strings.Cut(v, "/")
	ka, err1 := time.ParseDuration(a)
	dt, err2 := time.ParseDuration(b)
	if !ok || err1 != nil || err2 != nil || dt <= 2*ka {
		t.Fatalf("BENCH_SCALE_TIMERS=%q: want keepalive/deadtime, e.g. 50ms/200ms", v)
	}
	return ka, dt
}

func scaleSizes() []int {
	v := os.Getenv("BENCH_SCALE")
	if v == "" {
		return []int{2, 4, 8, 16}
	}
	var out []int
	for f := range strings.SplitSeq(v, ",") {
		if n, err := strconv.Atoi(strings.TrimSpace(f)); err == nil && n > 0 {
			out = append(out, n)
		}
	}
	return out
}

func machine() Machine {
	m := Machine{}
	if out, err := exec.Command("nproc").Output(); err == nil {
		m.Nproc = strings.TrimSpace(string(out))
	}
	if out, err := exec.Command("uname", "-r").Output(); err == nil {
		m.Kernel = strings.TrimSpace(string(out))
	}
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.SplitSeq(string(data), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
	}
	m.Load = loadavg()
	return m
}

func loadavg() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(data))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// benchSystem boots a two-node lab running sys, measures its footprint, then
// runs every scenario RunsPer times while the client pings the VIP.
func benchSystem(t *testing.T, sys System, rep *Report, res *SystemResult) error {
	lab := cluster.New(t, cluster.Options{Nodes: 2})
	st := &Setup{Sys: sys, Lab: lab, VIP: lab.Addr(100)}
	ctx := t.Context()
	if err := st.Configure(ctx); err != nil {
		return fmt.Errorf("configure: %w", err)
	}
	if err := st.WaitBaseline(ctx, nil, 60*time.Second); err != nil {
		return fmt.Errorf("start: %w", err)
	}
	t.Logf("%s: baseline reached, load %s; footprint over %v", sys.Name, loadavg(), rep.CPUWindow)
	fp, err := MeasureFootprint(ctx, lab.Nodes(), sys.Proc(), rep.CPUWindow)
	if err != nil {
		t.Logf("%s: footprint: %v", sys.Name, err)
	} else {
		res.Footprint = fp
	}
	p, err := StartPinger(lab.Client, st.VIP, pingEvery)
	if err != nil {
		return err
	}
	defer p.Stop()
	defer func() { res.Restarts = restarts(ctx, st) }()
	for run := range rep.RunsPer {
		for _, sc := range []string{ScKill, ScStop, ScLink, ScPower, ScStandby} {
			if !sys.runs(sc) {
				continue
			}
			oneRun(t, st, p, res, sc, run)
		}
	}
	return nil
}

// oneRun injects fault sc once (for power off also measures the failback),
// then restores the baseline.
func oneRun(t *testing.T, st *Setup, p *Pinger, res *SystemResult, sc string, run int) {
	ctx := t.Context()
	sys := st.Sys
	record := func(sc string, r Run) {
		s := res.Scenario(sc)
		s.Runs = append(s.Runs, r)
		t.Logf("%s / %s #%d: outage %.0f ms (recovered %v), detection %.0f ms, holders %v %s",
			sys.Name, sc, run+1, r.OutageMS, r.Recovered, r.DetectMS, r.Holders, r.Err)
	}
	if err := st.WaitBaseline(ctx, p, 60*time.Second); err != nil {
		record(sc, Run{Err: "baseline: " + err.Error(), DetectMS: -1})
		_ = st.Restore(ctx, sc)
		return
	}
	window := sys.failoverTime()
	if sys.Kind == Ours && (sc == ScKill || sc == ScStop) {
		// Includes the restart (RestartSec=1s) and the failback.
		window += 3 * time.Second
	}
	if sc == ScStandby && sys.Kind == Heartbeat306 {
		window += 5 * time.Second
	}
	t0 := time.Now()
	if err := st.Fault(ctx, sc); err != nil {
		record(sc, Run{Err: "fault: " + err.Error(), DetectMS: -1})
		_ = st.Restore(ctx, sc)
		return
	}
	time.Sleep(time.Until(t0.Add(window)))
	r := Run{DetectMS: -1, Holders: st.Holders(ctx)}
	r.BothHeld = (sc == ScKill || sc == ScStop) && slices.Contains(r.Holders, "node1") && slices.Contains(r.Holders, "node2")
	time.Sleep(300 * time.Millisecond) // the replies after the window
	gap, ok := p.Gap(t0, t0.Add(window))
	r.OutageMS, r.Recovered = float64(gap)/float64(time.Millisecond), ok
	if sc != ScStandby {
		if at, ok := DetectTime(ctx, st.Lab.Node(2), t0, sys.deadMarkers()); ok {
			r.DetectMS = float64(at.Sub(t0)) / float64(time.Millisecond)
		}
	}
	record(sc, r)
	if sc == ScPower && sys.runs(ScFailback) {
		failback(t, st, p, record)
	}
	if err := st.Restore(ctx, sc); err != nil {
		t.Logf("%s / %s: restore: %v", sys.Name, sc, err)
	}
}

// failback boots the powered-off owner, starts its daemon and measures the
// client's gap while the VIP moves back.
func failback(t *testing.T, st *Setup, p *Pinger, record func(string, Run)) {
	ctx := t.Context()
	// The takeover after the power off must be over first: the failback is
	// measured from a served client.
	for end := time.Now().Add(20 * time.Second); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		if time.Since(p.LastReply()) < 200*time.Millisecond {
			break
		}
	}
	if err := st.StartOwner(ctx); err != nil {
		record(ScFailback, Run{Err: "boot: " + err.Error(), DetectMS: -1})
		return
	}
	// Let the booted node's network settle before the daemon starts.
	time.Sleep(500 * time.Millisecond)
	window := 3 * time.Second
	switch st.Sys.Kind {
	case Keepalived:
		window = 4*st.Sys.Interval + 2*time.Second
	case Heartbeat306:
		window = 20 * time.Second
	}
	t1 := time.Now()
	if err := st.StartDaemon(ctx); err != nil {
		record(ScFailback, Run{Err: "start: " + err.Error(), DetectMS: -1})
		return
	}
	// Wait for node1 to hold it alone (the failback is done), at most window.
	end := t1.Add(window)
	for time.Now().Before(end) {
		if h := st.Holders(ctx); len(h) == 1 && h[0] == "node1" {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	to := time.Now().Add(time.Second)
	time.Sleep(time.Until(to) + 300*time.Millisecond)
	r := Run{DetectMS: -1, Holders: st.Holders(ctx)}
	gap, ok := p.Gap(t1, to)
	r.OutageMS, r.Recovered = float64(gap)/float64(time.Millisecond), ok
	record(ScFailback, r)
}

// benchScale boots n nodes of ours over multicast and measures packets and
// CPU per node at steady state.
func benchScale(t *testing.T, n int, keepalive, deadtime, window time.Duration, res *ScaleResult) error {
	lab := cluster.New(t, cluster.Options{Nodes: n, BootTimeout: 3 * time.Minute})
	ctx := t.Context()
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("node%d", i+1)
	}
	media := "mcast eth0 239.0.0.77 694 1 0\nnode " + strings.Join(names, " ")
	vip := lab.Addr(100)
	for _, node := range lab.Nodes() {
		if err := node.WriteHaConfig(oursHaCf(keepalive, deadtime, media), "node1 "+vip+"/24/eth0\n", authkeys); err != nil {
			return err
		}
	}
	if err := lab.InstallBinaries(); err != nil {
		return err
	}
	if err := forNodes(lab.Nodes(), func(node *cluster.Node) error {
		_, err := node.Run(ctx, "systemctl", "start", "heartbeat.service")
		return err
	}); err != nil {
		return err
	}
	// Steady state: node1 sees every node active.
	deadline := time.Now().Add(60 * time.Second)
	for {
		out, _ := lab.Node(1).Run(ctx, "hbctl", "nodes")
		if c := strings.Count(out, "active"); c >= n {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not all %d nodes active after 60s: %s", n, out)
		}
		time.Sleep(200 * time.Millisecond)
	}
	time.Sleep(2 * time.Second)
	t.Logf("scale %d: steady, load %s", n, loadavg())
	fp, err := MeasureFootprint(ctx, lab.Nodes(), "heartbeat", window)
	if err != nil {
		return err
	}
	res.Footprint = fp
	// Were there false failovers meanwhile? Count dead declarations.
	return nil
}

// restarts reads, per node, how often systemd restarted the daemon's unit
// and how many service watchdog timeouts the journal shows: kills the bench
// did not ask for (kill -9 and SIGSTOP each cause one on node1).
func restarts(ctx context.Context, st *Setup) map[string]string {
	out := map[string]string{}
	for _, n := range st.Lab.Nodes() {
		if !n.Running() {
			continue
		}
		nr, _ := n.Run(ctx, "systemctl", "show", "-p", "NRestarts", "--value", st.Sys.Unit())
		j, _ := n.Run(ctx, "journalctl", "-b", "--no-pager", "-o", "cat", "-u", st.Sys.Unit())
		out[n.Hostname] = fmt.Sprintf("%s restarts, %d watchdog timeouts", strings.TrimSpace(nr), strings.Count(j, "Watchdog timeout"))
	}
	return out
}
