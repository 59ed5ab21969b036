//go:build clustertest && clusterbench

package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/linuxha/heartbeat/test/cluster"
)

// DetectTime finds the first journal entry of node n at or after since
// whose MESSAGE contains every marker, and returns its time.
func DetectTime(ctx context.Context, n *cluster.Node, since time.Time, markers []string) (time.Time, bool) {
	hits := journalMatches(ctx, n, since, markers)
	if len(hits) == 0 {
		return time.Time{}, false
	}
	return hits[0], true
}

// journalMatches lists the times of the journal entries of node n since
// since whose message contains every marker.
func journalMatches(ctx context.Context, n *cluster.Node, since time.Time, markers []string) []time.Time {
	out, err := n.Run(ctx, "journalctl", "-o", "json", "--no-pager", "--since", fmt.Sprintf("@%d", since.Unix()-1))
	if err != nil {
		return nil
	}
	var hits []time.Time
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var e struct {
			Message  any    `json:"MESSAGE"`
			Realtime string `json:"__REALTIME_TIMESTAMP"`
		}
		if json.Unmarshal(sc.Bytes(), &e) != nil {
			continue
		}
		msg, ok := e.Message.(string)
		if !ok {
			continue
		}
		us, err := strconv.ParseInt(e.Realtime, 10, 64)
		if err != nil || time.UnixMicro(us).Before(since) {
			continue
		}
		all := true
		for _, m := range markers {
			all = all && strings.Contains(msg, m)
		}
		if all {
			hits = append(hits, time.UnixMicro(us))
		}
	}
	return hits
}

// nodeSample is one reading of a node: the daemon's processes and eth0.
type nodeSample struct {
	At      time.Time
	RunNS   uint64 // run time of every thread of the daemon's processes, ns
	RSSKB   uint64 // sum of VmRSS
	Procs   int
	RxPkts  uint64 // eth0
	TxPkts  uint64
	Missing bool // the daemon had no process
}

// sampleScript prints, for every process named $1, a PROC line, the
// schedstat of each of its threads and its VmRSS, then the node's
// /proc/net/dev. Only the constant process name is passed to it, as a
// positional parameter.
//
// CPU time is the scheduler's exact run time (schedstat's first field, ns),
// not utime+stime: those are sampled at the 100 Hz tick, and at 0.1-1 % of
// a core a 30 s window holds only tens of ticks, so the sampling alone moved
// a figure by a third (test/bench/cpu_per_packet.sh does the same).
const sampleScript = `for p in $(pidof "$1"); do echo "PROC $p"; for t in /proc/$p/task/*/schedstat; do echo "SCHED $(cat $t)"; done; grep VmRSS /proc/$p/status; done; cat /proc/net/dev`

func sampleNode(ctx context.Context, n *cluster.Node, proc string) (nodeSample, error) {
	at := time.Now()
	out, err := n.Run(ctx, "sh", "-c", sampleScript, "sh", proc)
	if err != nil {
		return nodeSample{}, err
	}
	s := nodeSample{At: at}
	for line := range strings.SplitSeq(out, "\n") {
		line = strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(line, "PROC "):
			s.Procs++
		case strings.HasPrefix(line, "SCHED "):
			// run time (ns), wait time (ns), time slices
			if f := strings.Fields(strings.TrimPrefix(line, "SCHED ")); len(f) > 0 {
				ns, _ := strconv.ParseUint(f[0], 10, 64)
				s.RunNS += ns
			}
		case strings.HasPrefix(line, "VmRSS:"):
			f := strings.Fields(line)
			if len(f) >= 2 {
				kb, _ := strconv.ParseUint(f[1], 10, 64)
				s.RSSKB += kb
			}
		case strings.HasPrefix(line, "eth0:"):
			f := strings.Fields(strings.TrimPrefix(line, "eth0:"))
			if len(f) >= 10 {
				s.RxPkts, _ = strconv.ParseUint(f[1], 10, 64)
				s.TxPkts, _ = strconv.ParseUint(f[9], 10, 64)
			}
		}
	}
	s.Missing = s.Procs == 0
	return s, nil
}

// Footprint is one node's steady-state cost over a window.
type Footprint struct {
	Node   string
	RSSMB  float64 // at the end of the window, all the daemon's processes
	Procs  int
	CPUPct float64 // of one core
	RxPPS  float64 // eth0, all traffic (the bench sends none meanwhile)
	TxPPS  float64
	// CPUPerPktUS is CPU time per packet sent or received, µs.
	CPUPerPktUS float64
}

// MeasureFootprint samples every node at the start and end of window.
func MeasureFootprint(ctx context.Context, nodes []*cluster.Node, proc string, window time.Duration) ([]Footprint, error) {
	first := make([]nodeSample, len(nodes))
	if err := forNodesIdx(nodes, func(i int, n *cluster.Node) (err error) {
		first[i], err = sampleNode(ctx, n, proc)
		return err
	}); err != nil {
		return nil, err
	}
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-time.After(window):
	}
	last := make([]nodeSample, len(nodes))
	if err := forNodesIdx(nodes, func(i int, n *cluster.Node) (err error) {
		last[i], err = sampleNode(ctx, n, proc)
		return err
	}); err != nil {
		return nil, err
	}
	out := make([]Footprint, len(nodes))
	for i, n := range nodes {
		a, b := first[i], last[i]
		if a.Missing || b.Missing {
			return nil, fmt.Errorf("%s: no %s process", n.Hostname, proc)
		}
		dt := b.At.Sub(a.At).Seconds()
		// A thread that ended within the window takes its run time with it:
		// never a negative figure.
		cpu := float64(b.RunNS-min(a.RunNS, b.RunNS)) / 1e9
		pkts := float64(b.RxPkts-a.RxPkts) + float64(b.TxPkts-a.TxPkts)
		f := Footprint{
			Node:   n.Hostname,
			RSSMB:  float64(b.RSSKB) / 1024,
			Procs:  b.Procs,
			CPUPct: 100 * cpu / dt,
			RxPPS:  float64(b.RxPkts-a.RxPkts) / dt,
			TxPPS:  float64(b.TxPkts-a.TxPkts) / dt,
		}
		if pkts > 0 {
			f.CPUPerPktUS = cpu / pkts * 1e6
		}
		out[i] = f
	}
	return out, nil
}

func forNodesIdx(nodes []*cluster.Node, fn func(int, *cluster.Node) error) error {
	idx := make(map[*cluster.Node]int, len(nodes))
	for i, n := range nodes {
		idx[n] = i
	}
	return forNodes(nodes, func(n *cluster.Node) error { return fn(idx[n], n) })
}
