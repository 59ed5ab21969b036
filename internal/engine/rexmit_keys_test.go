package engine

import (
	"testing"
	"time"

	"github.com/linuxha/heartbeat/internal/wire"
)

// A message lost just before a key switch is asked for again after it. The
// resend must carry the active key's signature (a 3.0.6 peer verifies with
// its active key only); a resend of the old bytes would be refused for
// ever. Unchanged keys resend the bytes of the history as they are.
func TestRexmitResignedAfterKeySwitch(t *testing.T) {
	k1 := wire.Key{Index: 1, Method: wire.MethodSHA1, Secret: []byte("old")}
	k2 := wire.Key{Index: 2, Method: wire.MethodSHA1, Secret: []byte("new")}
	both := &wire.Keyring{Active: 1, Keys: map[int]wire.Key{1: k1, 2: k2}}
	cfg := func(local string) Config {
		return Config{LocalNode: local, Nodes: []string{"hba", "hbb"}, Keepalive: 20 * time.Millisecond,
			Deadtime: 80 * time.Millisecond, Warntime: 60 * time.Millisecond, Initdead: time.Second,
			Hopfudge: 1, Keys: both, Generation: 1}
	}
	a, b := newCore(cfg("hba"), []string{"eth0"}), newCore(cfg("hbb"), []string{"eth0"})
	now := time.Now()
	a.start(now)
	b.start(now)
	// deliver hands acts to to and returns what to answered.
	deliver := func(to *core, acts []action, drop bool) []action {
		var out []action
		for _, act := range acts {
			if act.data != nil && !drop {
				out = append(out, to.recv(now, now, 0, act.data)...)
			}
		}
		return out
	}
	beat := func(drop bool) {
		now = now.Add(20 * time.Millisecond)
		a.nextSend = now
		deliver(b, a.tick(now), drop)
	}
	for range 5 {
		beat(false)
	}
	beat(true) // lost on the way
	// The switch: a signs with key 2; b, like 3.0.6, accepts key 2 only.
	a.cfg.Keys = &wire.Keyring{Active: 2, Keys: map[int]wire.Key{1: k1, 2: k2}}
	b.cfg.Keys = &wire.Keyring{Active: 2, Keys: map[int]wire.Key{2: k2}}
	beat(false) // b sees the gap
	p := b.byName["hba"]
	if _, _, ok := p.rx.gap(); !ok {
		t.Fatal("b saw no gap")
	}
	bad := b.stats.BadAuth
	for range 10 {
		now = now.Add(25 * time.Millisecond)
		resend := deliver(a, b.tick(now), false) // NS_rexmit in, the resend out
		deliver(b, resend, false)
		if _, _, ok := p.rx.gap(); !ok {
			break
		}
	}
	if _, _, ok := p.rx.gap(); ok {
		t.Fatalf("the lost message was never accepted after the key switch (bad auth %d -> %d, a resent %d)", bad, b.stats.BadAuth, a.stats.RexmitSent)
	}
	if a.stats.RexmitSent == 0 || b.stats.GapFilled == 0 {
		t.Fatalf("resent %d, gap filled %d", a.stats.RexmitSent, b.stats.GapFilled)
	}
	if b.stats.BadAuth != bad {
		t.Errorf("b refused %d resends", b.stats.BadAuth-bad)
	}
}
