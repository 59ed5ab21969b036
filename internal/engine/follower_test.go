package engine

import (
	"testing"
	"time"

	"github.com/linuxha/heartbeat/internal/wire"
)

// A node in step with its peer (it follows) may never see its own timer
// fire: every keepalive of the peer arrives just before its round is due,
// and the round runs early, with the packet. The periodic work of the
// round must run all the same. Here hbb has a group whose stop failed and
// is due to be retried, a job with no deadline in nextWake: the retry
// must come within a round or two. Two cores on a simulated wire, 1 ms
// each way, 1 ms steps, packets handled before timers.
func TestFollowerRunsItsRounds(t *testing.T) {
	keys := &wire.Keyring{Active: 1, Keys: map[int]wire.Key{1: {Index: 1, Method: wire.MethodSHA1, Secret: []byte("s")}}}
	cfg := func(local string) Config {
		return Config{LocalNode: local, Nodes: []string{"hba", "hbb"}, Keepalive: 20 * time.Millisecond,
			Deadtime: 80 * time.Millisecond, Warntime: 60 * time.Millisecond, Initdead: time.Second,
			Hopfudge: 1, Keys: keys, Generation: 1, Groups: []GroupConfig{{Key: "10.0.0.10", Preferred: "hbb"}}}
	}
	a := newCore(cfg("hba"), []string{"eth0"})
	now := time.Now()
	a.start(now)
	now = now.Add(7 * time.Millisecond) // another phase
	b := newCore(cfg("hbb"), []string{"eth0"})
	b.start(now)
	settled := now.Add(time.Second) // in step from here on
	retryAt := settled.Add(100 * time.Millisecond)
	var retried time.Time

	type flight struct {
		at   time.Time
		to   *core
		data []byte
	}
	var inFlight []flight
	bTicks := 0
	emit := func(from *core, acts []action) {
		to := a
		if from == a {
			to = b
		}
		for _, act := range acts {
			if from == b && act.op == opRelease && retried.IsZero() {
				retried = now
			}
			if act.data != nil {
				inFlight = append(inFlight, flight{now.Add(time.Millisecond), to, append([]byte(nil), act.data...)})
			}
		}
	}
	for end := settled.Add(time.Second); now.Before(end); now = now.Add(time.Millisecond) {
		if now.Equal(settled) { // the stop of hbb's group failed; retry soon
			g := b.groups[0]
			g.state, g.busy, g.retryAt = GroupStopping, true, retryAt
		}
		var later []flight
		n := len(inFlight) // recv below may add more, for the next steps
		for _, f := range inFlight[:n] {
			if f.at.After(now) {
				later = append(later, f)
				continue
			}
			emit(f.to, f.to.recv(now, now, 0, f.data))
		}
		inFlight = append(later, inFlight[n:]...)
		for _, c := range []*core{a, b} {
			if !now.Before(c.nextWake()) {
				if c == b && now.After(settled) {
					bTicks++
				}
				emit(c, c.tick(now))
			}
		}
	}
	t.Logf("hbb: %d timer rounds in 1 s, stop retried %v after it was due", bTicks, retried.Sub(retryAt))
	if bTicks > 5 {
		t.Fatalf("hbb's timer fired %d times in 50 rounds: it does not follow hba, the test shows nothing", bTicks)
	}
	if retried.IsZero() || retried.Sub(retryAt) > 2*b.cfg.Keepalive {
		t.Errorf("hbb retried the failed stop at %v (due at %v): its rounds did not run", retried, retryAt)
	}
}
