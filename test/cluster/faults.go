//go:build clustertest

package cluster

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// ErrNoNetem is returned by Netem for impairments that need the netem qdisc
// when the kernel has none (only a plain "loss P%" has a fallback).
var ErrNoNetem = errors.New("kernel has no netem qdisc")

// CutLink pulls the node's cable on the first segment: its port on the
// bridge goes down (the node's eth0 loses carrier).
func (n *Node) CutLink() error { return n.CutMedium(0) }

// RestoreLink plugs the cable of the first segment back in.
func (n *Node) RestoreLink() error { return n.RestoreMedium(0) }

// CutMedium pulls the cable of segment m (0: eth0, 1: eth1).
func (n *Node) CutMedium(m int) error { return n.setPort(m, "down") }

// RestoreMedium plugs the cable of segment m back in.
func (n *Node) RestoreMedium(m int) error { return n.setPort(m, "up") }

func (n *Node) port(m int) string { return fmt.Sprintf("%se%d", n.portPrefix(), m) }

func (n *Node) setPort(m int, state string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := ipCmd(ctx, n.lab.BridgeNS, "link", "set", n.port(m), state); err != nil {
		return fmt.Errorf("node %s: link %s: %w", n.NS, state, err)
	}
	return nil
}

// Netem impairs the node's cable on the first segment in both directions
// with tc netem ARGS (e.g. "loss", "20%", "delay", "50ms"): on the node's
// eth0 and on its bridge port. On a kernel without netem, "loss P%" alone
// is done with a random classic BPF filter; anything else returns
// ErrNoNetem (tests skip then).
func (n *Node) Netem(args ...string) error { return n.NetemMedium(0, args...) }

// ClearNetem removes every impairment of the first segment.
func (n *Node) ClearNetem() error { return n.ClearNetemMedium(0) }

// NetemMedium is Netem for segment m.
func (n *Node) NetemMedium(m int, args ...string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := n.ClearNetemMedium(m); err != nil {
		return err
	}
	dev := fmt.Sprintf("eth%d", m)
	qd := append([]string{"qdisc", "add", "dev", dev, "root", "netem"}, args...)
	_, err := run(ctx, "tc", append([]string{"-n", n.NS}, qd...)...)
	if err == nil {
		qd[3] = n.port(m)
		if _, err := run(ctx, "tc", append([]string{"-n", n.lab.BridgeNS}, qd...)...); err != nil {
			return fmt.Errorf("node %s: netem: %w", n.NS, err)
		}
		return nil
	}
	if !strings.Contains(err.Error(), "qdisc kind is unknown") {
		return fmt.Errorf("node %s: netem: %w", n.NS, err)
	}
	p, ok := lossOnly(args)
	if !ok {
		return fmt.Errorf("node %s: netem %s: %w", n.NS, strings.Join(args, " "), ErrNoNetem)
	}
	return n.bpfLoss(ctx, m, p)
}

// lossOnly accepts "loss [random] P%" and returns P.
func lossOnly(args []string) (float64, bool) {
	if len(args) == 3 && args[0] == "loss" && args[1] == "random" {
		args = []string{args[0], args[2]}
	}
	if len(args) != 2 || args[0] != "loss" {
		return 0, false
	}
	p, err := strconv.ParseFloat(strings.TrimSuffix(args[1], "%"), 64)
	if err != nil || p < 0 || p > 100 {
		return 0, false
	}
	return p, true
}

// bpfLoss drops a random share p% of the frames crossing the node's bridge
// port, both ways: a classic BPF filter reads a random number (ancillary
// SKF_AD_RANDOM) and matching frames are redirected to a veth pair that
// leads nowhere. Needs only cls_bpf, clsact and act_mirred.
func (n *Node) bpfLoss(ctx context.Context, m int, p float64) error {
	if err := n.lab.ensureSink(ctx); err != nil {
		return err
	}
	prog := "1,6 0 0 4294967295" // always match
	if p < 100 {
		t := uint64(math.Round(p / 100 * (1 << 32)))
		// A = random; if A >= t: no match (ret 0) else match (ret -1).
		prog = fmt.Sprintf("4,32 0 0 4294963256,53 0 1 %d,6 0 0 0,6 0 0 4294967295", t)
	}
	br := n.lab.BridgeNS
	port := n.port(m)
	if _, err := run(ctx, "tc", "-n", br, "qdisc", "add", "dev", port, "clsact"); err != nil {
		return fmt.Errorf("node %s: loss: %w", n.NS, err)
	}
	for _, dir := range []string{"ingress", "egress"} {
		if _, err := run(ctx, "tc", "-n", br, "filter", "add", "dev", port, dir, "bpf", "bytecode", prog,
			"action", "mirred", "egress", "redirect", "dev", "sinka"); err != nil {
			return fmt.Errorf("node %s: loss: %w", n.NS, err)
		}
	}
	return nil
}

// ClearNetemMedium removes the impairments of segment m.
func (n *Node) ClearNetemMedium(m int) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	dev := fmt.Sprintf("eth%d", m)
	var errs []error
	for _, c := range [][]string{
		{"-n", n.NS, "qdisc", "del", "dev", dev, "root"},
		{"-n", n.lab.BridgeNS, "qdisc", "del", "dev", n.port(m), "root"},
		{"-n", n.lab.BridgeNS, "qdisc", "del", "dev", n.port(m), "clsact"},
	} {
		if _, err := run(ctx, "tc", c...); err != nil && !noQdisc(err) {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("node %s: clear netem: %w", n.NS, err)
	}
	return nil
}

// noQdisc tells tc's "nothing to delete" answers from real errors.
func noQdisc(err error) bool {
	s := err.Error()
	return strings.Contains(s, "handle of zero") || strings.Contains(s, "No such file") ||
		strings.Contains(s, "Invalid handle") || strings.Contains(s, "Cannot find specified qdisc")
}

// ensureSink makes the veth pair dropped frames are sent to: both ends up,
// no addresses, no IPv6, attached to nothing.
func (l *Lab) ensureSink(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.sink {
		return nil
	}
	steps := [][]string{
		{"link", "add", "sinka", "type", "veth", "peer", "name", "sinkb"},
		{"link", "set", "sinka", "addrgenmode", "none"},
		{"link", "set", "sinkb", "addrgenmode", "none"},
		{"link", "set", "sinka", "up"},
		{"link", "set", "sinkb", "up"},
	}
	for _, s := range steps {
		if err := ipCmd(ctx, l.BridgeNS, s...); err != nil {
			return fmt.Errorf("loss sink: %w", err)
		}
	}
	l.sink = true
	return nil
}
