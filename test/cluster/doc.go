//go:build clustertest

// Package cluster is the tier-3 test harness: it boots real systemd nodes with
// systemd-nspawn, each on a throwaway tmpfs overlay of the host root and in its own
// network namespace, joins them with a bridge (and optionally a second one and pty
// serial links), adds a client namespace on the same segment, and tears everything
// down again in t.Cleanup. See /work/shared/LAB.md for the recipes it follows.
//
// It needs root on a Debian 12 host with systemd-container, iproute2, iputils-ping,
// tcpdump, socat and dbus installed. Run it with
//
//	make test-cluster
//
// or go test -count=1 -tags clustertest -v ./test/cluster/ after make build.
package cluster
