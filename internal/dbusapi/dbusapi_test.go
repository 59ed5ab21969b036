package dbusapi

import (
	"context"
	"encoding/xml"
	"errors"
	"log/slog"
	"os"
	"reflect"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"
	"github.com/godbus/dbus/v5/introspect"
	"github.com/linuxha/heartbeat/internal/engine"
)

// fakeBackend serves a snapshot the test changes and records calls.
type fakeBackend struct {
	mu    sync.Mutex
	snap  engine.Snapshot
	calls []string
	err   error // returned by Standby/Takeover/Reload
	block bool  // Standby blocks until its context ends
}

func (f *fakeBackend) Snapshot(ctx context.Context) (engine.Snapshot, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return cloneSnap(f.snap), nil
}

func (f *fakeBackend) record(call string) (error, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, call)
	return f.err, f.block
}

func (f *fakeBackend) Standby(ctx context.Context, w engine.Which) error {
	err, block := f.record("standby " + w.String())
	if block {
		<-ctx.Done()
		return ctx.Err()
	}
	return err
}

func (f *fakeBackend) Takeover(ctx context.Context, w engine.Which) error {
	err, _ := f.record("takeover " + w.String())
	return err
}

func (f *fakeBackend) Reload(ctx context.Context) error {
	err, _ := f.record("reload")
	return err
}

func (f *fakeBackend) set(fn func(s *engine.Snapshot)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(&f.snap)
}

func (f *fakeBackend) lastCall() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.calls) == 0 {
		return ""
	}
	return f.calls[len(f.calls)-1]
}

func cloneSnap(s engine.Snapshot) engine.Snapshot {
	s.Nodes = slices.Clone(s.Nodes)
	for i := range s.Nodes {
		s.Nodes[i].Links = slices.Clone(s.Nodes[i].Links)
	}
	s.Groups = slices.Clone(s.Groups)
	return s
}

var heardAt = time.Date(2025, 11, 25, 17, 21, 35, 123456000, time.UTC)

func testSnapshot() engine.Snapshot {
	return engine.Snapshot{
		LocalNode:  "hba",
		Status:     engine.StatusActive,
		Generation: 7,
		Nodes: []engine.NodeInfo{
			{Name: "hba", Local: true, Status: engine.StatusActive, Generation: 7},
			{Name: "hb-b", Status: engine.StatusActive, Generation: 3, LastHeard: heardAt,
				Links: []engine.LinkInfo{{Name: "eth0", Status: engine.LinkUp, LastHeard: heardAt}, {Name: "eth1", Status: engine.LinkDead}}},
		},
		Groups: []engine.GroupInfo{
			{Key: "10.0.0.10", Preferred: "hba", Owner: "hba", State: engine.GroupRunning},
		},
		Holds: "all", Settled: true,
	}
}

func testOptions(addr string) Options {
	return Options{
		Address: addr,
		Info: Info{
			Version: "test-1", Keepalive: time.Second, Deadtime: 3 * time.Second, Warntime: 2 * time.Second,
			Initdead: 6 * time.Second, AutoFailback: "on",
			Parameter: func(name string) (string, bool) {
				if name == "udpport" {
					return "694", true
				}
				return "", false
			},
		},
		Groups: map[string][]string{"10.0.0.10": {"10.0.0.10", "apache"}, "10.0.0.11": {"10.0.0.11"}},
	}
}

// harness runs Run against a fake backend on a private bus.
type harness struct {
	t       *testing.T
	bus     *testBus
	be      *fakeBackend
	changes chan struct{}
	ready   chan struct{}
	client  *dbus.Conn
}

func newHarness(t *testing.T, mutate func(*Options)) *harness {
	t.Helper()
	h := &harness{t: t, bus: startBus(t), be: &fakeBackend{snap: testSnapshot()},
		changes: make(chan struct{}, 1), ready: make(chan struct{}, 4)}
	opts := testOptions(h.bus.addr)
	opts.Logger = slog.New(slog.NewTextHandler(t.Output(), nil))
	opts.Ready = func() { h.ready <- struct{}{} }
	if mutate != nil {
		mutate(&opts)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Run(ctx, h.be, h.changes, opts) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run returned %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Run did not return after cancel")
		}
	})
	h.waitReady()
	h.client = h.connect()
	return h
}

func (h *harness) waitReady() {
	h.t.Helper()
	select {
	case <-h.ready:
	case <-time.After(15 * time.Second):
		h.t.Fatal("the name was not acquired")
	}
}

func (h *harness) connect() *dbus.Conn {
	h.t.Helper()
	c, err := dbus.Connect(h.bus.addr)
	if err != nil {
		h.t.Fatalf("client connect: %v", err)
	}
	h.t.Cleanup(func() { c.Close() })
	return c
}

func (h *harness) signal() { h.changes <- struct{}{} }

func (h *harness) getAll(path dbus.ObjectPath, iface string) map[string]dbus.Variant {
	h.t.Helper()
	var out map[string]dbus.Variant
	if err := h.client.Object(BusName, path).Call(PropertiesInterface+".GetAll", 0, iface).Store(&out); err != nil {
		h.t.Fatalf("GetAll %s %s: %v", path, iface, err)
	}
	return out
}

// subscribe delivers every signal of our name to the returned channel.
func (h *harness) subscribe() chan *dbus.Signal {
	h.t.Helper()
	if err := h.client.AddMatchSignal(dbus.WithMatchSender(BusName)); err != nil {
		h.t.Fatal(err)
	}
	ch := make(chan *dbus.Signal, 64)
	h.client.Signal(ch)
	return ch
}

func nextSignal(t *testing.T, ch chan *dbus.Signal, name string) *dbus.Signal {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case s := <-ch:
			if s.Name == name {
				return s
			}
		case <-timeout:
			t.Fatalf("no %s signal", name)
			return nil
		}
	}
}

func TestNameOwnedAndProperties(t *testing.T) {
	h := newHarness(t, nil)
	var owner string
	if err := h.client.BusObject().Call("org.freedesktop.DBus.GetNameOwner", 0, BusName).Store(&owner); err != nil || owner == "" {
		t.Fatalf("name %s not owned: %q %v", BusName, owner, err)
	}

	m := h.getAll(ManagerPath, ManagerInterface)
	want := map[string]any{
		"LocalNode": "hba", "NodeState": uint32(3), "ResourceState": "all",
		"KeepaliveUSec": uint64(1e6), "DeadtimeUSec": uint64(3e6), "WarntimeUSec": uint64(2e6), "InitdeadUSec": uint64(6e6),
		"AutoFailback": "on", "Version": "test-1", "Generation": uint64(7),
		"Nodes":  []dbus.ObjectPath{"/org/linuxha/Heartbeat1/node/hba", "/org/linuxha/Heartbeat1/node/hb_2db"},
		"Groups": []dbus.ObjectPath{"/org/linuxha/Heartbeat1/group/10_2e0_2e0_2e10"},
	}
	checkProps(t, "manager", m, want)

	n := h.getAll("/org/linuxha/Heartbeat1/node/hb_2db", NodeInterface)
	checkProps(t, "node hb-b", n, map[string]any{
		"Name": "hb-b", "Type": "normal", "Status": uint32(3), "StatusText": "active", "Local": false, "Generation": uint64(3),
		"LastHeardUSec":     uint64(heardAt.UnixMicro()),
		"LinkLastHeardUSec": map[string]uint64{"eth0": uint64(heardAt.UnixMicro())},
	})
	var links []Link
	if err := n["Links"].Store(&links); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(links, []Link{{"eth0", 1}, {"eth1", 2}}) {
		t.Errorf("Links = %v", links)
	}
	local := h.getAll("/org/linuxha/Heartbeat1/node/hba", NodeInterface)
	checkProps(t, "node hba", local, map[string]any{"Local": true, "LastHeardUSec": uint64(0)})

	g := h.getAll("/org/linuxha/Heartbeat1/group/10_2e0_2e0_2e10", GroupInterface)
	checkProps(t, "group", g, map[string]any{
		"Key": "10.0.0.10", "PreferredNode": "hba", "Owner": "hba", "State": uint32(3), "StateText": "running",
		"Standby": false, "Failed": false, "Resources": []string{"10.0.0.10", "apache"},
	})

	var objs map[dbus.ObjectPath]map[string]map[string]dbus.Variant
	if err := h.client.Object(BusName, ManagerPath).Call(ObjectManagerInterface+".GetManagedObjects", 0).Store(&objs); err != nil {
		t.Fatal(err)
	}
	if len(objs) != 3 || objs["/org/linuxha/Heartbeat1/node/hba"][NodeInterface]["Name"].Value() != "hba" {
		t.Errorf("GetManagedObjects = %v", objs)
	}

	var v dbus.Variant
	err := h.client.Object(BusName, ManagerPath).Call(PropertiesInterface+".Get", 0, ManagerInterface, "NoSuch").Store(&v)
	if !isDBusError(err, "org.freedesktop.DBus.Properties.Error.PropertyNotFound") {
		t.Errorf("Get of an unknown property: %v", err)
	}
	err = h.client.Object(BusName, ManagerPath).Call(PropertiesInterface+".Set", 0, ManagerInterface, "LocalNode", dbus.MakeVariant("x")).Err
	if !isDBusError(err, "org.freedesktop.DBus.Properties.Error.ReadOnly") {
		t.Errorf("Set of a read-only property: %v", err)
	}
	if err := h.client.Object(BusName, ManagerPath).Call(PeerInterface+".Ping", 0).Err; err != nil {
		t.Errorf("Peer.Ping: %v", err)
	}
}

func checkProps(t *testing.T, what string, got map[string]dbus.Variant, want map[string]any) {
	t.Helper()
	for k, w := range want {
		v, ok := got[k]
		if !ok {
			t.Errorf("%s: property %s missing", what, k)
			continue
		}
		if !reflect.DeepEqual(v.Value(), w) {
			t.Errorf("%s: %s = %#v, want %#v", what, k, v.Value(), w)
		}
	}
}

func isDBusError(err error, name string) bool {
	var de dbus.Error
	if errors.As(err, &de) {
		return de.Name == name
	}
	var dep *dbus.Error
	if errors.As(err, &dep) {
		return dep.Name == name
	}
	return false
}

func TestChangesAreSignalled(t *testing.T) {
	h := newHarness(t, nil)
	sigs := h.subscribe()

	// A node dies and a group starts stopping.
	h.be.set(func(s *engine.Snapshot) {
		s.Nodes[1].Status = engine.StatusDead
		s.Nodes[1].Links[0].Status = engine.LinkDead
		s.Groups[0].State = engine.GroupStopping
	})
	h.signal()
	seen := map[dbus.ObjectPath]map[string]dbus.Variant{}
	for len(seen) < 3 {
		s := nextSignal(t, sigs, PropertiesInterface+".PropertiesChanged")
		seen[s.Path] = s.Body[1].(map[string]dbus.Variant)
		if inv := s.Body[2].([]string); len(inv) != 0 {
			t.Errorf("invalidated = %v", inv)
		}
	}
	node := seen["/org/linuxha/Heartbeat1/node/hb_2db"]
	if got := sortedKeys(node); !slices.Equal(got, []string{"Links", "Status", "StatusText"}) {
		t.Errorf("node changed properties = %v", got)
	}
	if node["Status"].Value() != uint32(engine.StatusDead) || node["StatusText"].Value() != "dead" {
		t.Errorf("node change = %v", node)
	}
	grp := seen["/org/linuxha/Heartbeat1/group/10_2e0_2e0_2e10"]
	if got := sortedKeys(grp); !slices.Equal(got, []string{"State", "StateText"}) {
		t.Errorf("group changed properties = %v", got)
	}
	mgr := seen[ManagerPath]
	if got := sortedKeys(mgr); !slices.Equal(got, []string{"ResourceState"}) || mgr["ResourceState"].Value() != "transition" {
		t.Errorf("manager change = %v", mgr)
	}
	// The new value is readable once the signal arrived.
	if v := h.getAll("/org/linuxha/Heartbeat1/node/hb_2db", NodeInterface)["StatusText"].Value(); v != "dead" {
		t.Errorf("StatusText after the signal = %v", v)
	}

	// A group appears and a node disappears (a reload).
	h.be.set(func(s *engine.Snapshot) {
		s.Groups = append(s.Groups, engine.GroupInfo{Key: "10.0.0.11", Preferred: "hb-b", State: engine.GroupStopped})
		s.Nodes = s.Nodes[:1]
	})
	h.signal()
	added := nextSignal(t, sigs, ObjectManagerInterface+".InterfacesAdded")
	if added.Body[0] != dbus.ObjectPath("/org/linuxha/Heartbeat1/group/10_2e0_2e0_2e11") {
		t.Errorf("InterfacesAdded for %v", added.Body[0])
	}
	ifaces := added.Body[1].(map[string]map[string]dbus.Variant)
	if res := ifaces[GroupInterface]["Resources"].Value(); !reflect.DeepEqual(res, []string{"10.0.0.11"}) {
		t.Errorf("added group Resources = %v", res)
	}
	removed := nextSignal(t, sigs, ObjectManagerInterface+".InterfacesRemoved")
	if removed.Body[0] != dbus.ObjectPath("/org/linuxha/Heartbeat1/node/hb_2db") || !reflect.DeepEqual(removed.Body[1], []string{NodeInterface}) {
		t.Errorf("InterfacesRemoved = %v", removed.Body)
	}
	g := h.getAll("/org/linuxha/Heartbeat1/group/10_2e0_2e0_2e11", GroupInterface)
	checkProps(t, "new group", g, map[string]any{"Key": "10.0.0.11", "PreferredNode": "hb-b"})
	err := h.client.Object(BusName, "/org/linuxha/Heartbeat1/node/hb_2db").Call(PropertiesInterface+".GetAll", 0, NodeInterface).Err
	if err == nil {
		t.Error("the removed node is still exported")
	}
}

func TestMethods(t *testing.T) {
	h := newHarness(t, func(o *Options) { o.CallTimeout = 200 * time.Millisecond })
	mgr := h.client.Object(BusName, ManagerPath)
	call := func(method string, args ...any) error {
		return mgr.Call(ManagerInterface+"."+method, 0, args...).Err
	}
	for _, tc := range []struct {
		method, arg, want string
	}{
		{"Standby", "", "standby all"},
		{"Standby", "local", "standby local"},
		{"Standby", "failback", "standby foreign"},
		{"Takeover", "all", "takeover all"},
		{"Takeover", "foreign", "takeover foreign"},
	} {
		if err := call(tc.method, tc.arg); err != nil {
			t.Errorf("%s(%q): %v", tc.method, tc.arg, err)
		}
		if got := h.be.lastCall(); got != tc.want {
			t.Errorf("%s(%q) reached the backend as %q, want %q", tc.method, tc.arg, got, tc.want)
		}
	}
	if err := call("Reload"); err != nil || h.be.lastCall() != "reload" {
		t.Errorf("Reload: %v, backend saw %q", err, h.be.lastCall())
	}
	if err := call("Standby", "everything"); !isDBusError(err, ErrorInvalidArgument) {
		t.Errorf("Standby(everything) = %v, want %s", err, ErrorInvalidArgument)
	}
	h.be.set(func(*engine.Snapshot) {})
	h.be.mu.Lock()
	h.be.err = engine.ErrNoPeer
	h.be.mu.Unlock()
	if err := call("Standby", "all"); !isDBusError(err, ErrorNoPeer) {
		t.Errorf("Standby with no peer = %v, want %s", err, ErrorNoPeer)
	}
	h.be.mu.Lock()
	h.be.err = errors.New("reload: ha.cf:3: unknown directive")
	h.be.mu.Unlock()
	if err := call("Reload"); !isDBusError(err, ErrorFailed) {
		t.Errorf("failing Reload = %v, want %s", err, ErrorFailed)
	}
	h.be.mu.Lock()
	h.be.err, h.be.block = nil, true
	h.be.mu.Unlock()
	if err := call("Standby", "all"); !isDBusError(err, ErrorTimeout) {
		t.Errorf("blocked Standby = %v, want %s", err, ErrorTimeout)
	}

	var v string
	if err := mgr.Call(ManagerInterface+".GetParameter", 0, "udpport").Store(&v); err != nil || v != "694" {
		t.Errorf("GetParameter(udpport) = %q, %v", v, err)
	}
	if err := mgr.Call(ManagerInterface+".GetParameter", 0, "deadtime").Store(&v); err != nil || v != "3" {
		t.Errorf("GetParameter(deadtime) = %q, %v", v, err)
	}
	if err := mgr.Call(ManagerInterface+".GetParameter", 0, "nosuch").Store(&v); !isDBusError(err, ErrorNotFound) {
		t.Errorf("GetParameter(nosuch) = %v", err)
	}
}

func TestSurvivesBusRestart(t *testing.T) {
	h := newHarness(t, nil)
	h.bus.stop()
	// Changes while the bus is down must not block the daemon.
	h.signal()
	h.be.set(func(s *engine.Snapshot) { s.Nodes[1].Status = engine.StatusDead })
	h.bus.start()
	h.waitReady()
	c := h.connect()
	var n map[string]dbus.Variant
	if err := c.Object(BusName, "/org/linuxha/Heartbeat1/node/hb_2db").Call(PropertiesInterface+".GetAll", 0, NodeInterface).Store(&n); err != nil {
		t.Fatalf("after the bus restart: %v", err)
	}
	if n["StatusText"].Value() != "dead" {
		t.Errorf("after the bus restart StatusText = %v, want the fresh snapshot's dead", n["StatusText"].Value())
	}
}

func TestBusAbsentAtStart(t *testing.T) {
	bus := startBus(t)
	bus.stop()
	be := &fakeBackend{snap: testSnapshot()}
	ready := make(chan struct{}, 1)
	opts := testOptions(bus.addr)
	opts.Ready = func() { ready <- struct{}{} }
	opts.Logger = slog.New(slog.NewTextHandler(t.Output(), nil))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Run(ctx, be, nil, opts) }()
	bus.start()
	select {
	case <-ready:
	case <-time.After(15 * time.Second):
		t.Fatal("Run did not register once the bus appeared")
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run = %v", err)
	}
}

// TestIntrospectionMatchesXML compares what the live objects report with
// the documented XML: interfaces, methods, arguments, properties (type and
// access) and signals.
func TestIntrospectionMatchesXML(t *testing.T) {
	h := newHarness(t, nil)
	var doc introspect.Node
	if err := xml.Unmarshal([]byte(IntrospectionXML), &doc); err != nil {
		t.Fatalf("the XML does not parse: %v", err)
	}
	docIfaces := map[string]introspect.Interface{}
	for _, i := range doc.Interfaces {
		docIfaces[i.Name] = i
	}
	standard := map[string]bool{PropertiesInterface: true, IntrospectInterface: true, PeerInterface: true}
	covered := map[string]bool{}
	for path, want := range map[dbus.ObjectPath][]string{
		ManagerPath:                                     {ManagerInterface, ObjectManagerInterface},
		"/org/linuxha/Heartbeat1/node/hba":              {NodeInterface},
		"/org/linuxha/Heartbeat1/group/10_2e0_2e0_2e10": {GroupInterface},
	} {
		live, err := introspect.Call(h.client.Object(BusName, path))
		if err != nil {
			t.Fatalf("introspect %s: %v", path, err)
		}
		var names []string
		for _, li := range live.Interfaces {
			if standard[li.Name] {
				covered[li.Name] = true
				continue
			}
			names = append(names, li.Name)
			di, ok := docIfaces[li.Name]
			if !ok {
				t.Errorf("%s exports %s, which the XML does not document", path, li.Name)
				continue
			}
			covered[li.Name] = true
			compareInterface(t, string(path), di, li)
		}
		sort.Strings(names)
		sort.Strings(want)
		if !slices.Equal(names, want) {
			t.Errorf("%s: interfaces %v, want %v", path, names, want)
		}
	}
	for name := range docIfaces {
		if !covered[name] {
			t.Errorf("the XML documents %s, which no object exports", name)
		}
	}
	for name := range standard {
		if !covered[name] {
			t.Errorf("%s is not exported", name)
		}
	}
}

func compareInterface(t *testing.T, path string, doc, live introspect.Interface) {
	t.Helper()
	methods := func(ms []introspect.Method) map[string]string {
		out := map[string]string{}
		for _, m := range ms {
			s := ""
			for _, a := range m.Args {
				s += a.Direction + ":" + a.Name + ":" + a.Type + " "
			}
			out[m.Name] = s
		}
		return out
	}
	if d, l := methods(doc.Methods), methods(live.Methods); !reflect.DeepEqual(d, l) {
		t.Errorf("%s %s methods:\n xml  %v\n live %v", path, doc.Name, d, l)
	}
	signals := func(ss []introspect.Signal) map[string]string {
		out := map[string]string{}
		for _, s := range ss {
			a := ""
			for _, x := range s.Args {
				a += x.Name + ":" + x.Type + " "
			}
			out[s.Name] = a
		}
		return out
	}
	if d, l := signals(doc.Signals), signals(live.Signals); !reflect.DeepEqual(d, l) {
		t.Errorf("%s %s signals:\n xml  %v\n live %v", path, doc.Name, d, l)
	}
	props := func(ps []introspect.Property) map[string]string {
		out := map[string]string{}
		for _, p := range ps {
			emit := ""
			for _, a := range p.Annotations {
				if a.Name == "org.freedesktop.DBus.Property.EmitsChangedSignal" {
					emit = a.Value
				}
			}
			out[p.Name] = p.Type + " " + p.Access + " emits=" + emit
		}
		return out
	}
	if d, l := props(doc.Properties), props(live.Properties); !reflect.DeepEqual(d, l) {
		t.Errorf("%s %s properties:\n xml  %v\n live %v", path, doc.Name, d, l)
	}
	for _, p := range doc.Properties {
		if len(p.Annotations) == 0 {
			t.Errorf("%s.%s: no EmitsChangedSignal annotation in the XML", doc.Name, p.Name)
		}
	}
}

func TestXMLCopiesIdentical(t *testing.T) {
	top, err := os.ReadFile("../../dbus/org.linuxha.Heartbeat1.xml")
	if err != nil {
		t.Fatal(err)
	}
	if string(top) != IntrospectionXML {
		t.Error("dbus/org.linuxha.Heartbeat1.xml differs from internal/dbusapi/org.linuxha.Heartbeat1.xml: copy the master (internal/dbusapi) over it")
	}
}
