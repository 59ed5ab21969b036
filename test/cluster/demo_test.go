//go:build clustertest

package cluster

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestDemo is `make demo`: a two-node cluster serving a page on a VIP, with a
// live view while the active node is killed, brought back, and its cable
// pulled. It runs only with HEARTBEAT_DEMO=1 (scripts/demo sets it); Ctrl-C
// stops it and everything is cleaned up.
func TestDemo(t *testing.T) {
	if os.Getenv("HEARTBEAT_DEMO") == "" {
		t.Skip("the demo runs with HEARTBEAT_DEMO=1 (make demo)")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	say := func(format string, a ...any) { fmt.Printf("\n==> "+format+"\n", a...) }
	// fail stops the demo; after a Ctrl-C it only cleans up (no failure,
	// no journal dump).
	fail := func(err error) {
		t.Helper()
		if ctx.Err() != nil {
			fmt.Println("\ninterrupted: cleaning up")
			t.SkipNow()
		}
		t.Fatal(err)
	}

	say("booting two nodes (real systemd in network namespaces) and a client")
	h := newHALab(t, haSetup{AutoFailback: "on"})
	say("heartbeat runs on node1 (%s) and node2 (%s); VIP %s serves a page naming its node", h.Addr(1), h.Addr(2), h.VIP)
	if _, err := h.waitOwner(ctx, "node1", 20*time.Second); err != nil {
		fail(err)
	}
	p := startProber(t, h.Client, h.VIP)
	if _, err := p.waitServed(ctx, "node1", time.Now(), 5*time.Second); err != nil {
		fail(err)
	}
	view := h.liveView(ctx, p)
	defer view()

	type step struct {
		what   string
		do     func() error
		expect string
	}
	var results []string
	steps := []step{
		{"power off node1 (the active node) hard", h.Node(1).PowerOff, "node2"},
		{"bring node1 back (boot, start heartbeat): auto_failback returns the VIP", func() error {
			if err := h.Node(1).Start(ctx); err != nil {
				return err
			}
			_, err := h.Node(1).Run(ctx, "systemctl", "start", "heartbeat")
			return err
		}, "node1"},
		{"pull node1's network cable", h.Node(1).CutLink, "node2"},
		{"plug it back in: the split brain heals, node1 (preferred) keeps the VIP", h.Node(1).RestoreLink, "node1"},
	}
	for _, s := range steps {
		if ctx.Err() != nil {
			break
		}
		time.Sleep(2 * time.Second)
		say("%s", s.what)
		from := time.Now()
		if err := s.do(); err != nil {
			fail(fmt.Errorf("%s: %w", s.what, err))
		}
		if _, err := p.waitServed(ctx, s.expect, from, 30*time.Second); err != nil {
			if ctx.Err() != nil {
				break
			}
			fail(fmt.Errorf("%s: %w", s.what, err))
		}
		p.settle(ctx, time.Now(), time.Second)
		// Include the successes just before the fault: failures before the
		// first success do not count.
		o := longestOutage(p.since(from.Add(-time.Second)))
		r := fmt.Sprintf("%-72s client outage %v (%d failed requests)", s.what, o.Gap.Round(time.Millisecond), o.Failed)
		if o.Failed == 0 {
			r = fmt.Sprintf("%-72s client outage none", s.what)
		}
		results = append(results, r)
		say("now served by %s; %s", s.expect, strings.TrimSpace(r[72:]))
	}
	view()
	if ctx.Err() != nil {
		fmt.Println("\ninterrupted: cleaning up")
		return
	}
	fmt.Println("\nWhat the client saw (an HTTP GET of the VIP every 50 ms):")
	for _, r := range results {
		fmt.Println("  " + r)
	}
	fmt.Println("\nCleaning up: nodes, namespaces and mounts are removed.")
}

// liveView prints, twice a second, who holds the VIP, each node's state and
// the client's last answers. The returned func stops it.
func (h *haLab) liveView(ctx context.Context, p *prober) func() {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	start := time.Now()
	go func() {
		defer close(done)
		t := time.NewTicker(500 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			holders, _ := h.holders(ctx)
			var nodes []string
			for _, n := range h.Nodes() {
				state := "off"
				if n.Running() {
					state = "heartbeat down"
					if st, err := h.status(ctx, n); err == nil {
						state = st.State
					}
				}
				nodes = append(nodes, fmt.Sprintf("%s %-6s", n.Hostname, state))
			}
			rs := p.since(time.Now().Add(-500 * time.Millisecond))
			var answers []string
			for _, r := range rs {
				if r.ok() {
					answers = append(answers, strings.TrimPrefix(r.Node, "node"))
				} else {
					answers = append(answers, "x")
				}
			}
			vip := strings.Join(holders, "+")
			if vip == "" {
				vip = "nobody"
			}
			fmt.Printf("  %6.1fs  VIP on %-11s | %s | client: %s\n", time.Since(start).Seconds(), vip, strings.Join(nodes, " | "), strings.Join(answers, ""))
		}
	}()
	var once bool
	return func() {
		if !once {
			once = true
			cancel()
			<-done
		}
	}
}
