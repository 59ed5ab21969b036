package dbusapi

import (
	"reflect"
	"slices"
	"time"

	"github.com/godbus/dbus/v5"
	"github.com/linuxha/heartbeat/internal/engine"
)

// Link is one element of the Node.Links property, signature (su).
type Link struct {
	Name   string
	Status uint32
}

// GroupResource is one element of the Group.ResourceStates property,
// signature (ss): a haresources token and its state.
type GroupResource struct {
	Resource string
	State    string
}

// props are the properties of one interface of one object, in a fixed order.
type props struct {
	names  []string
	values map[string]dbus.Variant
}

func (p *props) set(name string, v any) {
	if p.values == nil {
		p.values = map[string]dbus.Variant{}
	}
	if _, ok := p.values[name]; !ok {
		p.names = append(p.names, name)
	}
	p.values[name] = dbus.MakeVariant(v)
}

// object is one exported object: interface name -> properties.
type object struct {
	ifaces map[string]*props
}

// view is everything the package exports at one moment, built from one
// snapshot.
type view struct {
	order   []dbus.ObjectPath // node and group objects, nodes first, config order
	objects map[dbus.ObjectPath]*object
	manager *props
}

// usec converts a duration to microseconds.
func usec(d time.Duration) uint64 {
	if d < 0 {
		return 0
	}
	return uint64(d / time.Microsecond)
}

// realtimeUSec is t as CLOCK_REALTIME microseconds, 0 for the zero time.
func realtimeUSec(t time.Time) uint64 {
	if t.IsZero() || t.UnixMicro() < 0 {
		return 0
	}
	return uint64(t.UnixMicro())
}

// nodeType is "ping" for a ping node, "normal" otherwise.
func nodeType(n engine.NodeInfo) string {
	if n.Ping || n.Status == engine.StatusPing {
		return "ping"
	}
	return "normal"
}

// buildView turns a snapshot into the exported objects.
func buildView(s engine.Snapshot, info Info, groups map[string][]string) *view {
	v := &view{objects: map[dbus.ObjectPath]*object{}, manager: &props{}}
	var nodePaths, groupPaths []dbus.ObjectPath
	for _, n := range s.Nodes {
		p := &props{}
		p.set("Name", n.Name)
		p.set("Type", nodeType(n))
		p.set("Status", uint32(n.Status))
		p.set("StatusText", n.Status.String())
		p.set("Local", n.Local)
		p.set("Generation", n.Generation)
		links := []Link{}
		heard := map[string]uint64{}
		for _, l := range n.Links {
			links = append(links, Link{Name: l.Name, Status: uint32(l.Status)})
			if u := realtimeUSec(l.LastHeard); u != 0 {
				heard[l.Name] = u
			}
		}
		p.set("Links", links)
		p.set("LinkLastHeardUSec", heard)
		p.set("LastHeardUSec", realtimeUSec(n.LastHeard))
		path := NodePath(n.Name)
		if _, dup := v.objects[path]; dup {
			continue
		}
		nodePaths = append(nodePaths, path)
		v.objects[path] = &object{ifaces: map[string]*props{NodeInterface: p}}
	}
	for _, g := range s.Groups {
		p := &props{}
		p.set("Key", g.Key)
		p.set("PreferredNode", g.Preferred)
		p.set("Owner", g.Owner)
		p.set("State", uint32(g.State))
		p.set("StateText", g.State.String())
		p.set("Standby", g.Standby)
		p.set("Failed", g.Failed)
		res := slices.Clone(groups[g.Key])
		if res == nil {
			res = []string{}
		}
		p.set("Resources", res)
		rs := []GroupResource{}
		states := info.ResourceStates[g.Key]
		for i, tok := range res {
			st := "unknown"
			if i < len(states) {
				st = states[i]
			}
			rs = append(rs, GroupResource{Resource: tok, State: st})
		}
		p.set("ResourceStates", rs)
		path := GroupPath(g.Key)
		if _, dup := v.objects[path]; dup {
			continue
		}
		groupPaths = append(groupPaths, path)
		v.objects[path] = &object{ifaces: map[string]*props{GroupInterface: p}}
	}
	v.order = append(slices.Clone(nodePaths), groupPaths...)
	if nodePaths == nil {
		nodePaths = []dbus.ObjectPath{}
	}
	if groupPaths == nil {
		groupPaths = []dbus.ObjectPath{}
	}
	m := v.manager
	m.set("LocalNode", s.LocalNode)
	m.set("NodeState", uint32(s.Status))
	m.set("ResourceState", ResourceState(s))
	m.set("KeepaliveUSec", usec(info.Keepalive))
	m.set("DeadtimeUSec", usec(info.Deadtime))
	m.set("WarntimeUSec", usec(info.Warntime))
	m.set("InitdeadUSec", usec(info.Initdead))
	m.set("AutoFailback", info.AutoFailback)
	m.set("Version", info.Version)
	m.set("Generation", s.Generation)
	m.set("Nodes", nodePaths)
	m.set("Groups", groupPaths)
	return v
}

// changed returns the properties of p whose values differ from old, in
// order; old == nil means all of them.
func (p *props) changed(old *props) map[string]dbus.Variant {
	out := map[string]dbus.Variant{}
	for _, n := range p.names {
		nv := p.values[n]
		if old != nil {
			if ov, ok := old.values[n]; ok && reflect.DeepEqual(ov.Value(), nv.Value()) {
				continue
			}
		}
		out[n] = nv
	}
	return out
}

func (p *props) all() map[string]dbus.Variant { return p.changed(nil) }

// ResourceState is what cl_status rscstatus prints for the snapshot, as
// Heartbeat 3.0.6 computes it (hb_rsc_resource_state): "transition" while
// a group is starting or stopping or the resources are being negotiated
// (start-up exchange, standby, shutdown), otherwise the categories this node
// holds (Snapshot.Holds): "local", "foreign", "all" or "none". Without any
// group it is "none".
//
// One difference: with auto_failback legacy (the default when ha.cf has no
// auto_failback line) 3.0.6 never sets its holding bits and can only print
// "none" or "transition"; heartbeat shows the categories as with on/off.
func ResourceState(s engine.Snapshot) string {
	if len(s.Groups) == 0 {
		return "none"
	}
	for _, g := range s.Groups {
		if g.State == engine.GroupStarting || g.State == engine.GroupStopping {
			return "transition"
		}
	}
	if !s.Settled {
		return "transition"
	}
	switch s.Holds {
	case "local", "foreign", "all":
		return s.Holds
	}
	return "none"
}
