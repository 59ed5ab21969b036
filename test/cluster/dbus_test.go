//go:build clustertest

package cluster

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// The tests of the D-Bus API (org.linuxha.Heartbeat1) and of the command
// line tools (hbctl, cl_status, hb_standby, hb_takeover) on a running
// two-node cluster: node1 and node2 over ucast (keepalive 100ms, deadtime
// 1s), one VIP group preferred on node1. See dbus_helpers_test.go and, for
// cl_status, dbus_clstatus_test.go.

// TestDBusBusctl drives the API with busctl: the objects and members are
// the documented ones, properties read back the cluster, and Standby /
// Takeover calls move the group.
func TestDBusBusctl(t *testing.T) {
	start := time.Now()
	d := newDBLab(t)
	ctx := t.Context()
	n1, n2 := d.Node(1), d.Node(2)
	doc := dbDocumented(t, d.Lab)

	// Every documented member of each interface, with its signatures.
	out := checkIntrospection(t, ctx, n1, dbRootPath, doc[dbManager])
	checkIntrospection(t, ctx, n1, dbRootPath, doc["org.freedesktop.DBus.ObjectManager"])
	checkIntrospection(t, ctx, n1, dbNodePath("node2"), doc[dbNodeIf])
	checkIntrospection(t, ctx, n1, dbGroupPath(d.Key), doc[dbGroupIf])
	if got := dbIntrospected(out)[dbManager]["LocalNode"]; got[2] != `"node1"` {
		t.Errorf("busctl introspect shows LocalNode %v, want \"node1\"", got)
	}

	// Properties of each kind of object.
	for _, c := range []struct {
		n                *Node
		path, iface, key string
		want             string
	}{
		{n1, dbRootPath, dbManager, "LocalNode", `s "node1"`},
		{n2, dbRootPath, dbManager, "LocalNode", `s "node2"`},
		{n1, dbRootPath, dbManager, "NodeState", "u 3"},
		{n1, dbRootPath, dbManager, "KeepaliveUSec", "t 100000"},
		{n1, dbRootPath, dbManager, "DeadtimeUSec", "t 1000000"},
		{n1, dbRootPath, dbManager, "AutoFailback", `s "on"`},
		{n1, dbRootPath, dbManager, "Nodes", fmt.Sprintf(`ao 2 "%s" "%s"`, dbNodePath("node1"), dbNodePath("node2"))},
		{n1, dbRootPath, dbManager, "Groups", fmt.Sprintf(`ao 1 "%s"`, dbGroupPath(d.Key))},
		{n1, dbNodePath("node2"), dbNodeIf, "Status", "u 3"},
		{n1, dbNodePath("node2"), dbNodeIf, "StatusText", `s "active"`},
		{n1, dbNodePath("node2"), dbNodeIf, "Links", `a(su) 1 "eth0" 1`},
		{n1, dbNodePath("node2"), dbNodeIf, "Local", "b false"},
		{n1, dbNodePath("node1"), dbNodeIf, "Local", "b true"},
		{n1, dbNodePath("node2"), dbNodeIf, "Type", `s "normal"`},
		{n1, dbGroupPath(d.Key), dbGroupIf, "Key", fmt.Sprintf("s %q", d.Key)},
		{n1, dbGroupPath(d.Key), dbGroupIf, "PreferredNode", `s "node1"`},
		{n1, dbGroupPath(d.Key), dbGroupIf, "Owner", `s "node1"`},
		{n1, dbGroupPath(d.Key), dbGroupIf, "StateText", `s "running"`},
		{n1, dbGroupPath(d.Key), dbGroupIf, "State", "u 3"},
		{n2, dbGroupPath(d.Key), dbGroupIf, "Owner", `s "node1"`},
		{n2, dbGroupPath(d.Key), dbGroupIf, "StateText", `s "stopped"`},
		{n1, dbGroupPath(d.Key), dbGroupIf, "Resources", fmt.Sprintf("as 1 %q", d.Key)},
	} {
		r, err := dbGetProperty(ctx, c.n, c.path, c.iface, c.key)
		if err != nil {
			t.Fatal(err)
		}
		if r.Code != 0 || strings.TrimSpace(r.Stdout) != c.want {
			t.Errorf("%s: busctl get-property %s %s %s: %v; want %q", c.n.Hostname, c.path, c.iface, c.key, r, c.want)
		}
	}
	// The generations: each node's Manager Generation is what the peer's
	// node object says of it.
	for _, pair := range [][2]*Node{{n1, n2}, {n2, n1}} {
		own, err := dbGetProperty(ctx, pair[0], dbRootPath, dbManager, "Generation")
		if err != nil {
			t.Fatal(err)
		}
		seen, err := dbGetProperty(ctx, pair[1], dbNodePath(pair[0].Hostname), dbNodeIf, "Generation")
		if err != nil {
			t.Fatal(err)
		}
		if own.Code != 0 || seen.Code != 0 || own.Stdout != seen.Stdout || strings.TrimSpace(own.Stdout) == "t 0" {
			t.Errorf("generation of %s: its own %q, %s's view %q", pair[0].Hostname, own.Stdout, pair[1].Hostname, seen.Stdout)
		}
	}

	// busctl tree: the manager, both nodes and the group, nothing else below.
	r, err := dbExec(ctx, n1, "busctl", "tree", "--list", dbBusName)
	if err != nil {
		t.Fatal(err)
	}
	paths := strings.Fields(r.Stdout)
	want := []string{dbRootPath, dbNodePath("node1"), dbNodePath("node2"), dbGroupPath(d.Key)}
	for _, p := range want {
		if !slices.Contains(paths, p) {
			t.Errorf("busctl tree %s: no %s in %q", dbBusName, p, paths)
		}
	}
	for _, p := range paths {
		leaf := strings.HasPrefix(p, dbRootPath+"/node/") || strings.HasPrefix(p, dbRootPath+"/group/")
		if leaf && !slices.Contains(want, p) {
			t.Errorf("busctl tree %s: unexpected object %s", dbBusName, p)
		}
	}

	// A bad selection is refused with the documented error; nothing moves.
	r, err = dbExec(ctx, n1, "gdbus", "call", "--system", "--dest", dbBusName, "--object-path", dbRootPath,
		"--method", dbManager+".Standby", "everything")
	if err != nil {
		t.Fatal(err)
	}
	if r.Code == 0 || !strings.Contains(r.Stderr, "org.linuxha.Heartbeat1.Error.InvalidArgument") {
		t.Errorf("Standby(\"everything\"): %v; want org.linuxha.Heartbeat1.Error.InvalidArgument", r)
	}
	// GetParameter answers what cl_status hbparameter prints.
	r, err = dbExec(ctx, n1, "busctl", "call", dbBusName, dbRootPath, dbManager, "GetParameter", "s", "keepalive")
	if err != nil {
		t.Fatal(err)
	}
	if r.Code != 0 || strings.TrimSpace(r.Stdout) != `s "100ms"` {
		t.Errorf("GetParameter keepalive: %v; want s \"100ms\"", r)
	}

	// Standby over the bus moves the group to node2, and `hbctl watch`
	// on node2 prints the move as it is committed.
	watch, err := n2.Command(ctx, "timeout", "-s", "INT", "4", "hbctl", "watch", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var watchOut bytes.Buffer
	watch.Stdout = &watchOut
	if err := watch.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond) // subscribed
	r, err = dbExec(ctx, n1, "busctl", "call", dbBusName, dbRootPath, dbManager, "Standby", "s", "all")
	if err != nil {
		t.Fatal(err)
	}
	if r.Code != 0 {
		t.Fatalf("busctl call Standby s all: %v", r)
	}
	took, err := d.waitOwner(ctx, "node2", dbMoveWithin)
	_ = watch.Wait()
	if w := watchOut.String(); !strings.Contains(w, `"Owner":"node2"`) || !strings.Contains(w, "/group/") {
		t.Errorf("hbctl watch --json on node2 did not show the group's new owner:\n%s", w)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("busctl call Standby s all: node2 holds the group after %v", took.Round(time.Millisecond))
	checkGroupsTable(t, ctx, n1, d.Key, "node2", "stopped (standby)")
	checkGroupsTable(t, ctx, n2, d.Key, "node2", "running")
	for _, n := range []*Node{n1, n2} {
		if r, err := dbGetProperty(ctx, n, dbGroupPath(d.Key), dbGroupIf, "Owner"); err != nil || strings.TrimSpace(r.Stdout) != `s "node2"` {
			t.Errorf("%s: Owner after standby: %v %v", n.Hostname, r, err)
		}
	}
	if r, err := dbGetProperty(ctx, n1, dbRootPath, dbManager, "ResourceState"); err != nil || strings.TrimSpace(r.Stdout) != `s "none"` {
		t.Errorf("node1: ResourceState after standby: %v %v; want none", r, err)
	}

	// Takeover over the bus brings it back.
	r, err = dbExec(ctx, n1, "busctl", "call", dbBusName, dbRootPath, dbManager, "Takeover", "s", "all")
	if err != nil {
		t.Fatal(err)
	}
	if r.Code != 0 {
		t.Fatalf("busctl call Takeover s all: %v", r)
	}
	took, err = d.waitOwner(ctx, "node1", dbMoveWithin)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("busctl call Takeover s all: node1 holds the group again after %v", took.Round(time.Millisecond))
	es, err := dbJournal(ctx, n1, start)
	if err != nil {
		t.Fatal(err)
	}
	if len(dbFind(es, "standby requested over d-bus")) != 1 || len(dbFind(es, "takeover requested over d-bus")) != 1 {
		t.Errorf("node1 journal: want one standby and one takeover request over d-bus:\n%s", dbEntries(dbFind(es, "requested")))
	}

	// And standby again: node2 is alive and may take the group once more.
	r, err = dbExec(ctx, n1, "busctl", "call", dbBusName, dbRootPath, dbManager, "Standby", "s", "all")
	if err != nil {
		t.Fatal(err)
	}
	if r.Code != 0 {
		g2, _ := dbExec(ctx, n2, "hbctl", "groups")
		t.Fatalf("busctl call Standby s all after Standby + Takeover: %v\nnode2's hbctl groups:\n%s", r, g2.Stdout)
	}
	if _, err := d.waitOwner(ctx, "node2", dbMoveWithin); err != nil {
		t.Fatal(err)
	}
	t.Logf("runtime %v", time.Since(start).Round(time.Millisecond))
}

// checkGroupsTable checks the row of the group in "hbctl groups".
func checkGroupsTable(t *testing.T, ctx context.Context, n *Node, key, owner, state string) {
	t.Helper()
	r, err := dbExec(ctx, n, "hbctl", "groups")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimRight(r.Stdout, "\n"), "\n")
	if r.Code != 0 || len(lines) != 2 || !slices.Equal(strings.Fields(lines[0]), []string{"GROUP", "PREFERRED", "OWNER", "LOCAL", "STATE", "RESOURCES"}) {
		t.Fatalf("%s: hbctl groups: %v", n.Hostname, r)
	}
	want := append(append([]string{key, "node1", owner}, strings.Fields(state)...), key)
	if got := strings.Fields(lines[1]); !slices.Equal(got, want) {
		t.Errorf("%s: hbctl groups row %q, want fields %q", n.Hostname, lines[1], want)
	}
}

// TestDBusPropertiesChanged watches the bus as nobody with gdbus monitor
// while node2 loses power: node1 announces node2 dead with one
// PropertiesChanged of node2's object, after it committed the change.
func TestDBusPropertiesChanged(t *testing.T) {
	start := time.Now()
	d := newDBLab(t)
	ctx := t.Context()
	n1, n2 := d.Node(1), d.Node(2)

	mctx, stop := context.WithCancel(ctx)
	defer stop()
	args := append(append([]string{}, dbNobody...), "stdbuf", "-oL", "gdbus", "monitor", "--system", "--dest", dbBusName)
	cmd, err := n1.Command(mctx, args...)
	if err != nil {
		t.Fatal(err)
	}
	var out, errOut dbLineLog
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	defer func() {
		stop()
		<-done
	}()
	if _, err := dbEventually(ctx, 10*time.Second, "gdbus monitor ready", func() (bool, string) {
		for _, l := range out.Lines() {
			if strings.Contains(l.Text, "is owned by") {
				return true, ""
			}
		}
		return false, "stdout:\n" + out.String() + "stderr:\n" + errOut.String()
	}); err != nil {
		t.Fatal(err)
	}

	prefix := dbNodePath("node2") + ": org.freedesktop.DBus.Properties.PropertiesChanged ('" + dbNodeIf + "',"
	isDead := func(l dbLine) bool {
		return strings.HasPrefix(l.Text, prefix) && strings.Contains(l.Text, "'Status': <uint32 4>") &&
			strings.Contains(l.Text, "'StatusText': <'dead'>")
	}
	fault := time.Now()
	if err := n2.PowerOff(); err != nil {
		t.Fatal(err)
	}
	var sig dbLine
	if _, err := dbEventually(ctx, dbDeadtime+5*time.Second, "PropertiesChanged of node2 dead", func() (bool, string) {
		for _, l := range out.Lines() {
			if isDead(l) {
				sig = l
				return true, ""
			}
		}
		return false, "gdbus monitor output:\n" + out.String()
	}); err != nil {
		t.Fatal(err)
	}
	after := sig.At.Sub(fault)
	t.Logf("PropertiesChanged of node2 dead %v after the power cut: %s", after.Round(time.Millisecond), sig.Text)
	if after < dbDeadtime/2 {
		t.Errorf("node2 announced dead %v after the power cut, before the deadtime (%v) could pass", after, dbDeadtime)
	}
	// The engine committed the death before the signal went out.
	es, err := dbJournal(ctx, n1, fault)
	if err != nil {
		t.Fatal(err)
	}
	died := dbFind(es, "node status changed", "node=node2", "state=dead")
	if len(died) != 1 {
		t.Fatalf("node1 journal: want one 'node status changed node=node2 state=dead', got:\n%s", dbEntries(es))
	}
	if sig.At.Before(died[0].At) {
		t.Errorf("the signal was read at %s, before the engine logged the death at %s",
			sig.At.Format("15:04:05.000000"), died[0].At.Format("15:04:05.000000"))
	}
	// The link goes dead too; every change is sent once.
	time.Sleep(dbDeadtime)
	var deadSigs, linkDead int
	for _, l := range out.Lines() {
		if isDead(l) {
			deadSigs++
		}
		if strings.HasPrefix(l.Text, prefix) && strings.Contains(l.Text, "'Links': <[('eth0', uint32 2)]>") {
			linkDead++
		}
	}
	if deadSigs != 1 || linkDead != 1 {
		t.Errorf("node2 dead announced %d times, its link dead %d times; want 1 and 1:\n%s", deadSigs, linkDead, out.String())
	}
	if r, err := dbGetProperty(ctx, n1, dbNodePath("node2"), dbNodeIf, "Status"); err != nil || strings.TrimSpace(r.Stdout) != "u 4" {
		t.Errorf("node2 Status after the signal: %v %v; want u 4", r, err)
	}
	t.Logf("runtime %v", time.Since(start).Round(time.Millisecond))
}

// TestDBusPolicy checks the bus policy: nobody may read but not act,
// members of haclient and root may act.
func TestDBusPolicy(t *testing.T) {
	start := time.Now()
	d := newDBLab(t)
	ctx := t.Context()
	n1 := d.Node(1)
	doc := dbDocumented(t, d.Lab)
	as := func(user []string, args ...string) dbResult {
		t.Helper()
		r, err := dbExec(ctx, n1, append(append([]string{}, user...), args...)...)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	if r := as(dbNobody, "id", "-u"); strings.TrimSpace(r.Stdout) != "65534" {
		t.Fatalf("setpriv as nobody: id -u %v", r)
	}

	// Reading is open to everybody.
	checkIntrospection(t, ctx, n1, dbRootPath, doc[dbManager], dbNobody...)
	if r, err := dbGetProperty(ctx, n1, dbRootPath, dbManager, "LocalNode", dbNobody...); err != nil || r.Code != 0 || strings.TrimSpace(r.Stdout) != `s "node1"` {
		t.Errorf("nobody: get-property LocalNode: %v %v", r, err)
	}
	// GetParameter is open too: nobody gets root's answer, not AccessDenied
	// (its value is checked in TestDBusBusctl).
	getParam := []string{"gdbus", "call", "--system", "--dest", dbBusName, "--object-path", dbRootPath, "--method", dbManager + ".GetParameter", "deadtime"}
	if r, root := as(dbNobody, getParam...), as(nil, getParam...); r != root || strings.Contains(r.Stderr, "AccessDenied") {
		t.Errorf("nobody: GetParameter deadtime: %v; root: %v", r, root)
	}
	if r := as(dbNobody, "busctl", "call", dbBusName, dbRootPath, "org.freedesktop.DBus.ObjectManager", "GetManagedObjects"); r.Code != 0 || !strings.Contains(r.Stdout, dbNodePath("node2")) {
		t.Errorf("nobody: GetManagedObjects: %v", r)
	}
	if r := as(dbNobody, "hbctl", "status", "--json"); r.Code != 0 || !strings.Contains(r.Stdout, `"source": "dbus"`) {
		t.Errorf("nobody: hbctl status --json: %v", r)
	}

	// Acting is not: the bus refuses Standby, Takeover and Reload.
	standbyBefore := time.Now()
	r := as(dbNobody, "busctl", "call", dbBusName, dbRootPath, dbManager, "Standby", "s", "all")
	if r.Code == 0 || !strings.Contains(r.Stderr, "Access denied") && !strings.Contains(r.Stderr, "Rejected send message") {
		t.Errorf("nobody: busctl call Standby s all: %v; want access denied", r)
	}
	for _, m := range [][]string{{"Standby", "all"}, {"Takeover", "all"}, {"Reload"}} {
		args := []string{"gdbus", "call", "--system", "--dest", dbBusName, "--object-path", dbRootPath, "--method", dbManager + "." + m[0]}
		r := as(dbNobody, append(args, m[1:]...)...)
		if r.Code == 0 || !strings.Contains(r.Stderr, "org.freedesktop.DBus.Error.AccessDenied") {
			t.Errorf("nobody: gdbus call %s: %v; want org.freedesktop.DBus.Error.AccessDenied", m[0], r)
		}
	}
	for _, c := range [][]string{{"standby"}, {"takeover"}, {"reload"}} {
		r := as(dbNobody, append([]string{"hbctl"}, c...)...)
		if r.Code != 4 || !strings.Contains(r.Stderr, "access denied") {
			t.Errorf("nobody: hbctl %s: %v; want exit 4 (access denied)", c[0], r)
		}
	}
	if r := as(dbNobody, "/usr/share/heartbeat/hb_standby"); r.Code == 0 {
		t.Errorf("nobody: hb_standby succeeded: %v", r)
	}
	// Nothing moved and the daemon never saw the requests.
	time.Sleep(time.Second)
	if ok, why := d.ownerView(ctx, "node1"); !ok {
		t.Errorf("after refused requests: %s", why)
	}
	es, err := dbJournal(ctx, n1, standbyBefore)
	if err != nil {
		t.Fatal(err)
	}
	if got := dbFind(es, "requested over d-bus"); len(got) > 0 {
		t.Errorf("refused requests reached the daemon:\n%s", dbEntries(got))
	}

	// root may act: the group goes to node2.
	if r := as(nil, "hbctl", "standby"); r.Code != 0 {
		t.Fatalf("root: hbctl standby: %v", r)
	}
	took, err := d.waitOwner(ctx, "node2", dbMoveWithin)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("root: hbctl standby: node2 holds the group after %v", took.Round(time.Millisecond))

	// A member of haclient may act: it takes the group back and reloads.
	if _, err := n1.Run(ctx, "getent", "group", "haclient"); err != nil {
		if _, err := n1.Run(ctx, "groupadd", "--system", "haclient"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := n1.Run(ctx, "useradd", "--no-create-home", "--user-group", "--groups", "haclient", "--shell", "/usr/sbin/nologin", "hbop"); err != nil {
		t.Fatal(err)
	}
	hbop := []string{"setpriv", "--reuid=hbop", "--regid=hbop", "--init-groups"}
	if r := as(hbop, "id", "-Gn"); !slices.Contains(strings.Fields(r.Stdout), "haclient") {
		t.Fatalf("hbop's groups: %v", r)
	}
	if r := as(hbop, "busctl", "call", dbBusName, dbRootPath, dbManager, "Takeover", "s", "all"); r.Code != 0 {
		t.Fatalf("haclient member: busctl call Takeover s all: %v", r)
	}
	took, err = d.waitOwner(ctx, "node1", dbMoveWithin)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("takeover by a member of haclient: node1 holds the group after %v", took.Round(time.Millisecond))
	reloadAt := time.Now()
	if r := as(hbop, "hbctl", "reload"); r.Code != 0 {
		t.Errorf("haclient member: hbctl reload: %v", r)
	}
	if es, err := dbJournal(ctx, n1, reloadAt); err != nil || len(dbFind(es, "reload requested over d-bus")) != 1 {
		t.Errorf("node1 journal after hbop's reload (%v):\n%s", err, dbEntries(es))
	}
	// The user not in haclient is still refused after all that.
	if r := as(dbNobody, "hbctl", "takeover"); r.Code != 4 {
		t.Errorf("nobody: hbctl takeover: %v; want exit 4", r)
	}
	t.Logf("runtime %v", time.Since(start).Round(time.Millisecond))
}

// TestHbctlStatus checks hbctl status, nodes and groups (text and JSON)
// against the cluster, and exit code 3 once the daemon is stopped.
func TestHbctlStatus(t *testing.T) {
	start := time.Now()
	d := newDBLab(t)
	ctx := t.Context()
	n1, n2 := d.Node(1), d.Node(2)

	st := map[string]*dbStatus{}
	for _, n := range d.Nodes() {
		s, err := dbHbctlStatus(ctx, n)
		if err != nil {
			t.Fatal(err)
		}
		st[n.Hostname] = s
	}
	for _, n := range d.Nodes() {
		s, peer := st[n.Hostname], map[string]string{"node1": "node2", "node2": "node1"}[n.Hostname]
		if s.Node != n.Hostname || s.State != "active" || s.Source != "dbus" || s.Generation == 0 {
			t.Errorf("%s: hbctl status --json: node %q state %q source %q generation %d", n.Hostname, s.Node, s.State, s.Source, s.Generation)
		}
		if s.Keepalive != "100ms" || s.Deadtime != "1s" {
			t.Errorf("%s: timers keepalive %q deadtime %q; want 100ms, 1s", n.Hostname, s.Keepalive, s.Deadtime)
		}
		if len(s.Nodes) != 2 {
			t.Fatalf("%s: %d nodes: %s", n.Hostname, len(s.Nodes), s.summary())
		}
		for _, nd := range s.Nodes {
			switch nd.Name {
			case n.Hostname:
				if !nd.Local || nd.Status != "active" || nd.Generation != s.Generation {
					t.Errorf("%s: own entry local=%v status=%q generation=%d (manager %d)", n.Hostname, nd.Local, nd.Status, nd.Generation, s.Generation)
				}
			case peer:
				ps := st[peer]
				if nd.Local || nd.Status != "active" || nd.Type != "normal" {
					t.Errorf("%s: %s local=%v status=%q type=%q", n.Hostname, peer, nd.Local, nd.Status, nd.Type)
				}
				if nd.Generation != ps.Generation {
					t.Errorf("%s sees %s at generation %d; %s says %d", n.Hostname, peer, nd.Generation, peer, ps.Generation)
				}
				if len(nd.Links) != 1 || nd.Links[0].Name != "eth0" || nd.Links[0].Status != "up" {
					t.Errorf("%s: links to %s: %+v; want eth0 up", n.Hostname, peer, nd.Links)
				}
				if age := time.Since(nd.LastHeard); age < 0 || age > 5*time.Second {
					t.Errorf("%s: %s last heard %v ago (%v)", n.Hostname, peer, age, nd.LastHeard)
				}
			default:
				t.Errorf("%s: unknown node %q", n.Hostname, nd.Name)
			}
		}
		g, ok := s.group(d.Key)
		want := map[string]string{"node1": "running", "node2": "stopped"}[n.Hostname]
		if !ok || len(s.Groups) != 1 || g.Preferred != "node1" || g.Owner != "node1" || g.State != want || g.Standby || g.Failed ||
			!slices.Equal(g.Resources, []string{d.Key}) {
			t.Errorf("%s: groups %+v; want %s preferred and owned by node1, %s here", n.Hostname, s.Groups, d.Key, want)
		}
		// As 3.0.6 (cl_status rscstatus): each node holds its local
		// category; node2's is empty, node1's foreign one is node2's.
		wantRsc := map[string]string{"node1": "local", "node2": "local"}[n.Hostname]
		if s.ResourceState != wantRsc {
			t.Errorf("%s: resource_state %q, want %q", n.Hostname, s.ResourceState, wantRsc)
		}
	}

	// The text overview.
	r, err := dbExec(ctx, n1, "hbctl", "status")
	if err != nil {
		t.Fatal(err)
	}
	s1 := st["node1"]
	lines := strings.Split(r.Stdout, "\n")
	head := fmt.Sprintf("node node1: active (generation %d, heartbeat %s)", s1.Generation, s1.Version)
	if r.Code != 0 || lines[0] != head {
		t.Errorf("hbctl status: first line %q, want %q (%v)", lines[0], head, r)
	}
	if !slices.Contains(lines, "resources held: local") {
		t.Errorf("hbctl status: no 'resources held: local':\n%s", r.Stdout)
	}
	if !slices.ContainsFunc(lines, func(l string) bool { return strings.HasPrefix(l, "timers: keepalive 100ms, deadtime 1s") }) {
		t.Errorf("hbctl status: no timers line:\n%s", r.Stdout)
	}
	checkNodeRows(t, "hbctl status", r.Stdout)
	if !slices.ContainsFunc(lines, func(l string) bool {
		return slices.Equal(strings.Fields(l), []string{d.Key, "node1", "node1", "running", d.Key})
	}) {
		t.Errorf("hbctl status: no row for the group:\n%s", r.Stdout)
	}

	// hbctl nodes and groups.
	r, err = dbExec(ctx, n1, "hbctl", "nodes")
	if err != nil {
		t.Fatal(err)
	}
	if nl := strings.Split(strings.TrimRight(r.Stdout, "\n"), "\n"); r.Code != 0 || len(nl) != 3 ||
		!slices.Equal(strings.Fields(nl[0]), []string{"NODE", "TYPE", "STATUS", "LINKS", "LAST", "HEARD"}) {
		t.Errorf("hbctl nodes: %v", r)
	}
	checkNodeRows(t, "hbctl nodes", r.Stdout)
	checkGroupsTable(t, ctx, n1, d.Key, "node1", "running")
	checkGroupsTable(t, ctx, n2, d.Key, "node1", "stopped")
	r, err = dbExec(ctx, n2, "hbctl", "nodes", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var nodes struct {
		Nodes []struct{ Name, Status string } `json:"nodes"`
	}
	if err := json.Unmarshal([]byte(r.Stdout), &nodes); err != nil || r.Code != 0 || len(nodes.Nodes) != 2 {
		t.Errorf("node2: hbctl nodes --json: %v (%v)", r, err)
	}
	for _, nd := range nodes.Nodes {
		if nd.Status != "active" {
			t.Errorf("node2: hbctl nodes --json: %s is %q", nd.Name, nd.Status)
		}
	}
	r, err = dbExec(ctx, n2, "hbctl", "groups", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var groups struct {
		Groups []dbGroup `json:"groups"`
	}
	if err := json.Unmarshal([]byte(r.Stdout), &groups); err != nil || r.Code != 0 || len(groups.Groups) != 1 ||
		groups.Groups[0].Key != d.Key || groups.Groups[0].Owner != "node1" {
		t.Errorf("node2: hbctl groups --json: %v (%v)", r, err)
	}

	// A stopped daemon is exit code 3, for every read command.
	if _, err := n1.Run(ctx, "systemctl", "stop", "heartbeat.service"); err != nil {
		t.Fatal(err)
	}
	for _, c := range [][]string{{"status"}, {"status", "--json"}, {"nodes"}, {"groups"}, {"standby"}} {
		r, err := dbExec(ctx, n1, append([]string{"hbctl"}, c...)...)
		if err != nil {
			t.Fatal(err)
		}
		if r.Code != 3 || !strings.Contains(r.Stderr, "not running") {
			t.Errorf("hbctl %s with the daemon stopped: %v; want exit 3, 'not running'", strings.Join(c, " "), r)
		}
	}
	// node2 took the group over and says so.
	if _, err := dbEventually(ctx, 10*time.Second, "node2 holds the group", func() (bool, string) {
		s, err := dbHbctlStatus(ctx, n2)
		if err != nil {
			return false, err.Error()
		}
		g, _ := s.group(d.Key)
		return g.Owner == "node2" && g.State == "running" && s.nodeStatus("node1") == "dead", s.summary()
	}); err != nil {
		t.Error(err)
	}
	t.Logf("runtime %v", time.Since(start).Round(time.Millisecond))
}

// checkNodeRows checks the node rows of an hbctl nodes table in out, as
// seen from node1.
func checkNodeRows(t *testing.T, what, out string) {
	t.Helper()
	var own, peer bool
	for _, l := range strings.Split(out, "\n") {
		f := strings.Fields(l)
		switch {
		case len(f) >= 5 && f[0] == "node1" && f[1] == "(local)":
			own = f[2] == "normal" && f[3] == "active"
		case len(f) >= 6 && f[0] == "node2":
			peer = f[1] == "normal" && f[2] == "active" && f[3] == "eth0" && f[4] == "up" && f[5] != "-"
		}
	}
	if !own || !peer {
		t.Errorf("%s: want rows 'node1 (local) normal active' and 'node2 normal active eth0 up <time>':\n%s", what, out)
	}
}

// TestDBusRestart restarts the system bus in node1: its daemon goes on
// heartbeating (node2 never sees it dead) and is back on the bus within
// seconds. With the bus stopped, hbctl falls back to the control socket.
func TestDBusRestart(t *testing.T) {
	start := time.Now()
	d := newDBLab(t)
	ctx := t.Context()
	n1, n2 := d.Node(1), d.Node(2)
	pid0, err := n1.Run(ctx, "systemctl", "show", "-p", "MainPID", "--value", "heartbeat.service")
	if err != nil {
		t.Fatal(err)
	}
	onBus := func() (bool, string) {
		r, err := dbGetProperty(ctx, n1, dbRootPath, dbManager, "LocalNode")
		if err != nil {
			return false, err.Error()
		}
		return r.Code == 0 && strings.TrimSpace(r.Stdout) == `s "node1"`, r.String()
	}

	t0 := time.Now()
	if _, err := n1.Run(ctx, "systemctl", "restart", "dbus.service"); err != nil {
		t.Fatal(err)
	}
	back, err := dbEventually(ctx, 5*time.Second, "node1's daemon back on the bus", onBus)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("node1's daemon back on the bus %v after systemctl restart dbus returned (%v after it was issued)",
		back.Round(time.Millisecond), time.Since(t0).Round(time.Millisecond))
	if r, err := dbExec(ctx, n1, "busctl", "status", dbBusName); err != nil || r.Code != 0 {
		t.Errorf("busctl status %s: %v %v", dbBusName, r, err)
	}
	if r, err := dbGetProperty(ctx, n1, dbNodePath("node2"), dbNodeIf, "StatusText"); err != nil || strings.TrimSpace(r.Stdout) != `s "active"` {
		t.Errorf("node2 StatusText after the bus restart: %v %v", r, err)
	}
	if _, err := dbEventually(ctx, 5*time.Second, "journal: re-registered", func() (bool, string) {
		es, err := dbJournal(ctx, n1, t0)
		if err != nil {
			return false, err.Error()
		}
		lost, on := dbFind(es, "d-bus api unavailable"), dbFind(es, "on the system bus")
		return len(lost) > 0 && len(on) > 0 && on[len(on)-1].At.After(lost[0].At), dbEntries(es)
	}); err != nil {
		t.Error(err)
	}

	// Stopped bus: hbctl reads the daemon over its control socket.
	t1 := time.Now()
	if _, err := n1.Run(ctx, "systemctl", "stop", "dbus.socket", "dbus.service"); err != nil {
		t.Fatal(err)
	}
	s, err := dbHbctlStatus(ctx, n1)
	if err != nil {
		t.Error(err)
	} else if s.Source != "control" || s.nodeStatus("node2") != "active" || s.State != "active" {
		t.Errorf("hbctl status --json with the bus stopped: %s; want source control, node2 active", s.summary())
	}
	if r, err := dbExec(ctx, n1, "cl_status", "hbstatus"); err == nil {
		t.Logf("cl_status hbstatus with the bus stopped (no control-socket fallback): %v", r)
	}
	time.Sleep(2 * dbDeadtime)
	if _, err := n1.Run(ctx, "systemctl", "start", "dbus.socket", "dbus.service"); err != nil {
		t.Fatal(err)
	}
	back, err = dbEventually(ctx, 5*time.Second, "node1's daemon back on the bus after a start", onBus)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("bus stopped for %v; daemon back on it %v after the start", time.Since(t1).Round(time.Millisecond), back.Round(time.Millisecond))

	// Heartbeating never stopped: no death on either side, same process.
	for _, c := range []struct {
		n    *Node
		peer string
	}{{n2, "node1"}, {n1, "node2"}} {
		es, err := dbJournal(ctx, c.n, t0)
		if err != nil {
			t.Fatal(err)
		}
		if got := dbFind(es, "node status changed", "node="+c.peer, "state=dead"); len(got) > 0 {
			t.Errorf("%s saw %s dead during the bus restart:\n%s", c.n.Hostname, c.peer, dbEntries(got))
		}
		if got := dbFind(es, "late heartbeat", "node="+c.peer); len(got) > 0 {
			t.Logf("%s: late heartbeats of %s during the bus restart:\n%s", c.n.Hostname, c.peer, dbEntries(got))
		}
	}
	pid1, err := n1.Run(ctx, "systemctl", "show", "-p", "MainPID", "--value", "heartbeat.service")
	if err != nil {
		t.Fatal(err)
	}
	if pid0 != pid1 {
		t.Errorf("heartbeat's MainPID changed across the bus restart: %s -> %s", strings.TrimSpace(pid0), strings.TrimSpace(pid1))
	}
	if ok, why := d.ownerView(ctx, "node1"); !ok {
		t.Errorf("after the bus restart: %s", why)
	}
	es, _ := dbJournal(ctx, n1, t0)
	t.Logf("node1 journal since the bus restart:\n%s", dbEntries(es))
	t.Logf("runtime %v", time.Since(start).Round(time.Millisecond))
}
