package engine

import "testing"

func TestSeqWindow(t *testing.T) {
	type step struct {
		seq  uint64
		want bool
	}
	tests := []struct {
		name      string
		steps     []step
		wantBase  uint64
		wantGap   bool
		gapFirst  uint64
		gapLast   uint64
		wantSeen  []uint64
		wantNotIn []uint64
	}{
		{name: "in order", steps: []step{{5, true}, {6, true}, {7, true}}, wantBase: 7, wantSeen: []uint64{5, 6, 7}, wantNotIn: []uint64{8}},
		{name: "duplicate", steps: []step{{5, true}, {6, true}, {6, false}, {5, false}}, wantBase: 6},
		{name: "gap", steps: []step{{1, true}, {2, true}, {5, true}}, wantBase: 2, wantGap: true, gapFirst: 3, gapLast: 4, wantNotIn: []uint64{3, 4}, wantSeen: []uint64{5}},
		{name: "gap filled", steps: []step{{1, true}, {4, true}, {3, true}, {2, true}}, wantBase: 4},
		{name: "two gaps report first", steps: []step{{1, true}, {3, true}, {6, true}}, wantBase: 1, wantGap: true, gapFirst: 2, gapLast: 2},
		{name: "dup inside window", steps: []step{{1, true}, {3, true}, {3, false}}, wantBase: 1, wantGap: true, gapFirst: 2, gapLast: 2},
		{name: "far jump", steps: []step{{1, true}, {1000, true}, {1000, false}}, wantBase: 1000 - winSize, wantGap: true, gapFirst: 1000 - winSize + 1, gapLast: 999},
		{name: "old after far jump", steps: []step{{1, true}, {1000, true}, {2, false}}, wantBase: 1000 - winSize, wantGap: true, gapFirst: 1000 - winSize + 1, gapLast: 999},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var w seqWindow
			for i, s := range tt.steps {
				if got := w.accept(s.seq); got != s.want {
					t.Fatalf("step %d: accept(%d) = %v, want %v", i, s.seq, got, s.want)
				}
			}
			if w.base != tt.wantBase {
				t.Errorf("base = %d, want %d", w.base, tt.wantBase)
			}
			f, l, ok := w.gap()
			if ok != tt.wantGap || (ok && (f != tt.gapFirst || l != tt.gapLast)) {
				t.Errorf("gap() = %d..%d %v, want %d..%d %v", f, l, ok, tt.gapFirst, tt.gapLast, tt.wantGap)
			}
			for _, s := range tt.wantSeen {
				if !w.seen(s) {
					t.Errorf("seen(%d) = false", s)
				}
			}
			for _, s := range tt.wantNotIn {
				if w.seen(s) {
					t.Errorf("seen(%d) = true", s)
				}
			}
		})
	}
}

func TestSeqWindowSkip(t *testing.T) {
	var w seqWindow
	for _, s := range []uint64{1, 4, 5, 8} {
		w.accept(s)
	}
	w.skip(3)
	if w.base != 5 {
		t.Fatalf("base after skip(3) = %d, want 5", w.base)
	}
	f, l, ok := w.gap()
	if !ok || f != 6 || l != 7 {
		t.Fatalf("gap = %d..%d %v, want 6..7", f, l, ok)
	}
}
