// Package media implements Heartbeat's communication media on top of
// engine.Medium: UDP unicast, broadcast and multicast over IPv4 and IPv6
// (ucast, bcast, mcast, ucast6, mcast6) and the serial ring (serial).
//
// Open turns a list of Spec (one per ha.cf line, mapped by the daemon) into
// media. ucast and bcast lines on the same interface and port share one
// medium (one receive socket; with SO_REUSEADDR two sockets bound to one port
// would split unicast traffic between them), ucast lines naming one of this
// host's own addresses are skipped so that one ha.cf serves every node.
//
// Heartbeats leave from the interface's primary address (the first IPv4
// address without IFA_F_SECONDARY), never from a VIP added later, through a
// send socket separate from the receive socket, as in Heartbeat 3.0.6.
// Received datagrams are not filtered by sender (the engine authenticates
// them) except that packets coming from one of our own addresses (our own
// broadcast or multicast echo) are dropped.
//
// A medium that fails after Open (interface removed, serial hangup) logs
// once, Send returns an error, and the medium reopens itself every
// Options.Retry in its own goroutine; Packets stays open until Close.
// Media live in the network namespace of the thread that called Open.
//
// The package is Linux only (SO_BINDTODEVICE, netlink, termios).
package media
