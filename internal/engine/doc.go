// Package engine is the membership engine of heartbeat: one goroutine owns
// the cluster state and runs an event loop over received packets, timers and
// requests. The decisions are made by a pure state machine (core) that takes
// the current time and an input and returns actions (datagrams to send,
// events to publish); the loop only executes them.
//
// The engine knows nodes, links, generations and sequence numbers, and the
// retransmission protocol of Heartbeat 3.0.6 (NS_rexmit, NS_ackmsg). It runs
// over the small Medium interface and never imports netlink, D-Bus or systemd.
package engine
