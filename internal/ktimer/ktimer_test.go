package ktimer

import (
	"testing"
	"time"
)

func TestKernelTimerFires(t *testing.T) {
	start := time.Now()
	tm, err := NewKernelTimer(20 * time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	defer tm.Stop()
	select {
	case at := <-tm.C():
		if d := at.Sub(start); d < 20*time.Millisecond {
			t.Errorf("fired after %v, want at least 20ms", d)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("timer did not fire")
	}
	// One shot: nothing more until Reset.
	select {
	case <-tm.C():
		t.Fatal("fired twice")
	case <-time.After(50 * time.Millisecond):
	}
	for _, d := range []time.Duration{0, -time.Second} {
		tm.Reset(d) // at once
		select {
		case <-tm.C():
		case <-time.After(5 * time.Second):
			t.Fatalf("Reset(%v) did not fire", d)
		}
	}
}

// A Reset to later drops the earlier expiry, even one already due: the loop
// never sees a value from before its last Reset.
func TestKernelTimerResetDropsStale(t *testing.T) {
	tm, err := NewKernelTimer(time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	defer tm.Stop()
	time.Sleep(20 * time.Millisecond) // expired, value pending (a timerfd runs on the kernel clock: no synctest here)
	start := time.Now()
	tm.Reset(100 * time.Millisecond)
	select {
	case at := <-tm.C():
		if d := at.Sub(start); d < 100*time.Millisecond {
			t.Errorf("stale expiry after Reset: %v after it", d)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("timer did not fire after Reset")
	}
}

func TestKernelTimerStop(t *testing.T) {
	tm, err := NewKernelTimer(10 * time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	tm.Stop()
	tm.Stop()
	tm.Reset(time.Millisecond) // no effect once stopped
	select {
	case <-tm.C():
		t.Fatal("fired after Stop")
	case <-time.After(50 * time.Millisecond):
	}
}

// A periodic timer moved to the next point of its grid is not re-armed (no
// timerfd_settime), yet fires there and not at a grid point before it; a
// deadline off the grid re-arms it.
func TestPeriodicKernelTimerGrid(t *testing.T) {
	const period = 50 * time.Millisecond // room for a slow CI between an expiry and the next ResetAt
	tm, err := newKernelTimer(time.Hour, period)
	if err != nil {
		t.Fatal(err)
	}
	defer tm.Stop()
	settimes := func() int {
		tm.mu.Lock()
		defer tm.mu.Unlock()
		return tm.settimes
	}
	wait := func(deadline time.Time) {
		t.Helper()
		select {
		case at := <-tm.C():
			if at.Before(deadline) {
				t.Fatalf("fired %v before its deadline", deadline.Sub(at))
			}
		case <-time.After(5 * time.Second):
			t.Fatal("timer did not fire")
		}
	}
	d0 := time.Now().Add(2 * period)
	tm.ResetAt(d0, period)
	if n := settimes(); n != 2 {
		t.Fatalf("%d settime calls after creation and ResetAt, want 2", n)
	}
	wait(d0)
	steps := []struct {
		after, period time.Duration
		rearmed       bool
	}{
		{period, period, false},
		{2 * period, period, false},
		{4 * period, period, true}, // a point beyond the next: re-armed, no wake-up between
		{5 * period, period, false},
		{5*period + period/2, period, true},
		{6*period + period/2, period, false},    // the new grid
		{8*period + period/2, 2 * period, true}, // a reload changed the keepalive
		{10*period + period/2, 2 * period, false},
		{9 * period, 2 * period, true}, // the past: at once, re-armed
	}
	for _, s := range steps {
		before := settimes()
		d := d0.Add(s.after)
		tm.ResetAt(d, s.period)
		if got := settimes() > before; got != s.rearmed {
			t.Fatalf("ResetAt(d0+%v, %v): re-armed %v, want %v", s.after, s.period, got, s.rearmed)
		}
		wait(d)
	}
}

// Without a period every arming is a one-shot timerfd_settime.
func TestKernelTimerNoPeriod(t *testing.T) {
	tm, err := newKernelTimer(time.Hour, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer tm.Stop()
	d := time.Now().Add(5 * time.Millisecond)
	for range 3 {
		tm.ResetAt(d, 0)
		select {
		case at := <-tm.C():
			if at.Before(d) {
				t.Fatalf("fired before its deadline")
			}
		case <-time.After(5 * time.Second):
			t.Fatal("timer did not fire")
		}
		d = d.Add(5 * time.Millisecond)
	}
	tm.mu.Lock()
	n := tm.settimes
	tm.mu.Unlock()
	if n != 4 {
		t.Fatalf("%d settime calls, want 4 (creation and 3 arms)", n)
	}
}
