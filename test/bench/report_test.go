//go:build clustertest && clusterbench

package bench

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A merge keeps the old report's header and systems, puts the re-run
// system in its place with its date, and says so in the text; the JSON
// round trip keeps what the merge needs.
func TestMergeReport(t *testing.T) {
	t0 := time.Date(2026, 12, 7, 15, 33, 0, 0, time.UTC)
	old := &Report{Date: t0, RunsPer: 5, Machine: Machine{Nproc: "2", Load: "0.08"},
		Systems: []*SystemResult{
			{Name: "ours", Scenarios: []ScenarioResult{{Scenario: ScLink}}},
			{Name: "hb", Err: "old failure"},
		},
		Scaling: []*ScaleResult{{Nodes: 2}},
	}
	path := filepath.Join(t.TempDir(), "r.json")
	if err := old.WriteJSON(path); err != nil {
		t.Fatal(err)
	}
	read, err := ReadReport(path)
	if err != nil {
		t.Fatal(err)
	}
	t1 := t0.Add(5 * time.Hour)
	now := &Report{Date: t1, RunsPer: 3, Machine: Machine{Load: "0.31"}, Systems: []*SystemResult{{Name: "hb"}}}
	m := now.Merge(read, []string{"ours", "hb"})
	if !m.Date.Equal(t0) || m.RunsPer != 5 || len(m.Scaling) != 1 {
		t.Fatalf("header not kept: %v %d %d", m.Date, m.RunsPer, len(m.Scaling))
	}
	if len(m.Systems) != 2 || m.Systems[0].Name != "ours" || len(m.Systems[0].Scenarios) != 1 || m.Systems[1].Err != "" {
		t.Fatalf("systems: %+v %+v", m.Systems[0], m.Systems[1])
	}
	if !m.Systems[1].Rerun.Equal(t1) || m.Systems[1].RerunLoad != "0.31" || !m.Systems[0].Rerun.IsZero() {
		t.Fatalf("re-run marks: %v %q / %v", m.Systems[1].Rerun, m.Systems[1].RerunLoad, m.Systems[0].Rerun)
	}
	if g := m.generated(); !strings.Contains(g, "hb: re-run on 2026-12-07 20:33 UTC (load average at start: 0.31)") ||
		strings.Contains(g, "ours: re-run") {
		t.Fatalf("generated text:\n%s", g)
	}
}
