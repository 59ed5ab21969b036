//go:build roottest

package ping

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os/exec"
	"runtime"
	"testing"
	"time"

	"github.com/vishvananda/netns"
)

func ipCmd(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		t.Fatalf("ip %v: %v\n%s", args, err, out)
	}
}

// TestRootPingNodes pings a live and a dead address from a throwaway
// namespace: only the live one answers.
func TestRootPingNodes(t *testing.T) {
	a, b := fmt.Sprintf("hbp-%d-a", rand.IntN(1e6)), fmt.Sprintf("hbp-%d-b", rand.IntN(1e6))
	ipCmd(t, "netns", "add", a)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", a).Run() })
	ipCmd(t, "netns", "add", b)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", b).Run() })
	ipCmd(t, "link", "add", "veth0", "netns", a, "type", "veth", "peer", "name", "veth0", "netns", b)
	ipCmd(t, "-n", a, "addr", "add", "10.97.0.1/24", "dev", "veth0")
	ipCmd(t, "-n", b, "addr", "add", "10.97.0.2/24", "dev", "veth0")
	ipCmd(t, "-n", a, "link", "set", "veth0", "up")
	ipCmd(t, "-n", b, "link", "set", "veth0", "up")

	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := netns.Get()
	if err != nil {
		t.Fatal(err)
	}
	defer netns.Set(orig)
	h, err := netns.GetFromName(a)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if err := netns.Set(h); err != nil {
		t.Fatal(err)
	}

	live, dead := netip.MustParseAddr("10.97.0.2"), netip.MustParseAddr("10.97.0.99")
	p := New([]Target{{Node: "live", Addr: live}, {Node: "dead", Addr: dead}}, 50*time.Millisecond, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 600*time.Millisecond)
	defer cancel()
	got := map[string]int{}
	replies := make(chan Reply, 100)
	// Run opens its sockets on this (namespaced) thread.
	if err := p.Run(ctx, func(r Reply) { replies <- r }); err != nil {
		t.Fatal(err)
	}
	close(replies)
	for r := range replies {
		got[r.Node]++
		if r.Node == "live" && r.Addr != live {
			t.Errorf("reply attributed to %v", r.Addr)
		}
	}
	if got["live"] < 5 || got["dead"] != 0 {
		t.Errorf("replies = %v, want many from live, none from dead", got)
	}
}
