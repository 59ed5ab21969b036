package hbctl

import (
	"strings"
	"time"

	"github.com/linuxha/heartbeat/internal/control"
)

// Cluster is the daemon's view of the cluster, as read from the bus (or the
// control socket).
type Cluster struct {
	LocalNode     string
	State         string // the local node's status: init, up, active, ...
	ResourceState string // cl_status rscstatus: none, local, foreign, all, transition
	Version       string
	AutoFailback  string
	Generation    uint64
	Keepalive     time.Duration
	Deadtime      time.Duration
	Warntime      time.Duration
	Initdead      time.Duration
	Nodes         []Node
	Groups        []Group
	Counters      map[string]uint64 // packet counters (control socket only)
	Source        string            // "dbus" or "control"
}

// Node is one cluster node.
type Node struct {
	Name       string
	Type       string // normal or ping
	Status     string
	Local      bool
	Generation uint64
	LastHeard  time.Time
	Links      []Link
}

// Link is one medium towards a node.
type Link struct {
	Name      string
	Status    string
	LastHeard time.Time
}

// Group is one resource group.
type Group struct {
	Key       string
	Preferred string
	Owner     string
	State     string
	Standby   bool
	Failed    bool
	Resources []string
	// ResourceStates is this node's state of each resource, parallel to
	// Resources (empty from a daemon that does not export it).
	ResourceStates []string
}

// Node returns the named node; names compare case-insensitively, as in
// Heartbeat 3.0.6.
func (c *Cluster) Node(name string) (*Node, bool) {
	for i := range c.Nodes {
		if strings.EqualFold(c.Nodes[i].Name, name) {
			return &c.Nodes[i], true
		}
	}
	return nil, false
}

// The JSON schema of "hbctl status --json". The fields of
// internal/control.Status keep their names and meaning (scripts and the
// cluster tests parse them); the others were added and are marked so.
//
//	{
//	  "node": "hba",              local node name
//	  "state": "active",          local node status
//	  "generation": 7,
//	  "version": "v1.0.0",
//	  "keepalive": "1s",          Go duration strings
//	  "deadtime": "3s",
//	  "warntime": "2s",           added
//	  "initdead": "6s",           added
//	  "auto_failback": "on",      added
//	  "resource_state": "local",  added: as cl_status rscstatus
//	  "source": "dbus",           added: "dbus" or "control"
//	  "nodes": [{"name", "type", "status", "local", "generation",
//	             "last_heard" (RFC 3339, absent when never),
//	             "links": [{"name", "status", "last_heard"}]}],
//	  "groups": [{"key", "preferred", "owner", "state", "standby",
//	              "failed", "resources" (added)}],
//	  "counters": {"received": 1, ...}   absent when unknown
//	}
type statusJSON struct {
	Node          string            `json:"node"`
	State         string            `json:"state"`
	Generation    uint64            `json:"generation"`
	Version       string            `json:"version"`
	Keepalive     string            `json:"keepalive"`
	Deadtime      string            `json:"deadtime"`
	Warntime      string            `json:"warntime,omitempty"`
	Initdead      string            `json:"initdead,omitempty"`
	AutoFailback  string            `json:"auto_failback,omitempty"`
	ResourceState string            `json:"resource_state,omitempty"`
	Source        string            `json:"source"`
	Nodes         []nodeJSON        `json:"nodes"`
	Groups        []groupJSON       `json:"groups"`
	Counters      map[string]uint64 `json:"counters,omitempty"`
}

type nodeJSON struct {
	Name       string     `json:"name"`
	Type       string     `json:"type"`
	Status     string     `json:"status"`
	Local      bool       `json:"local,omitempty"`
	Generation uint64     `json:"generation,omitempty"`
	LastHeard  time.Time  `json:"last_heard,omitzero"`
	Links      []linkJSON `json:"links,omitempty"`
}

type linkJSON struct {
	Name      string    `json:"name"`
	Status    string    `json:"status"`
	LastHeard time.Time `json:"last_heard,omitzero"`
}

type groupJSON struct {
	Key       string   `json:"key"`
	Preferred string   `json:"preferred"`
	Owner     string   `json:"owner"`
	State     string   `json:"state"`
	Standby   bool     `json:"standby,omitempty"`
	Failed    bool     `json:"failed,omitempty"`
	Resources []string `json:"resources,omitempty"`
	// ResourceStates is parallel to Resources.
	ResourceStates []string `json:"resource_states,omitempty"`
}

func durString(d time.Duration) string {
	if d == 0 {
		return ""
	}
	return d.String()
}

func (c *Cluster) json() statusJSON {
	s := statusJSON{
		Node: c.LocalNode, State: c.State, Generation: c.Generation, Version: c.Version,
		Keepalive: c.Keepalive.String(), Deadtime: c.Deadtime.String(),
		Warntime: durString(c.Warntime), Initdead: durString(c.Initdead),
		AutoFailback: c.AutoFailback, ResourceState: c.ResourceState, Source: c.Source,
		Nodes: c.nodesJSON(), Groups: c.groupsJSON(), Counters: c.Counters,
	}
	return s
}

func (c *Cluster) nodesJSON() []nodeJSON {
	out := []nodeJSON{}
	for _, n := range c.Nodes {
		nj := nodeJSON{Name: n.Name, Type: n.Type, Status: n.Status, Local: n.Local, Generation: n.Generation, LastHeard: n.LastHeard}
		for _, l := range n.Links {
			nj.Links = append(nj.Links, linkJSON(l))
		}
		out = append(out, nj)
	}
	return out
}

func (c *Cluster) groupsJSON() []groupJSON {
	out := []groupJSON{}
	for _, g := range c.Groups {
		out = append(out, groupJSON(g))
	}
	return out
}

// fromControl converts what the control socket answered.
func fromControl(st *control.Status) *Cluster {
	c := &Cluster{
		LocalNode: st.Node, State: st.State, Generation: st.Generation, Version: st.Version,
		Counters: st.Counters, Source: "control",
	}
	c.Keepalive, _ = time.ParseDuration(st.Keepalive)
	c.Deadtime, _ = time.ParseDuration(st.Deadtime)
	for _, n := range st.Nodes {
		cn := Node{Name: n.Name, Type: n.Type, Status: n.Status, Local: n.Local, Generation: n.Generation, LastHeard: n.LastHeard}
		for _, l := range n.Links {
			cn.Links = append(cn.Links, Link(l))
		}
		c.Nodes = append(c.Nodes, cn)
	}
	for _, g := range st.Groups {
		c.Groups = append(c.Groups, Group{Key: g.Key, Preferred: g.Preferred, Owner: g.Owner, State: g.State, Standby: g.Standby, Failed: g.Failed})
	}
	return c
}
