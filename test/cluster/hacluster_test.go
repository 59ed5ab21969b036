//go:build clustertest

package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/linuxha/heartbeat/internal/control"
)

// Timers of the failover tests' ha.cf.
const (
	haKeepalive = 100 * time.Millisecond
	haDeadtime  = 500 * time.Millisecond
)

// haSetup describes the two-node cluster of a failover test.
type haSetup struct {
	// AutoFailback is the auto_failback value, "on" or "off".
	AutoFailback string
	// Extra are resources after the VIP and hbweb on the haresources line.
	Extra []string
	// Scripts are resource scripts to install as /etc/ha.d/resource.d/NAME.
	Scripts map[string]string
	// SecondGroup adds the group "node2 <VIP2>/24/eth0" (VIP2 lab.Addr(101)).
	SecondGroup bool
}

// haLab is a lab of two nodes running heartbeat with one resource group,
// "node1 <VIP>/24/eth0 hbweb [Extra...]": the VIP lab.Addr(100) and the web
// unit hbweb.service answering with the node's name.
type haLab struct {
	*Lab
	t *testing.T
	// VIP is the virtual address, Key the group's key (its first token).
	VIP, Key string
	// VIP2 and Key2 are the second group's (haSetup.SecondGroup), else "".
	VIP2, Key2 string
}

const hbwebUnit = `[Unit]
Description=hbweb: test page naming the node (started by heartbeat only)

[Service]
Type=notify
ExecStart=/usr/local/bin/hbweb -listen :80
`

// newHALab boots two nodes, installs heartbeat, hbweb and the scripts,
// writes the configuration and starts heartbeat in both. It does not wait
// for the group to start anywhere.
func newHALab(t *testing.T, s haSetup) *haLab {
	t.Helper()
	web := buildHbweb(t)
	lab := New(t, Options{Nodes: 2})
	h := &haLab{Lab: lab, t: t, VIP: lab.Addr(100)}
	h.Key = h.VIP + "/24/eth0"
	line := strings.Join(append([]string{"node1", h.Key, "hbweb"}, s.Extra...), " ")
	if s.SecondGroup {
		h.VIP2 = lab.Addr(101)
		h.Key2 = h.VIP2 + "/24/eth0"
		line += "\nnode2 " + h.Key2
	}
	hacf := fmt.Sprintf(`# failover tests
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
	for _, n := range lab.Nodes() {
		files := []struct {
			path string
			data []byte
			mode os.FileMode
		}{
			{"/usr/local/bin/hbweb", web, 0o755},
			{"/etc/systemd/system/hbweb.service", []byte(hbwebUnit), 0o644},
		}
		for name, body := range s.Scripts {
			files = append(files, struct {
				path string
				data []byte
				mode os.FileMode
			}{"/etc/ha.d/resource.d/" + name, []byte(body), 0o755})
		}
		for _, f := range files {
			if err := n.WriteFile(f.path, f.data, f.mode); err != nil {
				t.Fatal(err)
			}
		}
		if err := n.WriteHaConfig(hacf, "# failover tests\n"+line+"\n", "auth 1\n1 sha1 failover-tests\n"); err != nil {
			t.Fatal(err)
		}
	}
	// Reloads systemd in every node, so hbweb.service is known too.
	if err := lab.InstallBinaries(); err != nil {
		t.Fatal(err)
	}
	h.startHeartbeat(lab.Nodes()...)
	return h
}

// buildHbweb builds testdata/hbweb (a static binary) and returns it.
func buildHbweb(t *testing.T) []byte {
	t.Helper()
	out := filepath.Join(t.TempDir(), "hbweb")
	cmd := exec.Command("go", "build", "-o", out, "./testdata/hbweb")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build hbweb: %v\n%s", err, msg)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// startHeartbeat starts heartbeat.service in the nodes at about the same time.
func (h *haLab) startHeartbeat(nodes ...*Node) {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(h.t.Context(), 20*time.Second)
	defer cancel()
	errs := make([]error, len(nodes))
	var wg sync.WaitGroup
	for i, n := range nodes {
		wg.Go(func() {
			_, errs[i] = n.Run(ctx, "systemctl", "start", "heartbeat.service")
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		h.t.Fatal(err)
	}
}

// status is hbctl status --json in node n.
func (h *haLab) status(ctx context.Context, n *Node) (control.Status, error) {
	var st control.Status
	out, err := n.Run(ctx, "hbctl", "status", "--json")
	if err != nil {
		return st, err
	}
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		return st, fmt.Errorf("%s: hbctl status --json: %w", n.Hostname, err)
	}
	return st, nil
}

// controlStatus is the status from the daemon's own control socket in
// node n (the engine's snapshot, not going through hbctl and D-Bus).
func (h *haLab) controlStatus(ctx context.Context, n *Node) (control.Status, error) {
	sock, err := n.hostPath(control.DefaultPath)
	if err != nil {
		return control.Status{}, err
	}
	resp, err := control.Query(ctx, sock, control.Request{Op: "status"})
	if err != nil {
		return control.Status{}, fmt.Errorf("%s: %w", n.Hostname, err)
	}
	if resp.Status == nil {
		return control.Status{}, fmt.Errorf("%s: control socket: no status: %s", n.Hostname, resp.Error)
	}
	return *resp.Status, nil
}

// group is the test group as node n sees it: through hbctl status --json
// (the user's view, over D-Bus) or straight from the control socket.
func (h *haLab) group(ctx context.Context, n *Node, viaHbctl bool) (control.Group, error) {
	var st control.Status
	var err error
	if viaHbctl {
		st, err = h.status(ctx, n)
	} else {
		st, err = h.controlStatus(ctx, n)
	}
	if err != nil {
		return control.Group{}, err
	}
	for _, g := range st.Groups {
		if g.Key == h.Key {
			return g, nil
		}
	}
	return control.Group{}, fmt.Errorf("%s: no group %s in %+v", n.Hostname, h.Key, st.Groups)
}

// ownerIs reports whether every node in nodes names owner as the group's
// owner, and the owner says it is running; views describes what each said.
func (h *haLab) ownerIs(ctx context.Context, owner string, nodes []*Node, viaHbctl bool) (ok bool, views string) {
	var vs []string
	ok = true
	for _, n := range nodes {
		g, err := h.group(ctx, n, viaHbctl)
		if err != nil {
			vs = append(vs, err.Error())
			ok = false
			continue
		}
		vs = append(vs, fmt.Sprintf("%s: owner=%q state=%s standby=%v failed=%v", n.Hostname, g.Owner, g.State, g.Standby, g.Failed))
		if g.Owner != owner || (n.Hostname == owner && g.State != "running") {
			ok = false
		}
	}
	return ok, strings.Join(vs, "; ")
}

// hbctlLag bounds how long hbctl (D-Bus) may lag behind the daemon.
const hbctlLag = time.Second

// waitOwner waits until every node in nodes (all running nodes if none)
// says owner holds the group, and returns how long it took. The wait reads
// the daemons' control sockets; then hbctl status --json in each node must
// say the same within hbctlLag, or the test fails (and goes on).
func (h *haLab) waitOwner(ctx context.Context, owner string, within time.Duration, nodes ...*Node) (time.Duration, error) {
	h.t.Helper()
	if len(nodes) == 0 {
		for _, n := range h.Nodes() {
			if n.Running() {
				nodes = append(nodes, n)
			}
		}
	}
	start := time.Now()
	var took time.Duration
	for viaHbctl, limit := false, within; ; {
		ok, views := h.ownerIs(ctx, owner, nodes, viaHbctl)
		if ok && viaHbctl {
			return took, nil
		}
		if ok {
			took = time.Since(start)
			viaHbctl, limit = true, took+hbctlLag
			continue
		}
		if time.Since(start) > limit {
			if !viaHbctl {
				return 0, fmt.Errorf("group not owned by %s within %v: control sockets say %s", owner, within, views)
			}
			_, daemons := h.ownerIs(ctx, owner, nodes, false)
			h.t.Errorf("hbctl disagrees with the daemons %v after the group went to %s: hbctl status --json says %s; control sockets say %s",
				hbctlLag, owner, views, daemons)
			return took, nil
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(25 * time.Millisecond):
		}
	}
}

// holders returns the nodes that have the VIP on eth0 (read from their
// network namespaces, so a node that is off counts as not holding it).
func (h *haLab) holders(ctx context.Context) ([]string, error) {
	return h.holdersOf(ctx, h.VIP)
}

// holdersOf returns the nodes that have vip on eth0, in node order.
func (h *haLab) holdersOf(ctx context.Context, vip string) ([]string, error) {
	var out []string
	for _, n := range h.Nodes() {
		s, err := run(ctx, "ip", "-n", n.NS, "-br", "-4", "addr", "show", "dev", "eth0")
		if err != nil {
			return nil, err
		}
		for f := range strings.FieldsSeq(s) {
			if a, _, _ := strings.Cut(f, "/"); a == vip {
				out = append(out, n.Hostname)
				break
			}
		}
	}
	return out, nil
}

// waitHolders waits until exactly the nodes in want hold the VIP and
// returns how long it took.
func (h *haLab) waitHolders(ctx context.Context, within time.Duration, want ...string) (time.Duration, error) {
	start := time.Now()
	for {
		got, err := h.holders(ctx)
		if err != nil {
			return 0, err
		}
		if slices.Equal(got, want) {
			return time.Since(start), nil
		}
		if time.Since(start) > within {
			return 0, fmt.Errorf("VIP holders %v, want %v within %v", got, want, within)
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// startCluster starts the prober once node1 owns the group and serves the
// page through the VIP, so the client has a neighbour entry for the VIP.
func (h *haLab) startCluster(ctx context.Context) *prober {
	h.t.Helper()
	d, err := h.waitOwner(ctx, "node1", 15*time.Second)
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Logf("group owned by node1 %v after heartbeat start", d.Round(time.Millisecond))
	p := startProber(h.t, h.Client, h.VIP)
	if _, err := p.waitServed(ctx, "node1", time.Now(), 5*time.Second); err != nil {
		h.t.Fatal(err)
	}
	// A few more answers, all from node1.
	from := time.Now()
	for _, r := range p.settle(ctx, from, 300*time.Millisecond) {
		if r.Node != "node1" {
			h.t.Fatalf("before the fault the VIP answered %+v, want node1", r)
		}
	}
	return p
}

// hbctl runs "hbctl standby" or "hbctl takeover" in node n. While the
// daemon does not export its D-Bus interface yet, hbctl cannot reach it for
// these commands (exit 3, "not on the bus"); then the same request goes
// over the daemon's control socket, with a NOTE in the test log.
func (h *haLab) hbctl(ctx context.Context, n *Node, cmd string) error {
	h.t.Helper()
	_, err := n.Run(ctx, "hbctl", cmd)
	if err == nil || !strings.Contains(err.Error(), "not on the bus") {
		return err
	}
	h.t.Logf("NOTE: %s: %v; sending %q over the control socket instead", n.Hostname, err, cmd)
	sock, perr := n.hostPath(control.DefaultPath)
	if perr != nil {
		return errors.Join(err, perr)
	}
	resp, qerr := control.Query(ctx, sock, control.Request{Op: cmd, Arg: "all"})
	if qerr != nil {
		return errors.Join(err, qerr)
	}
	if resp.Error != "" {
		return fmt.Errorf("%s: control socket %s: %s", n.Hostname, cmd, resp.Error)
	}
	return nil
}

// journalEntry is one line of a unit's journal.
type journalEntry struct {
	At  time.Time
	Msg string
}

// journal returns the node's journal of unit.
func journal(ctx context.Context, n *Node, unit string) ([]journalEntry, error) {
	raw, err := n.JournalJSON(ctx, unit)
	if err != nil {
		return nil, err
	}
	return journalEntries(n, raw)
}

// journalAllBoots is journal over every boot of the node.
func journalAllBoots(ctx context.Context, n *Node, unit string) ([]journalEntry, error) {
	raw, err := n.JournalJSONAllBoots(ctx, unit)
	if err != nil {
		return nil, err
	}
	return journalEntries(n, raw)
}

func journalEntries(n *Node, raw []map[string]any) ([]journalEntry, error) {
	var out []journalEntry
	for _, e := range raw {
		msg, _ := e["MESSAGE"].(string)
		ts, _ := e["__REALTIME_TIMESTAMP"].(string)
		us, err := strconv.ParseInt(ts, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%s: journal timestamp %q: %w", n.Hostname, ts, err)
		}
		out = append(out, journalEntry{At: time.UnixMicro(us), Msg: msg})
	}
	return out, nil
}

// matching keeps the entries containing every substring.
func matching(es []journalEntry, subs ...string) []journalEntry {
	var out []journalEntry
	for _, e := range es {
		ok := true
		for _, s := range subs {
			if !strings.Contains(e.Msg, s) {
				ok = false
				break
			}
		}
		if ok {
			out = append(out, e)
		}
	}
	return out
}

// logField returns the value of key=value (or key="quoted value") in a
// log line, "" when absent.
func logField(msg, key string) string {
	i := strings.Index(" "+msg, " "+key+"=")
	if i < 0 {
		return ""
	}
	v := msg[i+len(key)+1:]
	if strings.HasPrefix(v, `"`) {
		q, err := strconv.QuotedPrefix(v)
		if err != nil {
			return ""
		}
		s, _ := strconv.Unquote(q)
		return s
	}
	if j := strings.IndexByte(v, ' '); j >= 0 {
		v = v[:j]
	}
	return v
}

// logHeartbeatJournal logs the heartbeat journal lines of n that contain
// any of subs, for the test report.
func (h *haLab) logHeartbeatJournal(ctx context.Context, n *Node, subs ...string) {
	h.t.Helper()
	es, err := journal(ctx, n, "heartbeat.service")
	if err != nil {
		h.t.Logf("%s journal: %v", n.Hostname, err)
		return
	}
	var lines []string
	for _, e := range es {
		for _, s := range subs {
			if strings.Contains(e.Msg, s) {
				lines = append(lines, e.At.Format("15:04:05.000000")+" "+e.Msg)
				break
			}
		}
	}
	h.t.Logf("%s heartbeat journal (%s):\n%s", n.Hostname, strings.Join(subs, " | "), strings.Join(lines, "\n"))
}
