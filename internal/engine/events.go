package engine

import "time"

// Event is something the engine publishes after it changed its state.
// Events are delivered on a bounded channel; a slow reader loses events
// (counted), it never slows the engine.
type Event interface {
	event()
}

// NodeEvent reports a node status change.
type NodeEvent struct {
	At        time.Time
	Node      string
	Old, New  NodeStatus
	Reason    string    // "heartbeat", "deadtime", "initdead", "shutdown", "restart"
	LastHeard time.Time // last sequenced packet received from the node
}

// LinkEvent reports a link status change.
type LinkEvent struct {
	At       time.Time
	Node     string
	Link     string
	Old, New LinkStatus
}

// LateEvent reports that a node has been silent for longer than warntime.
type LateEvent struct {
	At      time.Time
	Node    string
	Silence time.Duration
}

// RestartEvent reports that a node came back with a new generation.
type RestartEvent struct {
	At             time.Time
	Node           string
	OldGen, NewGen uint64
}

func (NodeEvent) event()    {}
func (LinkEvent) event()    {}
func (LateEvent) event()    {}
func (RestartEvent) event() {}

// BadPacketEvent reports a datagram that was dropped: malformed, wrongly
// signed, or from a node that is not configured.
type BadPacketEvent struct {
	At   time.Time
	Link string
	Err  error
}

// SendErrorEvent reports a message that could not be built or signed.
type SendErrorEvent struct {
	At  time.Time
	Err error
}

func (BadPacketEvent) event() {}
func (SendErrorEvent) event() {}

// GroupEvent reports a change of one of our resource groups.
type GroupEvent struct {
	At    time.Time
	Group string
	// Node is, while we acquire the group, the node it comes from: its
	// last owner, or its preferred node when that is not us. Empty when the
	// group is ours anyway.
	Node     string
	Old, New GroupState
	Reason   string
	Err      error
}

func (GroupEvent) event() {}

// StandbyEvent reports a step of a hb_standby exchange with a Heartbeat
// 3.0.6 peer (ask_resources me/other/done).
type StandbyEvent struct {
	At     time.Time
	Peer   string
	Role   string // "me": we go standby; "other": the peer does
	Phase  string // asked, accepted, done, abandoned, ignored
	Which  string // all, local, foreign (relative to the node going standby)
	Reason string
}

func (StandbyEvent) event() {}

// OwnerEvent reports that the owner of a group, as this node sees it,
// changed (a peer took it, released it, or died).
type OwnerEvent struct {
	At         time.Time
	Group      string
	Old, Owner string // "" = nobody
}

func (OwnerEvent) event() {}
