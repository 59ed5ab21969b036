package resource

import "testing"

func TestStateString(t *testing.T) {
	for s, want := range map[State]string{Unknown: "unknown", Stopped: "stopped", Running: "running", Failed: "failed", State(9): "unknown"} {
		if got := s.String(); got != want {
			t.Errorf("State(%d) = %q, want %q", s, got, want)
		}
	}
}
