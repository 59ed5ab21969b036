package hbctl

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/godbus/dbus/v5"
	"github.com/linuxha/heartbeat/internal/dbusapi"
	"github.com/linuxha/heartbeat/internal/engine"
)

// Source is what the commands need from the daemon.
type Source interface {
	Cluster(ctx context.Context) (*Cluster, error)
	Parameter(ctx context.Context, name string) (string, error)
	Standby(ctx context.Context, which string) error
	Takeover(ctx context.Context, which string) error
	Reload(ctx context.Context) error
	// Watch calls emit for each change the daemon announces until ctx is
	// done or the connection is lost.
	Watch(ctx context.Context, emit func(Change)) error
	Close() error
}

// Change is one announcement of the daemon.
type Change struct {
	Time      time.Time                 `json:"time"`
	Signal    string                    `json:"signal"` // PropertiesChanged, InterfacesAdded, InterfacesRemoved, NameOwnerChanged
	Path      string                    `json:"path,omitempty"`
	Interface string                    `json:"interface,omitempty"`
	Changed   map[string]any            `json:"changed,omitempty"`
	Objects   map[string]map[string]any `json:"objects,omitempty"`
	Owner     string                    `json:"owner,omitempty"` // NameOwnerChanged: new owner, "" when gone
}

// Errors a Source returns, mapped to exit codes.
var (
	ErrNotRunning   = errors.New("heartbeat is not running (not on the bus)")
	ErrAccessDenied = errors.New("access denied: only root and group haclient may do this")
)

// busSource talks to the daemon over D-Bus.
type busSource struct {
	conn *dbus.Conn
}

// DialBus connects to the bus at address ("" = the system bus) and checks
// that the daemon owns its name.
func DialBus(ctx context.Context, address string) (Source, error) {
	var conn *dbus.Conn
	var err error
	if address == "" {
		conn, err = dbus.ConnectSystemBus(dbus.WithContext(ctx))
	} else {
		conn, err = dbus.Connect(address, dbus.WithContext(ctx))
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNotRunning, err)
	}
	var has bool
	if err := conn.BusObject().CallWithContext(ctx, "org.freedesktop.DBus.NameHasOwner", 0, dbusapi.BusName).Store(&has); err != nil {
		conn.Close()
		return nil, mapBusError(err)
	}
	if !has {
		conn.Close()
		return nil, ErrNotRunning
	}
	return &busSource{conn: conn}, nil
}

func (b *busSource) Close() error { return b.conn.Close() }

// mapBusError turns the bus's error names into our sentinel errors.
func mapBusError(err error) error {
	if err == nil {
		return nil
	}
	var de dbus.Error
	name, msg := "", ""
	if errors.As(err, &de) {
		name = de.Name
	} else if dp := (*dbus.Error)(nil); errors.As(err, &dp) {
		name = dp.Name
		de = *dp
	}
	if len(de.Body) > 0 {
		msg, _ = de.Body[0].(string)
	}
	switch name {
	case "org.freedesktop.DBus.Error.AccessDenied":
		return ErrAccessDenied
	case "org.freedesktop.DBus.Error.ServiceUnknown", "org.freedesktop.DBus.Error.NameHasNoOwner",
		"org.freedesktop.DBus.Error.Disconnected", "org.freedesktop.DBus.Error.NoReply":
		return fmt.Errorf("%w: %s", ErrNotRunning, name)
	case "":
		if errors.Is(err, dbus.ErrClosed) {
			return fmt.Errorf("%w: %w", ErrNotRunning, err)
		}
		return err
	}
	if msg == "" {
		msg = name
	}
	return &RemoteError{Name: name, Message: msg}
}

// RemoteError is an error the daemon answered.
type RemoteError struct {
	Name    string // e.g. org.linuxha.Heartbeat1.Error.NoPeer
	Message string
}

func (e *RemoteError) Error() string { return e.Message }

func (b *busSource) call(ctx context.Context, method string, args ...any) *dbus.Call {
	return b.conn.Object(dbusapi.BusName, dbusapi.ManagerPath).CallWithContext(ctx, dbusapi.ManagerInterface+"."+method, 0, args...)
}

func (b *busSource) Standby(ctx context.Context, which string) error {
	return mapBusError(b.call(ctx, "Standby", which).Err)
}

func (b *busSource) Takeover(ctx context.Context, which string) error {
	return mapBusError(b.call(ctx, "Takeover", which).Err)
}

func (b *busSource) Reload(ctx context.Context) error {
	return mapBusError(b.call(ctx, "Reload").Err)
}

func (b *busSource) Parameter(ctx context.Context, name string) (string, error) {
	var v string
	if err := b.call(ctx, "GetParameter", name).Store(&v); err != nil {
		return "", mapBusError(err)
	}
	return v, nil
}

func (b *busSource) Cluster(ctx context.Context) (*Cluster, error) {
	var mgr map[string]dbus.Variant
	root := b.conn.Object(dbusapi.BusName, dbusapi.ManagerPath)
	if err := root.CallWithContext(ctx, dbusapi.PropertiesInterface+".GetAll", 0, dbusapi.ManagerInterface).Store(&mgr); err != nil {
		return nil, mapBusError(err)
	}
	var objs map[dbus.ObjectPath]map[string]map[string]dbus.Variant
	if err := root.CallWithContext(ctx, dbusapi.ObjectManagerInterface+".GetManagedObjects", 0).Store(&objs); err != nil {
		return nil, mapBusError(err)
	}
	return clusterFromBus(mgr, objs), nil
}

// clusterFromBus builds a Cluster from the Manager's properties and the
// managed objects, in the Manager's order.
func clusterFromBus(mgr map[string]dbus.Variant, objs map[dbus.ObjectPath]map[string]map[string]dbus.Variant) *Cluster {
	p := props(mgr)
	c := &Cluster{
		LocalNode: p.str("LocalNode"), State: engine.NodeStatus(p.u32("NodeState")).String(),
		ResourceState: p.str("ResourceState"), Version: p.str("Version"), AutoFailback: p.str("AutoFailback"),
		Generation: p.u64("Generation"),
		Keepalive:  usecDur(p.u64("KeepaliveUSec")), Deadtime: usecDur(p.u64("DeadtimeUSec")),
		Warntime: usecDur(p.u64("WarntimeUSec")), Initdead: usecDur(p.u64("InitdeadUSec")),
		Source: "dbus",
	}
	var nodePaths, groupPaths []dbus.ObjectPath
	mgr["Nodes"].Store(&nodePaths)
	mgr["Groups"].Store(&groupPaths)
	for _, path := range nodePaths {
		np := props(objs[path][dbusapi.NodeInterface])
		if np == nil {
			continue
		}
		n := Node{Name: np.str("Name"), Type: np.str("Type"), Status: np.str("StatusText"), Local: np.bool("Local"),
			Generation: np.u64("Generation"), LastHeard: usecTime(np.u64("LastHeardUSec"))}
		var links []dbusapi.Link
		np["Links"].Store(&links)
		var heard map[string]uint64
		np["LinkLastHeardUSec"].Store(&heard)
		for _, l := range links {
			n.Links = append(n.Links, Link{Name: l.Name, Status: engine.LinkStatus(l.Status).String(), LastHeard: usecTime(heard[l.Name])})
		}
		c.Nodes = append(c.Nodes, n)
	}
	for _, path := range groupPaths {
		gp := props(objs[path][dbusapi.GroupInterface])
		if gp == nil {
			continue
		}
		g := Group{Key: gp.str("Key"), Preferred: gp.str("PreferredNode"), Owner: gp.str("Owner"), State: gp.str("StateText"),
			Standby: gp.bool("Standby"), Failed: gp.bool("Failed")}
		gp["Resources"].Store(&g.Resources)
		var rs []dbusapi.GroupResource
		if gp["ResourceStates"].Store(&rs) == nil && len(rs) == len(g.Resources) {
			for _, r := range rs {
				g.ResourceStates = append(g.ResourceStates, r.State)
			}
		}
		c.Groups = append(c.Groups, g)
	}
	return c
}

type props map[string]dbus.Variant

func (p props) str(k string) string  { s, _ := p[k].Value().(string); return s }
func (p props) u32(k string) uint32  { v, _ := p[k].Value().(uint32); return v }
func (p props) u64(k string) uint64  { v, _ := p[k].Value().(uint64); return v }
func (p props) bool(k string) bool   { v, _ := p[k].Value().(bool); return v }
func usecDur(u uint64) time.Duration { return time.Duration(u) * time.Microsecond }

func usecTime(u uint64) time.Time {
	if u == 0 {
		return time.Time{}
	}
	return time.UnixMicro(int64(u))
}

func (b *busSource) Watch(ctx context.Context, emit func(Change)) error {
	if err := b.conn.AddMatchSignalContext(ctx, dbus.WithMatchSender(dbusapi.BusName)); err != nil {
		return mapBusError(err)
	}
	if err := b.conn.AddMatchSignalContext(ctx, dbus.WithMatchObjectPath("/org/freedesktop/DBus"),
		dbus.WithMatchMember("NameOwnerChanged"), dbus.WithMatchArg(0, dbusapi.BusName)); err != nil {
		return mapBusError(err)
	}
	ch := make(chan *dbus.Signal, 64)
	b.conn.Signal(ch)
	defer b.conn.RemoveSignal(ch)
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-b.conn.Context().Done():
			return fmt.Errorf("%w: connection to the bus lost", ErrNotRunning)
		case s := <-ch:
			if c, ok := changeOf(s); ok {
				emit(c)
			}
		}
	}
}

// changeOf decodes a signal of the daemon (or of the bus about its name).
func changeOf(s *dbus.Signal) (Change, bool) {
	c := Change{Time: time.Now(), Path: string(s.Path)}
	switch s.Name {
	case dbusapi.PropertiesInterface + ".PropertiesChanged":
		if len(s.Body) < 2 {
			return c, false
		}
		c.Signal = "PropertiesChanged"
		c.Interface, _ = s.Body[0].(string)
		c.Changed = plain(s.Body[1].(map[string]dbus.Variant))
	case dbusapi.ObjectManagerInterface + ".InterfacesAdded":
		if len(s.Body) < 2 {
			return c, false
		}
		c.Signal = "InterfacesAdded"
		p, _ := s.Body[0].(dbus.ObjectPath)
		c.Path = string(p)
		c.Objects = map[string]map[string]any{}
		if m, ok := s.Body[1].(map[string]map[string]dbus.Variant); ok {
			for iface, v := range m {
				c.Objects[iface] = plain(v)
			}
		}
	case dbusapi.ObjectManagerInterface + ".InterfacesRemoved":
		if len(s.Body) < 1 {
			return c, false
		}
		c.Signal = "InterfacesRemoved"
		p, _ := s.Body[0].(dbus.ObjectPath)
		c.Path = string(p)
	case "org.freedesktop.DBus.NameOwnerChanged":
		if len(s.Body) < 3 {
			return c, false
		}
		c.Signal = "NameOwnerChanged"
		c.Path = ""
		c.Owner, _ = s.Body[2].(string)
	default:
		return c, false
	}
	return c, true
}

func plain(m map[string]dbus.Variant) map[string]any {
	out := map[string]any{}
	for k, v := range m {
		switch x := v.Value().(type) {
		case [][]any: // a(su)
			var links []map[string]any
			for _, e := range x {
				if len(e) == 2 {
					links = append(links, map[string]any{"name": e[0], "status": e[1]})
				}
			}
			out[k] = links
		default:
			out[k] = x
		}
	}
	return out
}
