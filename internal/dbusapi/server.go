package dbusapi

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/godbus/dbus/v5"
	"github.com/godbus/dbus/v5/introspect"
	"github.com/godbus/dbus/v5/prop"
	"github.com/linuxha/heartbeat/internal/engine"
)

// server is the exported state of one bus connection. Run's goroutine is
// the only writer; godbus calls the handlers on their own goroutines, so
// reads take mu.
type server struct {
	conn *dbus.Conn
	b    Backend
	opts Options
	log  *slog.Logger
	ctx  context.Context

	mu   sync.RWMutex
	view *view
}

// signal is one signal to emit after the state is updated.
type signal struct {
	path dbus.ObjectPath
	name string
	args []any
}

// exportAll exports the Manager, the ObjectManager and every object of v.
func (s *server) exportAll(v *view) error {
	s.mu.Lock()
	s.view = v
	s.mu.Unlock()
	m := &manager{s: s}
	exports := []struct {
		v     any
		iface string
	}{
		{m, ManagerInterface},
		{&objectManager{s: s}, ObjectManagerInterface},
		{&properties{s: s, path: ManagerPath}, PropertiesInterface},
		{&introspectable{s: s, path: ManagerPath}, IntrospectInterface},
	}
	for _, e := range exports {
		if err := s.conn.Export(e.v, ManagerPath, e.iface); err != nil {
			return fmt.Errorf("export %s: %w", e.iface, err)
		}
	}
	for _, p := range v.order {
		if err := s.exportObject(p); err != nil {
			return err
		}
	}
	return nil
}

func (s *server) exportObject(p dbus.ObjectPath) error {
	if err := s.conn.Export(&properties{s: s, path: p}, p, PropertiesInterface); err != nil {
		return fmt.Errorf("export %s: %w", p, err)
	}
	if err := s.conn.Export(&introspectable{s: s, path: p}, p, IntrospectInterface); err != nil {
		return fmt.Errorf("export %s: %w", p, err)
	}
	return nil
}

func (s *server) unexportObject(p dbus.ObjectPath) {
	s.conn.Export(nil, p, PropertiesInterface)
	s.conn.Export(nil, p, IntrospectInterface)
}

// update replaces the exported view by v and emits what changed: the
// signals go out after the new values are readable.
func (s *server) update(v *view) error {
	s.mu.Lock()
	old := s.view
	s.view = v
	s.mu.Unlock()

	var sigs []signal
	var errs []error
	for _, p := range v.order {
		o := v.objects[p]
		oo, existed := old.objects[p]
		if !existed {
			if err := s.exportObject(p); err != nil {
				errs = append(errs, err)
			}
			sigs = append(sigs, signal{ManagerPath, ObjectManagerInterface + ".InterfacesAdded", []any{p, o.all()}})
			continue
		}
		for _, iface := range sortedKeys(o.ifaces) {
			if ch := o.ifaces[iface].changed(oo.ifaces[iface]); len(ch) > 0 {
				sigs = append(sigs, signal{p, PropertiesInterface + ".PropertiesChanged", []any{iface, ch, []string{}}})
			}
		}
	}
	for _, p := range old.order {
		if _, still := v.objects[p]; still {
			continue
		}
		s.unexportObject(p)
		sigs = append(sigs, signal{ManagerPath, ObjectManagerInterface + ".InterfacesRemoved", []any{p, sortedKeys(old.objects[p].ifaces)}})
	}
	if ch := v.manager.changed(old.manager); len(ch) > 0 {
		sigs = append(sigs, signal{ManagerPath, PropertiesInterface + ".PropertiesChanged", []any{ManagerInterface, ch, []string{}}})
	}
	for _, sg := range sigs {
		if err := s.conn.Emit(sg.path, sg.name, sg.args...); err != nil {
			errs = append(errs, fmt.Errorf("emit %s on %s: %w", sg.name, sg.path, err))
		}
	}
	return errors.Join(errs...)
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

func (o *object) all() map[string]map[string]dbus.Variant {
	out := map[string]map[string]dbus.Variant{}
	for iface, p := range o.ifaces {
		out[iface] = p.all()
	}
	return out
}

// ifaceProps returns the properties of iface at path (nil if none).
func (s *server) ifaceProps(path dbus.ObjectPath, iface string) *props {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if path == ManagerPath {
		if iface == ManagerInterface {
			return s.view.manager
		}
		return nil
	}
	if o, ok := s.view.objects[path]; ok {
		return o.ifaces[iface]
	}
	return nil
}

// properties implements org.freedesktop.DBus.Properties for one path.
// The values are replaced as a whole by update, never modified.
type properties struct {
	s    *server
	path dbus.ObjectPath
}

func (p *properties) Get(iface, name string) (dbus.Variant, *dbus.Error) {
	ps := p.s.ifaceProps(p.path, iface)
	if ps == nil {
		return dbus.Variant{}, prop.ErrIfaceNotFound
	}
	v, ok := ps.values[name]
	if !ok {
		return dbus.Variant{}, prop.ErrPropNotFound
	}
	return v, nil
}

func (p *properties) GetAll(iface string) (map[string]dbus.Variant, *dbus.Error) {
	ps := p.s.ifaceProps(p.path, iface)
	if ps == nil {
		if iface == ManagerInterface || iface == NodeInterface || iface == GroupInterface {
			return nil, prop.ErrIfaceNotFound
		}
		return map[string]dbus.Variant{}, nil // standard interfaces have no properties
	}
	return ps.all(), nil
}

func (p *properties) Set(iface, name string, _ dbus.Variant) *dbus.Error {
	if ps := p.s.ifaceProps(p.path, iface); ps == nil {
		return prop.ErrIfaceNotFound
	} else if _, ok := ps.values[name]; !ok {
		return prop.ErrPropNotFound
	}
	return prop.ErrReadOnly
}

// objectManager implements org.freedesktop.DBus.ObjectManager on the root.
type objectManager struct{ s *server }

func (o *objectManager) GetManagedObjects() (map[dbus.ObjectPath]map[string]map[string]dbus.Variant, *dbus.Error) {
	o.s.mu.RLock()
	defer o.s.mu.RUnlock()
	out := map[dbus.ObjectPath]map[string]map[string]dbus.Variant{}
	for p, obj := range o.s.view.objects {
		out[p] = obj.all()
	}
	return out, nil
}

// manager implements the methods of org.linuxha.Heartbeat1.Manager.
type manager struct{ s *server }

func (m *manager) call(f func(ctx context.Context) error) *dbus.Error {
	ctx, cancel := context.WithTimeout(m.s.ctx, m.s.opts.CallTimeout)
	defer cancel()
	return mapError(f(ctx))
}

func parseWhich(which string) (engine.Which, *dbus.Error) {
	w, ok := engine.ParseWhich(which)
	if !ok {
		return 0, dbus.NewError(ErrorInvalidArgument, []any{fmt.Sprintf("unknown selection %q: want all, local, foreign or failback", which)})
	}
	return w, nil
}

// Standby gives the selected groups away (hb_standby).
func (m *manager) Standby(which string) *dbus.Error {
	w, derr := parseWhich(which)
	if derr != nil {
		return derr
	}
	m.s.log.Info("standby requested over d-bus", "state", w.String())
	return m.call(func(ctx context.Context) error { return m.s.b.Standby(ctx, w) })
}

// Takeover pulls the selected groups here (hb_takeover).
func (m *manager) Takeover(which string) *dbus.Error {
	w, derr := parseWhich(which)
	if derr != nil {
		return derr
	}
	m.s.log.Info("takeover requested over d-bus", "state", w.String())
	return m.call(func(ctx context.Context) error { return m.s.b.Takeover(ctx, w) })
}

// Reload re-reads the configuration.
func (m *manager) Reload() *dbus.Error {
	m.s.log.Info("reload requested over d-bus")
	return m.call(m.s.b.Reload)
}

// GetParameter returns a cl_status hbparameter value.
func (m *manager) GetParameter(name string) (string, *dbus.Error) {
	info, _ := m.s.opts.current()
	if v, ok := parameter(info, name); ok {
		return v, nil
	}
	return "", dbus.NewError(ErrorNotFound, []any{fmt.Sprintf("parameter %q has no value", name)})
}

// parameter answers from Info.Parameter, then from the timers.
func parameter(info Info, name string) (string, bool) {
	if info.Parameter != nil {
		if v, ok := info.Parameter(name); ok {
			return v, true
		}
	}
	secs := func(d time.Duration) (string, bool) {
		if d <= 0 {
			return "", false
		}
		return strconv.FormatFloat(d.Seconds(), 'f', -1, 64), true
	}
	switch strings.ToLower(name) {
	case "keepalive":
		return secs(info.Keepalive)
	case "deadtime":
		return secs(info.Deadtime)
	case "warntime":
		return secs(info.Warntime)
	case "initdead":
		return secs(info.Initdead)
	case "auto_failback":
		return info.AutoFailback, info.AutoFailback != ""
	}
	return "", false
}

// mapError turns a Backend error into a named D-Bus error.
func mapError(err error) *dbus.Error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, engine.ErrNoPeer):
		return dbus.NewError(ErrorNoPeer, []any{err.Error()})
	case errors.Is(err, context.DeadlineExceeded):
		return dbus.NewError(ErrorTimeout, []any{"the daemon did not answer in time"})
	}
	return dbus.NewError(ErrorFailed, []any{err.Error()})
}

// introspectable serves the introspection of one path, built from what is
// exported (method signatures by reflection, property types from the
// values) and the documented names.
type introspectable struct {
	s    *server
	path dbus.ObjectPath
}

func (i *introspectable) Introspect() (string, *dbus.Error) {
	n := i.s.introspect(i.path)
	b, err := xml.MarshalIndent(n, "", "  ")
	if err != nil {
		return "", dbus.MakeFailedError(err)
	}
	return introspect.IntrospectDeclarationString + string(b), nil
}

func (s *server) introspect(path dbus.ObjectPath) introspect.Node {
	node := introspect.Node{Name: string(path)}
	node.Interfaces = []introspect.Interface{introspect.IntrospectData, introspect.PeerData, prop.IntrospectData}
	doc := documented()
	s.mu.RLock()
	defer s.mu.RUnlock()
	if path == ManagerPath {
		mi := introspect.Interface{Name: ManagerInterface, Methods: namedMethods(introspect.Methods(&manager{}), doc[ManagerInterface])}
		mi.Properties = propIntrospection(s.view.manager, doc[ManagerInterface])
		node.Interfaces = append(node.Interfaces, mi, objectManagerIntrospection(doc))
		node.Children = []introspect.Node{{Name: "node"}, {Name: "group"}}
		return node
	}
	if o, ok := s.view.objects[path]; ok {
		for _, iface := range sortedKeys(o.ifaces) {
			node.Interfaces = append(node.Interfaces, introspect.Interface{
				Name:       iface,
				Properties: propIntrospection(o.ifaces[iface], doc[iface]),
			})
		}
	}
	return node
}

// objectManagerIntrospection is the ObjectManager interface as implemented
// by objectManager and update.
func objectManagerIntrospection(doc map[string]introspect.Interface) introspect.Interface {
	om := introspect.Interface{
		Name:    ObjectManagerInterface,
		Methods: namedMethods(introspect.Methods(&objectManager{}), doc[ObjectManagerInterface]),
		Signals: []introspect.Signal{
			{Name: "InterfacesAdded", Args: []introspect.Arg{{Name: "object", Type: "o"}, {Name: "interfaces", Type: "a{sa{sv}}"}}},
			{Name: "InterfacesRemoved", Args: []introspect.Arg{{Name: "object", Type: "o"}, {Name: "interfaces", Type: "as"}}},
		},
	}
	return om
}

// documented parses the embedded XML by interface name.
func documented() map[string]introspect.Interface {
	var n introspect.Node
	out := map[string]introspect.Interface{}
	if err := xml.Unmarshal([]byte(IntrospectionXML), &n); err != nil {
		return out
	}
	for _, i := range n.Interfaces {
		out[i.Name] = i
	}
	return out
}

// namedMethods gives the reflected methods the argument names of the
// documentation when their types agree.
func namedMethods(ms []introspect.Method, doc introspect.Interface) []introspect.Method {
	for i := range ms {
		ms[i].Annotations = nil
		for _, d := range doc.Methods {
			if d.Name != ms[i].Name || len(d.Args) != len(ms[i].Args) {
				continue
			}
			for j := range ms[i].Args {
				if d.Args[j].Type == ms[i].Args[j].Type && d.Args[j].Direction == ms[i].Args[j].Direction {
					ms[i].Args[j].Name = d.Args[j].Name
				}
			}
		}
	}
	return ms
}

// propIntrospection describes the properties of p with their real types;
// the EmitsChangedSignal annotation comes from the documentation.
func propIntrospection(p *props, doc introspect.Interface) []introspect.Property {
	var out []introspect.Property
	for _, name := range p.names {
		ip := introspect.Property{Name: name, Type: p.values[name].Signature().String(), Access: "read"}
		for _, d := range doc.Properties {
			if d.Name == name {
				ip.Annotations = d.Annotations
			}
		}
		out = append(out, ip)
	}
	return out
}
