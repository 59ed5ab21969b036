//go:build clustertest

package cluster

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// runBase is the directory under which every run keeps its state, one
// /run/hbnodes-<id> directory per run.
const runBase = "/run/hbnodes-"

// Options describes the lab to build.
type Options struct {
	// Nodes is the number of systemd nodes (1..50).
	Nodes int
	// SecondNet adds eth1 in every node and in the client, on a second bridge
	// (10.78.<id>.N/24), for two-media tests.
	SecondNet bool
	// Serial lists serial cables between two nodes, by node number (1-based).
	// Each end shows in its node as /dev/ttyS<k>, k counting the cables the node
	// is part of in the order given here.
	Serial [][2]int
	// Mask lists extra units to mask in every node (an /etc/systemd/system/NAME ->
	// /dev/null symlink in the overlay, written before boot).
	Mask []string
	// BootTimeout bounds the wait for systemctl is-system-running; 30s if zero.
	BootTimeout time.Duration
}

// Lab is one running test cluster. All of it is removed by Close, which
// t.Cleanup calls.
type Lab struct {
	t testing.TB
	// ID is the per-run number: it is in every name the lab makes and is the
	// third octet of its addresses.
	ID int
	// Base is the run directory, /run/hbnodes-<ID>.
	Base string
	// BridgeNS is the namespace holding br0 (and br1).
	BridgeNS string
	// Client is the client namespace on the first segment.
	Client *Client

	opts   Options
	nodes  []*Node
	serial []*SerialLink
	cg     []string // cgroup hierarchy roots a node's cgroup is made in

	wg        sync.WaitGroup // node supervisors
	mu        sync.Mutex
	closing   bool
	closeOnce sync.Once
	netns     []string // namespaces to delete, in creation order
	sink      bool     // the loss sink veth pair exists
}

// New builds and boots a lab, failing the test on any error. Everything it made
// is removed in t.Cleanup, also when the test fails or panics; on failure each
// node's journal is dumped into the test log first.
func New(t testing.TB, o Options) *Lab {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("cluster tests need root")
	}
	if o.Nodes < 1 || o.Nodes > 50 {
		t.Fatalf("cluster: %d nodes: want 1..50", o.Nodes)
	}
	if o.BootTimeout == 0 {
		o.BootTimeout = 30 * time.Second
	}
	for _, p := range o.Serial {
		if p[0] < 1 || p[0] > o.Nodes || p[1] < 1 || p[1] > o.Nodes || p[0] == p[1] {
			t.Fatalf("cluster: serial cable %v: want two different nodes in 1..%d", p, o.Nodes)
		}
	}
	cg, err := cgroupRoots()
	if err != nil {
		t.Fatalf("cluster: %v", err)
	}
	l := &Lab{t: t, opts: o, cg: cg}
	if err := l.claimID(); err != nil {
		t.Fatalf("cluster: %v", err)
	}
	t.Cleanup(l.Close)
	// Registered after Close, so it runs before it.
	t.Cleanup(func() {
		if t.Failed() {
			l.dumpJournals()
		}
	})
	start := time.Now()
	if err := l.build(); err != nil {
		t.Fatalf("cluster: %v", err)
	}
	built := time.Now()
	if err := l.bootAll(); err != nil {
		t.Fatalf("cluster: %v", err)
	}
	t.Logf("cluster: lab %d: network and overlays %v, boot of %d nodes %v",
		l.ID, built.Sub(start).Round(time.Millisecond), o.Nodes, time.Since(built).Round(time.Millisecond))
	return l
}

// claimID picks a free run id: creating /run/hbnodes-<id> is the lock.
func (l *Lab) claimID() error {
	for range 200 {
		id := 1 + rand.IntN(254)
		if _, err := os.Stat(netnsPath(bridgeNSName(id))); err == nil {
			continue
		}
		dir := runBase + strconv.Itoa(id)
		if err := os.Mkdir(dir, 0o700); err != nil {
			if errors.Is(err, os.ErrExist) {
				continue
			}
			return fmt.Errorf("claim run dir: %w", err)
		}
		if err := writeOwner(dir); err != nil {
			return err
		}
		l.ID, l.Base, l.BridgeNS = id, dir, bridgeNSName(id)
		return nil
	}
	return errors.New("no free run id in 1..254")
}

func bridgeNSName(id int) string          { return fmt.Sprintf("hb%dnet", id) }
func nodeNSName(id, i int) string         { return fmt.Sprintf("hb%dn%d", id, i) }
func clientNSName(id int) string          { return fmt.Sprintf("hb%dcl", id) }
func cgroupName(id, i int) string         { return fmt.Sprintf("hbnode-%d-%d", id, i) }
func netnsPath(name string) string        { return "/run/netns/" + name }
func subnetAddr(net, id, host int) string { return fmt.Sprintf("10.%d.%d.%d", net, id, host) }

// Addr is 10.77.<id>.<host>, an address on the first segment (nodes are 1..N,
// the client is 200; pick VIPs elsewhere, e.g. 100).
func (l *Lab) Addr(host int) string { return subnetAddr(77, l.ID, host) }

// Addr2 is 10.78.<id>.<host>, an address on the second segment.
func (l *Lab) Addr2(host int) string { return subnetAddr(78, l.ID, host) }

// Node returns node i, counting from 1.
func (l *Lab) Node(i int) *Node { return l.nodes[i-1] }

// Nodes returns all nodes in order.
func (l *Lab) Nodes() []*Node { return append([]*Node(nil), l.nodes...) }

// Serial returns serial cable i (0-based, in Options.Serial order).
func (l *Lab) Serial(i int) *SerialLink { return l.serial[i] }

// RepoRoot is the module root: the tests run in test/cluster, so ../..
func (l *Lab) RepoRoot() (string, error) {
	root, err := filepath.Abs("../..")
	if err != nil {
		return "", fmt.Errorf("repo root: %w", err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		return "", fmt.Errorf("repo root %s: %w", root, err)
	}
	return root, nil
}

// InstallBinaries installs the built binaries and unit files in every node
// (see Node.InstallBinaries).
func (l *Lab) InstallBinaries() error {
	var errs []error
	for _, n := range l.nodes {
		errs = append(errs, n.InstallBinaries())
	}
	return errors.Join(errs...)
}

func (l *Lab) logf(format string, args ...any) {
	l.t.Helper()
	l.t.Logf(format, args...)
}

func (l *Lab) isClosing() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.closing
}

// build makes the namespaces, bridges, veths, ptys and node directories.
func (l *Lab) build() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	br := l.BridgeNS
	if err := l.addNetns(ctx, br); err != nil {
		return err
	}
	bridges := []string{"br0"}
	if l.opts.SecondNet {
		bridges = append(bridges, "br1")
	}
	for _, b := range bridges {
		// No multicast snooping: without a querier the bridge would forget
		// group members and starve mcast heartbeats.
		if err := ipCmd(ctx, br, "link", "add", b, "type", "bridge", "mcast_snooping", "0"); err != nil {
			return err
		}
		if err := ipCmd(ctx, br, "link", "set", b, "up"); err != nil {
			return err
		}
	}
	l.Client = &Client{lab: l, NS: clientNSName(l.ID), Addr: l.Addr(200)}
	if err := l.addNetns(ctx, l.Client.NS); err != nil {
		return err
	}
	for i := range bridges {
		if err := l.plug(ctx, l.Client.NS, i, "cl", subnetAddr(77+i, l.ID, 200)); err != nil {
			return err
		}
	}
	for i := 1; i <= l.opts.Nodes; i++ {
		n := newNode(l, i)
		l.nodes = append(l.nodes, n)
		if err := l.addNetns(ctx, n.NS); err != nil {
			return err
		}
		for m := range bridges {
			if err := l.plug(ctx, n.NS, m, n.portPrefix(), subnetAddr(77+m, l.ID, i)); err != nil {
				return err
			}
		}
		if err := n.prepare(); err != nil {
			return err
		}
	}
	for _, p := range l.opts.Serial {
		s, err := newSerialLink(l.Node(p[0]), l.Node(p[1]))
		if err != nil {
			return err
		}
		l.serial = append(l.serial, s)
	}
	return nil
}

func (l *Lab) addNetns(ctx context.Context, name string) error {
	if _, err := run(ctx, "ip", "netns", "add", name); err != nil {
		return err
	}
	l.mu.Lock()
	l.netns = append(l.netns, name)
	l.mu.Unlock()
	return ipCmd(ctx, name, "link", "set", "lo", "up")
}

// plug connects namespace ns to bridge m (eth<m> in ns, port <prefix>e<m> in
// the bridge namespace) and gives it addr/24.
func (l *Lab) plug(ctx context.Context, ns string, m int, prefix, addr string) error {
	dev := fmt.Sprintf("eth%d", m)
	port := fmt.Sprintf("%se%d", prefix, m)
	if _, err := run(ctx, "ip", "link", "add", dev, "netns", ns, "type", "veth", "peer", "name", port, "netns", l.BridgeNS); err != nil {
		return err
	}
	steps := [][]string{
		{l.BridgeNS, "link", "set", port, "master", fmt.Sprintf("br%d", m)},
		{l.BridgeNS, "link", "set", port, "up"},
		{ns, "addr", "add", addr + "/24", "brd", "+", "dev", dev},
		{ns, "link", "set", dev, "up"},
	}
	for _, s := range steps {
		if err := ipCmd(ctx, s[0], s[1:]...); err != nil {
			return err
		}
	}
	return nil
}

// bootAll starts every node at once and waits until all run.
func (l *Lab) bootAll() error {
	for _, n := range l.nodes {
		if err := n.start(); err != nil {
			return err
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), l.opts.BootTimeout)
	defer cancel()
	errs := make([]error, len(l.nodes))
	var wg sync.WaitGroup
	for i, n := range l.nodes {
		wg.Go(func() { errs[i] = n.WaitRunning(ctx) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// Close powers every node off hard and removes all the lab made: processes,
// cgroups, mounts, ptys, namespaces and the run directory. It is idempotent
// and is called by t.Cleanup; call it earlier to check the teardown itself.
func (l *Lab) Close() {
	l.closeOnce.Do(func() {
		if err := l.teardown(); err != nil {
			l.t.Errorf("cluster: teardown: %v", err)
		}
	})
}

func (l *Lab) teardown() error {
	l.mu.Lock()
	l.closing = true
	l.mu.Unlock()
	var errs []error
	var wg sync.WaitGroup
	perr := make([]error, len(l.nodes))
	for i, n := range l.nodes {
		wg.Go(func() { perr[i] = n.PowerOff() })
	}
	wg.Wait()
	errs = append(errs, perr...)
	l.wg.Wait()
	for _, n := range l.nodes {
		errs = append(errs, n.release())
	}
	for _, s := range l.serial {
		s.Close()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	l.mu.Lock()
	names := append([]string(nil), l.netns...)
	l.netns = nil
	l.mu.Unlock()
	for i := len(names) - 1; i >= 0; i-- {
		if _, err := run(ctx, "ip", "netns", "del", names[i]); err != nil {
			errs = append(errs, err)
		}
	}
	if l.Base != "" {
		errs = append(errs, removeRunDir(l.Base))
	}
	return errors.Join(errs...)
}

// removeRunDir deletes a run directory, refusing while anything is still
// mounted below it (RemoveAll would follow a mount of the host root).
func removeRunDir(dir string) error {
	mounts, err := mountsUnder(dir)
	if err != nil {
		return err
	}
	if len(mounts) > 0 {
		return fmt.Errorf("not removing %s: still mounted: %s", dir, strings.Join(mounts, " "))
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("remove run dir: %w", err)
	}
	return nil
}

// dumpJournals writes each node's journal into the test log.
func (l *Lab) dumpJournals() {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for _, n := range l.nodes {
		boot, err := n.journalctl(ctx, "-b", "-n", "200")
		if err != nil {
			boot += fmt.Sprintf("\n(journalctl: %v)", err)
		}
		hb, err := n.journalctl(ctx, "-u", "heartbeat", "-n", "500")
		if err != nil {
			hb += fmt.Sprintf("\n(journalctl: %v)", err)
		}
		l.logf("==== %s (%s) journal -b (last 200 lines) ====\n%s", n.Hostname, n.NS, boot)
		l.logf("==== %s (%s) journal -u heartbeat ====\n%s", n.Hostname, n.NS, hb)
		if !n.Running() {
			l.logf("==== %s (%s) console (tail) ====\n%s", n.Hostname, n.NS, n.consoleTail(60))
		}
	}
}
