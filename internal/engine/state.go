package engine

import (
	"fmt"
	"time"
)

// NodeStatus is a node's status as Heartbeat reports it.
type NodeStatus uint8

// Node statuses. The numeric values are part of the D-Bus API (0 = unknown).
const (
	StatusUnknown NodeStatus = iota
	StatusInit
	StatusUp
	StatusActive
	StatusDead
	StatusPing // a ping node that answers
)

var nodeStatusNames = [...]string{"unknown", "init", "up", "active", "dead", "ping"}

func (s NodeStatus) String() string {
	if int(s) < len(nodeStatusNames) {
		return nodeStatusNames[s]
	}
	return fmt.Sprintf("status(%d)", uint8(s))
}

// ParseNodeStatus maps the st= field of a status message.
func ParseNodeStatus(s string) (NodeStatus, bool) {
	switch s {
	case "init":
		return StatusInit, true
	case "up":
		return StatusUp, true
	case "active":
		return StatusActive, true
	case "dead":
		return StatusDead, true
	case "ping":
		return StatusPing, true
	}
	return StatusUnknown, false
}

// LinkStatus is the status of one medium towards one peer.
type LinkStatus uint8

// Link statuses (0 = unknown, part of the D-Bus API).
const (
	LinkUnknown LinkStatus = iota
	LinkUp
	LinkDead
)

func (s LinkStatus) String() string {
	switch s {
	case LinkUp:
		return "up"
	case LinkDead:
		return "dead"
	}
	return "unknown"
}

// NodeInfo is a snapshot of one node as the engine sees it.
type NodeInfo struct {
	Name       string
	Local      bool
	Ping       bool // a ping node (ha.cf ping / ping_group)
	Status     NodeStatus
	Generation uint64
	LastSeq    uint64
	LastHeard  time.Time // zero when never heard
	Links      []LinkInfo
}

// LinkInfo is a snapshot of one link of a node.
type LinkInfo struct {
	Name      string
	Status    LinkStatus
	LastHeard time.Time
}

// Stats counts what the engine received and why it dropped packets.
type Stats struct {
	Received    uint64 // authenticated, accepted messages
	Malformed   uint64 // not a heartbeat message
	BadAuth     uint64 // wrong digest or unknown key index
	UnknownNode uint64 // src is not a configured node
	Replayed    uint64 // older generation than the node's current one
	Duplicate   uint64 // sequence number already seen (replay or duplicate)
	Own         uint64 // our own packets looped back
	RexmitAsked uint64 // NS_rexmit requests we sent
	RexmitSent  uint64 // retransmissions we served
	RexmitNak   uint64 // requests we could not serve
	GapFilled   uint64 // missing messages that arrived late (retransmitted or reordered)
	Sent        uint64 // datagrams handed to media (per medium)
	SendErrors  uint64
}

// Snapshot is the engine's state at one moment, as returned to requests.
type Snapshot struct {
	LocalNode  string
	Status     NodeStatus
	Generation uint64
	Nodes      []NodeInfo
	Groups     []GroupInfo
	// Holds is which categories of groups this node holds, as 3.0.6's
	// i_hold_resources and rsc_hold: "none", "local" (the groups this node
	// prefers), "foreign" (the others') or "all". A category without
	// groups counts as held once the start-up negotiation is over and no
	// live peer claims it, as in 3.0.6 (a node without haresources lines
	// of its own is "local").
	Holds string
	// Settled is false while resources are negotiated: before the first
	// exchange with the peers is over, during a standby exchange, and while
	// stopping. cl_status rscstatus says "transition" then.
	Settled bool
	Stats   Stats
}

// Node returns the snapshot of the named node.
func (s Snapshot) Node(name string) (NodeInfo, bool) {
	for _, n := range s.Nodes {
		if n.Name == name {
			return n, true
		}
	}
	return NodeInfo{}, false
}
