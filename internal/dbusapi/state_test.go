package dbusapi

import (
	"testing"
	"time"

	"github.com/linuxha/heartbeat/internal/engine"
)

func TestEscapeLabel(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", "_"},
		{"hba", "hba"},
		{"hbA", "hbA"},
		{"hb-b", "hb_2db"},
		{"10.0.0.10", "10_2e0_2e0_2e10"},
		{"IPaddr::10.0.0.1/24", "IPaddr_3a_3a10_2e0_2e0_2e1_2f24"},
		{"a_b", "a_5fb"},
		{"\xff", "_ff"},
	} {
		if got := EscapeLabel(tc.in); got != tc.want {
			t.Errorf("EscapeLabel(%q) = %q, want %q", tc.in, got, tc.want)
		}
		if back, ok := UnescapeLabel(tc.want); !ok || back != tc.in {
			t.Errorf("UnescapeLabel(%q) = %q, %v, want %q", tc.want, back, ok, tc.in)
		}
	}
	for _, bad := range []string{"a_", "a_2", "a_zz"} {
		if _, ok := UnescapeLabel(bad); ok {
			t.Errorf("UnescapeLabel(%q) accepted", bad)
		}
	}
}

func TestResourceState(t *testing.T) {
	g := func(st engine.GroupState) engine.GroupInfo {
		return engine.GroupInfo{Key: "g" + st.String(), Preferred: "hba", State: st}
	}
	run, stop := engine.GroupRunning, engine.GroupStopped
	for _, tc := range []struct {
		name    string
		groups  []engine.GroupInfo
		holds   string
		settled bool
		want    string
	}{
		{"no groups", nil, "all", true, "none"},
		{"settled, local", []engine.GroupInfo{g(run)}, "local", true, "local"},
		{"settled, foreign", []engine.GroupInfo{g(stop)}, "foreign", true, "foreign"},
		{"settled, all", []engine.GroupInfo{g(run)}, "all", true, "all"},
		{"settled, none", []engine.GroupInfo{g(stop)}, "none", true, "none"},
		{"negotiating", []engine.GroupInfo{g(run)}, "local", false, "transition"},
		{"starting", []engine.GroupInfo{g(engine.GroupStarting), g(run)}, "all", true, "transition"},
		{"stopping", []engine.GroupInfo{g(engine.GroupStopping)}, "local", true, "transition"},
		{"garbage holds", []engine.GroupInfo{g(run)}, "both", true, "none"},
	} {
		s := engine.Snapshot{LocalNode: "hba", Groups: tc.groups, Holds: tc.holds, Settled: tc.settled}
		if got := ResourceState(s); got != tc.want {
			t.Errorf("%s: ResourceState = %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestParameterFallback(t *testing.T) {
	info := Info{Keepalive: 1500 * 1e6, Deadtime: 3e9, AutoFailback: "off",
		Parameter: func(n string) (string, bool) { return "from-config", n == "keepalive" }}
	for _, tc := range []struct {
		name, want string
		ok         bool
	}{
		{"keepalive", "from-config", true},
		{"deadtime", "3", true},
		{"auto_failback", "off", true},
		{"warntime", "", false},
		{"stonith", "", false},
	} {
		got, ok := parameter(info, tc.name)
		if got != tc.want || ok != tc.ok {
			t.Errorf("parameter(%q) = %q, %v; want %q, %v", tc.name, got, ok, tc.want, tc.ok)
		}
	}
	info.Parameter = nil
	if got, _ := parameter(info, "keepalive"); got != "1.5" {
		t.Errorf("keepalive without Parameter = %q, want 1.5", got)
	}
}

// A property the XML marks EmitsChangedSignal=const must not change while
// the daemon runs: clients cache it. Everything a reload can change (timers,
// auto_failback, a group's preferred node and resources) and everything the
// cluster changes (states, owners, heard times) is applied here, and no
// const property may differ.
func TestConstPropertiesStayConstant(t *testing.T) {
	constProps := map[string]map[string]bool{}
	for name, iface := range documented() {
		for _, p := range iface.Properties {
			for _, a := range p.Annotations {
				if a.Name == "org.freedesktop.DBus.Property.EmitsChangedSignal" && a.Value == "const" {
					if constProps[name] == nil {
						constProps[name] = map[string]bool{}
					}
					constProps[name][p.Name] = true
				}
			}
		}
	}
	if len(constProps[ManagerInterface]) == 0 {
		t.Fatal("no const properties found in the XML: the test would prove nothing")
	}
	s1 := engine.Snapshot{LocalNode: "hba", Status: engine.StatusActive, Generation: 7,
		Nodes: []engine.NodeInfo{
			{Name: "hba", Local: true, Status: engine.StatusActive, Generation: 7},
			{Name: "hbb", Status: engine.StatusActive, Generation: 3, Links: []engine.LinkInfo{{Name: "eth0", Status: engine.LinkUp}}},
		},
		Groups: []engine.GroupInfo{{Key: "g1", Preferred: "hba", Owner: "hba", State: engine.GroupRunning}},
	}
	info1 := Info{Version: "1.0", Keepalive: time.Second, Deadtime: 10 * time.Second, Warntime: 5 * time.Second, Initdead: 20 * time.Second, AutoFailback: "on"}
	s2 := engine.Snapshot{LocalNode: "hba", Status: engine.StatusActive, Generation: 7,
		Nodes: []engine.NodeInfo{
			{Name: "hba", Local: true, Status: engine.StatusActive, Generation: 7},
			{Name: "hbb", Status: engine.StatusDead, Generation: 4, LastHeard: time.Unix(1e9, 0), Links: []engine.LinkInfo{{Name: "eth0", Status: engine.LinkDead}}},
		},
		Groups: []engine.GroupInfo{{Key: "g1", Preferred: "hbb", Owner: "", State: engine.GroupStopping, Standby: true}},
	}
	info2 := Info{Version: "1.0", Keepalive: 200 * time.Millisecond, Deadtime: time.Second, Warntime: 500 * time.Millisecond, Initdead: 2 * time.Second, AutoFailback: "off"}
	v1 := buildView(s1, info1, map[string][]string{"g1": {"10.0.0.10"}})
	v2 := buildView(s2, info2, map[string][]string{"g1": {"10.0.0.10", "httpd"}})

	changed := 0
	check := func(where, iface string, p2, p1 *props) {
		for name := range p2.changed(p1) {
			changed++
			if constProps[iface][name] {
				t.Errorf("%s: %s.%s is documented const but changed", where, iface, name)
			}
		}
	}
	check(string(ManagerPath), ManagerInterface, v2.manager, v1.manager)
	for path, o := range v2.objects {
		for iface, p := range o.ifaces {
			check(string(path), iface, p, v1.objects[path].ifaces[iface])
		}
	}
	if changed < 15 {
		t.Errorf("only %d properties changed: the test would prove little", changed)
	}
}
