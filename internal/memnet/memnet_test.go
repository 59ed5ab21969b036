package memnet

import (
	"fmt"
	"slices"
	"testing"
)

// received drains what node got: the payloads, in order.
func received(t *testing.T, ep *Endpoint) []string {
	t.Helper()
	var out []string
	for {
		select {
		case p := <-ep.Packets():
			out = append(out, string(p.Data))
		default:
			return out
		}
	}
}

// Seeded loss is the same run every time: the frames a pair loses depend on
// the seed and on that pair's own frames, not on what other nodes send in
// between or in which order the segment's endpoints are visited.
func TestSeededLossPerPair(t *testing.T) {
	run := func(seed uint64, noise bool) []string {
		n := New("eth0", seed)
		n.SetLoss(0.3)
		a, b := n.Attach("a"), n.Attach("b")
		var c *Endpoint
		if noise {
			c = n.Attach("c")
		}
		for i := range 200 {
			if err := a.Send(fmt.Appendf(nil, "a%d", i)); err != nil {
				t.Fatal(err)
			}
			if noise && i%3 == 0 {
				if err := c.Send(fmt.Appendf(nil, "c%d", i)); err != nil {
					t.Fatal(err)
				}
			}
		}
		var fromA []string
		for _, s := range received(t, b) {
			if s[0] == 'a' {
				fromA = append(fromA, s)
			}
		}
		return fromA
	}
	quiet, busy := run(7, false), run(7, true)
	if len(quiet) < 100 || len(quiet) > 180 {
		t.Fatalf("b got %d of a's 200 frames at 30%% loss", len(quiet))
	}
	if !slices.Equal(quiet, busy) {
		t.Errorf("a -> b lost different frames when c also sent (%d vs %d delivered)", len(quiet), len(busy))
	}
	if other := run(8, false); slices.Equal(quiet, other) {
		t.Errorf("seeds 7 and 8 lost the same frames")
	}
}
