// Package resource defines what the failover engine needs from a haresources
// resource: an Agent that can start, stop and report the state of one
// resource token. The package itself imports neither netlink nor D-Bus, so
// the engine can depend on it; the implementations live in sub-packages:
//
//   - vip: IPaddr, IPaddr2 and IPv6addr (and bare addresses), added and
//     removed with netlink and announced with gratuitous ARP or unsolicited
//     neighbour advertisements sent from raw AF_PACKET sockets;
//   - unit: systemd units started and stopped over D-Bus, and the "respawn"
//     children of ha.cf run as transient units;
//   - script: Heartbeat resource scripts and LSB init scripts, run without a
//     shell, with Heartbeat's status-text rules;
//   - resolve: turns a parsed haresources token into one of the above.
//
// # Which implementation a name gets
//
// A token that the configuration parsed as an address (IPaddr::, IPaddr2::,
// IPv6addr:: or a bare address) is always a VIP. For any other NAME, resolve
// decides in this order, and logs the decision with the key "resource":
//
//  1. an executable /etc/ha.d/resource.d/NAME: it was written for
//     Heartbeat and is the only kind that takes "::" arguments;
//  2. a systemd unit NAME.service (or NAME itself when it already has a unit
//     suffix) whose LoadState is not "not-found" and that is not generated
//     from an /etc/init.d script (its SourcePath is not /etc/init.d/...):
//     a native unit file is the authoritative way to run the service;
//  3. an executable /etc/init.d/NAME: LSB scripts also show up as units made
//     by systemd-sysv-generator, but those units stay "active (exited)"
//     after the daemon died, so the script's own status is the better judge;
//  4. a generated unit whose script has disappeared, as a last resort.
//
// A token with "::" arguments is never a unit (units take no arguments).
// Without a reachable systemd, step 2 and 4 are skipped. Nothing found is
// the error "cannot locate resource script NAME", as in Heartbeat.
package resource

import (
	"context"
	"errors"
)

// State is the observed state of a resource.
type State uint8

// Resource states. Failed means "not running, and in a failed state" (a
// systemd unit in "failed", an LSB status of 1 or 2); the engine treats it
// as not running.
const (
	Unknown State = iota
	Stopped
	Running
	Failed
)

func (s State) String() string {
	switch s {
	case Stopped:
		return "stopped"
	case Running:
		return "running"
	case Failed:
		return "failed"
	}
	return "unknown"
}

// Agent manages one haresources resource. Start and Stop are idempotent:
// starting a running resource and stopping a stopped one succeed. All
// methods may block for as long as the operation takes (bounded by ctx and
// by the agent's own timeout); they are safe to call from one goroutine at
// a time.
type Agent interface {
	// Token is the haresources token the agent was made for.
	Token() string
	Start(ctx context.Context) error
	Stop(ctx context.Context) error
	Status(ctx context.Context) (State, error)
}

// ErrNotFound is wrapped by the error returned when no script or unit
// exists for a resource name.
var ErrNotFound = errors.New("cannot locate resource script")
