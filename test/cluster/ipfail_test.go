//go:build clustertest

package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/linuxha/heartbeat/internal/control"
)

// TestIpfail: heartbeats run over eth1, the VIP and the ping node (the
// client) are on eth0. Cutting node1's eth0 leaves node1 alive but unable to
// reach the ping node: its group goes to node2, which still reaches it.
// When both lose the ping node, nothing moves.
func TestIpfail(t *testing.T) {
	lab := New(t, Options{Nodes: 2, SecondNet: true})
	ipfailScenario(t, lab, "ping "+lab.Client.Addr, lab.Client.Addr)
}

// TestIpfailPingGroup is TestIpfail with a ping_group of the client and an
// address nobody answers on: the group counts as one ping node, up while
// any member replies, so the silent member changes nothing and only losing
// the client moves the group.
func TestIpfailPingGroup(t *testing.T) {
	lab := New(t, Options{Nodes: 2, SecondNet: true})
	ipfailScenario(t, lab, "ping_group uplink "+lab.Client.Addr+" "+lab.Addr(250), "uplink")
}

// ipfailScenario runs the ipfail checks with pingLine (one ping or
// ping_group line) whose pseudo-node is named pingName.
func ipfailScenario(t *testing.T, lab *Lab, pingLine, pingName string) {
	vip := lab.Addr(100)
	hacf := fmt.Sprintf(`keepalive 100ms
warntime 300ms
deadtime 500ms
deadping 500ms
initdead 5
auto_failback on
ucast eth1 %s
ucast eth1 %s
%s
respawn hacluster /usr/lib/heartbeat/ipfail
node node1 node2
`, lab.Addr2(1), lab.Addr2(2), pingLine)
	for _, n := range lab.Nodes() {
		if err := n.WriteHaConfig(hacf, "node1 "+vip+"/24/eth0\n", "auth 1\n1 sha1 ipfail-test\n"); err != nil {
			t.Fatal(err)
		}
	}
	if err := lab.InstallBinaries(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for _, n := range lab.Nodes() {
		if _, err := n.Run(ctx, "systemctl", "start", "heartbeat"); err != nil {
			t.Fatal(err)
		}
	}
	owner := func(n *Node) (string, string) {
		out, err := n.Run(ctx, "hbctl", "status", "--json")
		if err != nil {
			return "", err.Error()
		}
		var st control.Status
		if err := json.Unmarshal([]byte(out), &st); err != nil || len(st.Groups) != 1 {
			return "", out
		}
		var pings []string
		for _, nd := range st.Nodes {
			if nd.Type == "ping" {
				pings = append(pings, nd.Name+"="+nd.Status)
			}
		}
		return st.Groups[0].Owner, strings.Join(pings, ",")
	}
	waitOwner := func(want string, within time.Duration) {
		t.Helper()
		deadline := time.Now().Add(within)
		for {
			o1, p1 := owner(lab.Node(1))
			o2, p2 := owner(lab.Node(2))
			if o1 == want && o2 == want {
				t.Logf("both nodes: owner %s (ping nodes: node1 %s, node2 %s)", want, p1, p2)
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("owner not %s within %v: node1 says %q (%s), node2 says %q (%s)", want, within, o1, p1, o2, p2)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	waitOwner("node1", 15*time.Second)
	for _, n := range lab.Nodes() {
		if _, p := owner(n); p != pingName+"=ping" {
			t.Errorf("%s reports its ping nodes as %q, want %s ping (reachable)", n.Hostname, p, pingName)
		}
	}
	if err := lab.Client.Ping(ctx, vip, 5*time.Second); err != nil {
		t.Fatalf("client cannot reach the VIP on node1: %v", err)
	}

	// node1 loses its path to the ping node (and the VIP's segment) only.
	cut := time.Now()
	if err := lab.Node(1).CutMedium(0); err != nil {
		t.Fatal(err)
	}
	waitOwner("node2", 10*time.Second)
	t.Logf("group moved to node2 %v after node1 lost the ping node", time.Since(cut).Round(time.Millisecond))
	if err := lab.Client.Ping(ctx, vip, 5*time.Second); err != nil {
		t.Errorf("client cannot reach the VIP on node2: %v", err)
	}

	// The path comes back: equal counts, auto_failback returns the group.
	if err := lab.Node(1).RestoreMedium(0); err != nil {
		t.Fatal(err)
	}
	waitOwner("node1", 10*time.Second)

	// Both lose the ping node: equal counts, nothing moves.
	for _, n := range lab.Nodes() {
		if err := n.CutMedium(0); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(2 * time.Second)
	waitOwner("node1", time.Second)
	if _, p := owner(lab.Node(1)); p != pingName+"=dead" {
		t.Errorf("node1 reports its ping nodes as %q, want %s dead", p, pingName)
	}
	journal, _ := lab.Node(1).Journal(ctx, "heartbeat")
	if !strings.Contains(journal, "ipfail is built in") {
		t.Errorf("the respawn line of ipfail was not recognised as built in")
	}
}
