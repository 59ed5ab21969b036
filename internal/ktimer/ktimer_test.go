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
