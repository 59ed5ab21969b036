//go:build clustertest

package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Command builds nsenter -t <pid1> -a ARGS, to run in the background.
func (n *Node) Command(ctx context.Context, args ...string) (*exec.Cmd, error) {
	pid := n.PID1()
	if pid == 0 {
		return nil, fmt.Errorf("node %s: not running", n.NS)
	}
	return command(ctx, "nsenter", append([]string{"-t", strconv.Itoa(pid), "-a"}, args...)...), nil
}

// Run runs a command in all the node's namespaces (nsenter -t <pid1> -a),
// outside any unit (RunUnit runs one as a unit, with its journal), and
// returns its stdout; the error carries stderr.
func (n *Node) Run(ctx context.Context, args ...string) (string, error) {
	pid := n.PID1()
	if pid == 0 {
		return "", fmt.Errorf("node %s: not running", n.NS)
	}
	out, err := run(ctx, "nsenter", append([]string{"-t", strconv.Itoa(pid), "-a"}, args...)...)
	if err != nil {
		return out, fmt.Errorf("node %s: %w", n.NS, err)
	}
	return out, nil
}

// RunUnit runs a command as a transient unit of the node's systemd
// (systemd-run --wait --pipe --quiet) and returns its stdout.
func (n *Node) RunUnit(ctx context.Context, args ...string) (string, error) {
	return n.Run(ctx, append([]string{"systemd-run", "--wait", "--pipe", "--quiet", "--collect"}, args...)...)
}

// Ping pings addr from the node until one answer comes (nil) or within
// has passed (an error); within is rounded up to whole seconds.
func (n *Node) Ping(ctx context.Context, addr string, within time.Duration) error {
	_, err := n.Run(ctx, pingArgs(addr, within)...)
	return err
}

// pingArgs is a ping that stops at the first answer or after within.
func pingArgs(addr string, within time.Duration) []string {
	secs := max(1, int((within+time.Second-1)/time.Second))
	return []string{"ping", "-n", "-q", "-c", "1", "-i", "0.2", "-w", strconv.Itoa(secs), addr}
}

// MAC returns the hardware address of a link in the node (e.g. eth0).
func (n *Node) MAC(dev string) (string, error) {
	out, err := run(context.Background(), "ip", "-n", n.NS, "-o", "link", "show", dev)
	if err != nil {
		return "", fmt.Errorf("node %s: mac of %s: %w", n.NS, dev, err)
	}
	f := strings.Fields(out)
	for i := range f {
		if f[i] == "link/ether" && i+1 < len(f) {
			return f[i+1], nil
		}
	}
	return "", fmt.Errorf("node %s: no mac for %s", n.NS, dev)
}

// Journal returns journalctl -u UNIT -o short-precise of the node; a node
// that is off is read from its journal files.
func (n *Node) Journal(ctx context.Context, unit string) (string, error) {
	return n.journalctl(ctx, "-u", unit, "-o", "short-precise")
}

// JournalJSON returns the node's journal entries of a unit (journalctl -o json).
func (n *Node) JournalJSON(ctx context.Context, unit string) ([]map[string]any, error) {
	out, err := n.journalctl(ctx, "-u", unit, "-o", "json")
	if err != nil {
		return nil, err
	}
	return n.parseJournalJSON(out)
}

// JournalJSONAllBoots is JournalJSON over every boot of the node. Each boot
// has its own machine-id (LAB.md), so this reads the journal files from the
// host.
func (n *Node) JournalJSONAllBoots(ctx context.Context, unit string) ([]map[string]any, error) {
	out, err := run(ctx, "journalctl", "--no-pager", "-D", filepath.Join(n.root, "var/log/journal"), "-u", unit, "-o", "json")
	if err != nil {
		return nil, err
	}
	return n.parseJournalJSON(out)
}

func (n *Node) parseJournalJSON(out string) ([]map[string]any, error) {
	var entries []map[string]any
	for line := range strings.SplitSeq(out, "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		var e map[string]any
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			return entries, fmt.Errorf("node %s: journal json: %w", n.NS, err)
		}
		entries = append(entries, e)
	}
	return entries, nil
}

func (n *Node) journalctl(ctx context.Context, args ...string) (string, error) {
	args = append([]string{"--no-pager"}, args...)
	if n.PID1() > 0 {
		return n.Run(ctx, append([]string{"journalctl"}, args...)...)
	}
	return run(ctx, "journalctl", append([]string{"-D", filepath.Join(n.root, "var/log/journal")}, args...)...)
}

func (n *Node) consoleTail(lines int) string {
	data, err := os.ReadFile(filepath.Join(n.base, "console.log"))
	if err != nil {
		return fmt.Sprintf("(console: %v)", err)
	}
	ls := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(ls) > lines {
		ls = ls[len(ls)-lines:]
	}
	return strings.Join(ls, "\n")
}
