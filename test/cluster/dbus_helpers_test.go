//go:build clustertest

package cluster

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Helpers of dbus_test.go: a two-node ucast cluster (keepalive 100ms,
// deadtime 1s) with one VIP group preferred on node1, the classic tool
// names linked to hbctl, commands run in a node with their exit code, and
// the documented interface file read from dbus/.

const (
	dbBusName  = "org.linuxha.Heartbeat1"
	dbRootPath = "/org/linuxha/Heartbeat1"
	dbManager  = "org.linuxha.Heartbeat1.Manager"
	dbNodeIf   = "org.linuxha.Heartbeat1.Node"
	dbGroupIf  = "org.linuxha.Heartbeat1.Group"

	dbAuthkeys = "auth 1\n1 sha1 dbus-tests\n"
	dbDeadtime = time.Second

	// dbStableWithin bounds the start of both daemons until each sees the
	// other active and node1 runs the group.
	dbStableWithin = 30 * time.Second
	// dbMoveWithin bounds a planned move of the group (standby, takeover).
	dbMoveWithin = 10 * time.Second
)

// dbNobody runs a command as nobody:nogroup without supplementary groups.
var dbNobody = []string{"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"}

// dbToolLinks are the classic tool names the .deb links to hbctl.
var dbToolLinks = []string{"/usr/bin/cl_status", "/usr/share/heartbeat/hb_standby", "/usr/share/heartbeat/hb_takeover"}

// dbLab is the cluster of the D-Bus and CLI tests.
type dbLab struct {
	*Lab
	t   *testing.T
	VIP string // 10.77.<id>.100
	Key string // the group's key, VIP/24/eth0
}

// newDBLab boots two nodes, installs the binaries and tool links, starts
// heartbeat in both (norestart: node numbers whose unit gets Restart=no)
// and waits until the cluster is stable with node1 holding the group.
func newDBLab(t *testing.T, norestart ...int) *dbLab {
	t.Helper()
	lab := New(t, Options{Nodes: 2})
	d := &dbLab{Lab: lab, t: t, VIP: lab.Addr(100)}
	d.Key = d.VIP + "/24/eth0"
	for _, i := range norestart {
		if err := lab.Node(i).WriteFile("/etc/systemd/system/heartbeat.service.d/50-dbustest-norestart.conf",
			[]byte("[Service]\nRestart=no\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range lab.Nodes() {
		if err := n.WriteHaConfig(d.haCf(), d.haresources(), dbAuthkeys); err != nil {
			t.Fatal(err)
		}
	}
	if err := lab.InstallBinaries(); err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	for _, n := range lab.Nodes() {
		if err := dbLinkTools(ctx, n); err != nil {
			t.Fatal(err)
		}
	}
	d.startHeartbeat(lab.Nodes()...)
	start := time.Now()
	if err := d.waitStable(ctx, dbStableWithin); err != nil {
		t.Fatal(err)
	}
	t.Logf("cluster stable (node1 holds %s) %v after start", d.Key, time.Since(start).Round(time.Millisecond))
	return d
}

// haCf is the ha.cf of both nodes (each skips the ucast line of its own
// address).
func (d *dbLab) haCf() string {
	return fmt.Sprintf(`# dbus and cli tests
keepalive 100ms
deadtime 1
warntime 500ms
initdead 5
udpport 694
auto_failback on
ucast eth0 %s
ucast eth0 %s
node node1 node2
`, d.Addr(1), d.Addr(2))
}

func (d *dbLab) haresources() string { return "node1 " + d.Key + "\n" }

// dbLinkTools makes cl_status, hb_standby and hb_takeover links to the
// installed hbctl, as the .deb does, and checks they point there.
func dbLinkTools(ctx context.Context, n *Node) error {
	target := ""
	for _, p := range []string{"/usr/sbin/hbctl", "/usr/local/sbin/hbctl"} {
		if _, err := n.Run(ctx, "test", "-x", p); err == nil {
			target = p
			break
		}
	}
	if target == "" {
		return fmt.Errorf("%s: hbctl not installed", n.Hostname)
	}
	for _, l := range dbToolLinks {
		if _, err := n.Run(ctx, "mkdir", "-p", filepath.Dir(l)); err != nil {
			return err
		}
		if _, err := n.Run(ctx, "ln", "-sfn", target, l); err != nil {
			return err
		}
		got, err := n.Run(ctx, "readlink", "-f", l)
		if err != nil {
			return err
		}
		want, err := n.Run(ctx, "readlink", "-f", target)
		if err != nil {
			return err
		}
		if got != want {
			return fmt.Errorf("%s: %s resolves to %q, want %q", n.Hostname, l, strings.TrimSpace(got), strings.TrimSpace(want))
		}
	}
	return nil
}

// startHeartbeat starts heartbeat.service in the nodes at about the same time.
func (d *dbLab) startHeartbeat(nodes ...*Node) {
	d.t.Helper()
	ctx, cancel := context.WithTimeout(d.t.Context(), 30*time.Second)
	defer cancel()
	errs := make([]error, len(nodes))
	var wg sync.WaitGroup
	for i, n := range nodes {
		wg.Go(func() { _, errs[i] = n.Run(ctx, "systemctl", "start", "heartbeat.service") })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		d.t.Fatal(err)
	}
}

// dbResult is one command run in a node.
type dbResult struct {
	Stdout, Stderr string
	Code           int
}

func (r dbResult) String() string {
	return fmt.Sprintf("exit %d, stdout %q, stderr %q", r.Code, r.Stdout, r.Stderr)
}

// dbExec runs args in node n and returns its output and exit code; the
// error is for a command that could not run or did not exit normally.
func dbExec(ctx context.Context, n *Node, args ...string) (dbResult, error) {
	cmd, err := n.Command(ctx, args...)
	if err != nil {
		return dbResult{}, err
	}
	var so, se bytes.Buffer
	cmd.Stdout, cmd.Stderr = &so, &se
	err = cmd.Run()
	r := dbResult{Stdout: so.String(), Stderr: se.String()}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee) && ee.Exited():
		r.Code = ee.ExitCode()
	default:
		return r, fmt.Errorf("%s: %s: %w (stderr %q)", n.Hostname, strings.Join(args, " "), err, se.String())
	}
	return r, nil
}

// dbCombined runs args in node n with stdout and stderr on one pipe, as a
// terminal shows them (the 3.0.6 captures mix both), and returns the
// output and the exit code.
func dbCombined(ctx context.Context, n *Node, args ...string) (string, int, error) {
	cmd, err := n.Command(ctx, args...)
	if err != nil {
		return "", 0, err
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err = cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return out.String(), 0, nil
	case errors.As(err, &ee) && ee.Exited():
		return out.String(), ee.ExitCode(), nil
	}
	return out.String(), 0, fmt.Errorf("%s: %s: %w (output %q)", n.Hostname, strings.Join(args, " "), err, out.String())
}

// dbStatus is "hbctl status --json" (the fields these tests read).
type dbStatus struct {
	Node          string `json:"node"`
	State         string `json:"state"`
	Generation    uint64 `json:"generation"`
	Version       string `json:"version"`
	Keepalive     string `json:"keepalive"`
	Deadtime      string `json:"deadtime"`
	ResourceState string `json:"resource_state"`
	Source        string `json:"source"`
	Nodes         []struct {
		Name       string    `json:"name"`
		Type       string    `json:"type"`
		Status     string    `json:"status"`
		Local      bool      `json:"local"`
		Generation uint64    `json:"generation"`
		LastHeard  time.Time `json:"last_heard"`
		Links      []struct {
			Name   string `json:"name"`
			Status string `json:"status"`
		} `json:"links"`
	} `json:"nodes"`
	Groups []dbGroup `json:"groups"`
}

type dbGroup struct {
	Key       string   `json:"key"`
	Preferred string   `json:"preferred"`
	Owner     string   `json:"owner"`
	State     string   `json:"state"`
	Standby   bool     `json:"standby"`
	Failed    bool     `json:"failed"`
	Resources []string `json:"resources"`
}

// nodeStatus is the status of the named node in s ("" if absent).
func (s *dbStatus) nodeStatus(name string) string {
	for _, n := range s.Nodes {
		if n.Name == name {
			return n.Status
		}
	}
	return ""
}

// linkStatus is the status of a link towards the named node ("" if absent).
func (s *dbStatus) linkStatus(node, link string) string {
	for _, n := range s.Nodes {
		if n.Name == node {
			for _, l := range n.Links {
				if l.Name == link {
					return l.Status
				}
			}
		}
	}
	return ""
}

func (s *dbStatus) group(key string) (dbGroup, bool) {
	for _, g := range s.Groups {
		if g.Key == key {
			return g, true
		}
	}
	return dbGroup{}, false
}

// summary renders s on one line for messages.
func (s *dbStatus) summary() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s=%s(src %s, rsc %s)", s.Node, s.State, s.Source, s.ResourceState)
	for _, n := range s.Nodes {
		fmt.Fprintf(&b, " %s=%s", n.Name, n.Status)
		for _, l := range n.Links {
			fmt.Fprintf(&b, "[%s:%s]", l.Name, l.Status)
		}
	}
	for _, g := range s.Groups {
		fmt.Fprintf(&b, " group %s owner=%q state=%s", g.Key, g.Owner, g.State)
	}
	return b.String()
}

// dbHbctlStatus runs hbctl status --json in n (as root).
func dbHbctlStatus(ctx context.Context, n *Node) (*dbStatus, error) {
	r, err := dbExec(ctx, n, "hbctl", "status", "--json")
	if err != nil {
		return nil, err
	}
	if r.Code != 0 {
		return nil, fmt.Errorf("%s: hbctl status --json: %v", n.Hostname, r)
	}
	var s dbStatus
	if err := json.Unmarshal([]byte(r.Stdout), &s); err != nil {
		return nil, fmt.Errorf("%s: hbctl status --json: %w: %q", n.Hostname, err, r.Stdout)
	}
	return &s, nil
}

// dbEventually polls cond every 100ms until it holds or within has passed;
// the error carries cond's last explanation.
func dbEventually(ctx context.Context, within time.Duration, what string, cond func() (bool, string)) (time.Duration, error) {
	start := time.Now()
	deadline := start.Add(within)
	for {
		ok, why := cond()
		if ok {
			return time.Since(start), nil
		}
		if time.Now().After(deadline) {
			return time.Since(start), fmt.Errorf("%s: not within %v: %s", what, within, why)
		}
		select {
		case <-ctx.Done():
			return time.Since(start), fmt.Errorf("%s: %w (%s)", what, ctx.Err(), why)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// hasVIP reports whether n has the VIP on eth0.
func (d *dbLab) hasVIP(ctx context.Context, n *Node) (bool, error) {
	out, err := n.Run(ctx, "ip", "-o", "-4", "addr", "show", "dev", "eth0")
	if err != nil {
		return false, err
	}
	return strings.Contains(out, " "+d.VIP+"/24 "), nil
}

// ownerView checks that both nodes agree owner holds the group: it runs
// there, is stopped on the other node, and only the owner has the VIP.
func (d *dbLab) ownerView(ctx context.Context, owner string) (bool, string) {
	var why []string
	for _, n := range d.Nodes() {
		s, err := dbHbctlStatus(ctx, n)
		if err != nil {
			return false, err.Error()
		}
		g, ok := s.group(d.Key)
		want := "stopped"
		if n.Hostname == owner {
			want = "running"
		}
		if !ok || g.Owner != owner || g.State != want {
			why = append(why, fmt.Sprintf("%s: %s", n.Hostname, s.summary()))
		}
		vip, err := d.hasVIP(ctx, n)
		if err != nil {
			return false, err.Error()
		}
		if vip != (n.Hostname == owner) {
			why = append(why, fmt.Sprintf("%s: has VIP %v", n.Hostname, vip))
		}
	}
	return len(why) == 0, strings.Join(why, "; ")
}

// waitOwner waits until both nodes agree owner holds the group.
func (d *dbLab) waitOwner(ctx context.Context, owner string, within time.Duration) (time.Duration, error) {
	return dbEventually(ctx, within, "group held by "+owner, func() (bool, string) { return d.ownerView(ctx, owner) })
}

// waitStable waits until each node sees the other active over eth0 and
// node1 holds the group.
func (d *dbLab) waitStable(ctx context.Context, within time.Duration) error {
	_, err := dbEventually(ctx, within, "stable cluster", func() (bool, string) {
		for _, pair := range [][2]string{{"node1", "node2"}, {"node2", "node1"}} {
			n := d.Node(map[string]int{"node1": 1, "node2": 2}[pair[0]])
			s, err := dbHbctlStatus(ctx, n)
			if err != nil {
				return false, err.Error()
			}
			if s.State != "active" || s.nodeStatus(pair[1]) != "active" || s.linkStatus(pair[1], "eth0") != "up" {
				return false, pair[0] + ": " + s.summary()
			}
		}
		return d.ownerView(ctx, "node1")
	})
	return err
}

// dbEntry is one journal entry of heartbeat.service.
type dbEntry struct {
	At  time.Time
	Msg string
}

// dbJournal returns the entries of heartbeat.service in n since the given time.
func dbJournal(ctx context.Context, n *Node, since time.Time) ([]dbEntry, error) {
	es, err := n.JournalJSON(ctx, "heartbeat.service")
	if err != nil {
		return nil, err
	}
	var out []dbEntry
	for _, e := range es {
		us, _ := e["__REALTIME_TIMESTAMP"].(string)
		v, err := strconv.ParseInt(us, 10, 64)
		if err != nil {
			continue
		}
		msg, _ := e["MESSAGE"].(string)
		at := time.UnixMicro(v)
		if !at.Before(since) {
			out = append(out, dbEntry{At: at, Msg: msg})
		}
	}
	return out, nil
}

// dbFind returns the entries containing every substring.
func dbFind(es []dbEntry, subs ...string) []dbEntry {
	var out []dbEntry
next:
	for _, e := range es {
		for _, s := range subs {
			if !strings.Contains(e.Msg, s) {
				continue next
			}
		}
		out = append(out, e)
	}
	return out
}

func dbEntries(es []dbEntry) string {
	var b strings.Builder
	for _, e := range es {
		fmt.Fprintf(&b, "  %s %s\n", e.At.Format("15:04:05.000000"), e.Msg)
	}
	return b.String()
}

// dbLabel escapes one object path element as systemd's bus_label_escape:
// letters and digits stay, any other byte is "_" and two hex digits.
func dbLabel(s string) string {
	if s == "" {
		return "_"
	}
	var b strings.Builder
	for _, c := range []byte(s) {
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "_%02x", c)
		}
	}
	return b.String()
}

func dbNodePath(name string) string { return dbRootPath + "/node/" + dbLabel(name) }
func dbGroupPath(key string) string { return dbRootPath + "/group/" + dbLabel(key) }

// dbIface is one interface of the documented introspection XML.
type dbIface struct {
	Name    string `xml:"name,attr"`
	Methods []struct {
		Name string `xml:"name,attr"`
		Args []struct {
			Type      string `xml:"type,attr"`
			Direction string `xml:"direction,attr"`
		} `xml:"arg"`
	} `xml:"method"`
	Properties []struct {
		Name string `xml:"name,attr"`
		Type string `xml:"type,attr"`
	} `xml:"property"`
	Signals []struct {
		Name string `xml:"name,attr"`
	} `xml:"signal"`
}

// dbDocumented reads the interfaces of dbus/org.linuxha.Heartbeat1.xml.
func dbDocumented(t *testing.T, lab *Lab) map[string]dbIface {
	t.Helper()
	repo, err := lab.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(repo, "dbus", "org.linuxha.Heartbeat1.xml"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Interfaces []dbIface `xml:"interface"`
	}
	dec := xml.NewDecoder(bytes.NewReader(data))
	dec.Strict = false // the DOCTYPE names an external DTD
	if err := dec.Decode(&doc); err != nil {
		t.Fatalf("org.linuxha.Heartbeat1.xml: %v", err)
	}
	out := map[string]dbIface{}
	for _, i := range doc.Interfaces {
		out[i.Name] = i
	}
	for _, want := range []string{dbManager, dbNodeIf, dbGroupIf} {
		if len(out[want].Properties) == 0 {
			t.Fatalf("org.linuxha.Heartbeat1.xml documents no properties of %s", want)
		}
	}
	return out
}

// dbSig is the signature of a method's arguments in one direction.
func dbSig(args []struct {
	Type      string `xml:"type,attr"`
	Direction string `xml:"direction,attr"`
}, dir string) string {
	var s string
	for _, a := range args {
		d := a.Direction
		if d == "" {
			d = "in"
		}
		if d == dir {
			s += a.Type
		}
	}
	if s == "" {
		return "-"
	}
	return s
}

// dbIntrospected parses "busctl introspect" output into interface ->
// member -> [type, signature, result].
func dbIntrospected(out string) map[string]map[string][3]string {
	res := map[string]map[string][3]string{}
	cur := ""
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) < 4 || f[0] == "NAME" {
			continue
		}
		if f[1] == "interface" {
			cur = f[0]
			res[cur] = map[string][3]string{}
			continue
		}
		if cur != "" && strings.HasPrefix(f[0], ".") {
			res[cur][strings.TrimPrefix(f[0], ".")] = [3]string{f[1], f[2], f[3]}
		}
	}
	return res
}

// checkIntrospection compares busctl introspect of path in n with the
// documented interface iface: every method with its signatures, every
// property with its type, every signal.
func checkIntrospection(t *testing.T, ctx context.Context, n *Node, path string, doc dbIface, prefix ...string) string {
	t.Helper()
	args := append(append([]string{}, prefix...), "busctl", "introspect", "--no-pager", dbBusName, path)
	r, err := dbExec(ctx, n, args...)
	if err != nil {
		t.Fatal(err)
	}
	if r.Code != 0 {
		t.Fatalf("%s: %s: %v", n.Hostname, strings.Join(args, " "), r)
	}
	got := dbIntrospected(r.Stdout)[doc.Name]
	if got == nil {
		t.Fatalf("%s: busctl introspect %s lists no interface %s:\n%s", n.Hostname, path, doc.Name, r.Stdout)
	}
	for _, m := range doc.Methods {
		want := [3]string{"method", dbSig(m.Args, "in"), dbSig(m.Args, "out")}
		if g := got[m.Name]; g != want {
			t.Errorf("%s %s: method %s is %v, documented %v", path, doc.Name, m.Name, g, want)
		}
	}
	for _, p := range doc.Properties {
		if g := got[p.Name]; g[0] != "property" || g[1] != p.Type {
			t.Errorf("%s %s: property %s is %v, documented type %s", path, doc.Name, p.Name, g, p.Type)
		}
	}
	for _, s := range doc.Signals {
		if g := got[s.Name]; g[0] != "signal" {
			t.Errorf("%s %s: signal %s is %v", path, doc.Name, s.Name, g)
		}
	}
	return r.Stdout
}

// dbGetProperty is busctl get-property of one property in n ("s \"node1\"").
func dbGetProperty(ctx context.Context, n *Node, path, iface, prop string, prefix ...string) (dbResult, error) {
	args := append(append([]string{}, prefix...), "busctl", "get-property", dbBusName, path, iface, prop)
	return dbExec(ctx, n, args...)
}

// dbLine is one line of a background command's output with the time it
// was read.
type dbLine struct {
	At   time.Time
	Text string
}

// dbLineLog collects the lines of a background command as they arrive.
type dbLineLog struct {
	mu      sync.Mutex
	partial []byte
	lines   []dbLine
}

func (l *dbLineLog) Write(p []byte) (int, error) {
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.partial = append(l.partial, p...)
	for {
		i := bytes.IndexByte(l.partial, '\n')
		if i < 0 {
			break
		}
		l.lines = append(l.lines, dbLine{At: now, Text: string(l.partial[:i])})
		l.partial = l.partial[i+1:]
	}
	return len(p), nil
}

// Lines returns the complete lines so far.
func (l *dbLineLog) Lines() []dbLine {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]dbLine(nil), l.lines...)
}

func (l *dbLineLog) String() string {
	var b strings.Builder
	for _, x := range l.Lines() {
		fmt.Fprintf(&b, "  %s %s\n", x.At.Format("15:04:05.000"), x.Text)
	}
	return b.String()
}
