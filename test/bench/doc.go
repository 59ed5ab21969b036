//go:build clustertest && clusterbench

// Package bench is the cluster benchmark behind make bench-cluster: on the
// tier-3 lab harness (test/cluster) it runs our heartbeat, keepalived and
// Debian's Heartbeat 3.0.6 side by side, injects faults (kill -9, SIGSTOP,
// link down, power off, planned handover, failback) while a client pings the
// VIP every 20 ms, and measures the client-visible outage, the detection time,
// the footprint (RSS, CPU, packets/s) of each system and how ours scales from
// 2 to 16 nodes. It is a benchmark, not a test: it writes a table into
// docs/benchmarks.md and a plot into docs/benchmarks.png and fails only when
// the lab itself cannot be built.
//
// Run it with scripts/bench (root, after make build).
package bench
