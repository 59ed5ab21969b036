package engine

import (
	"testing"
	"time"

	"github.com/linuxha/heartbeat/internal/wire"
)

// keepalivePair is two cores, a and b, up and hearing each other; step
// makes a send one keepalive (its status message) and b receive it.
type keepalivePair struct {
	a, b *core
	now  time.Time
}

func newKeepalivePair(method wire.Method) *keepalivePair {
	keys := &wire.Keyring{Active: 1, Keys: map[int]wire.Key{1: {Index: 1, Method: method}}}
	if method != wire.MethodCRC {
		keys.Keys[1] = wire.Key{Index: 1, Method: method, Secret: []byte("labsecret")}
	}
	cfg := func(local string) Config {
		return Config{LocalNode: local, Nodes: []string{"hba", "hbb"}, Keepalive: 20 * time.Millisecond,
			Deadtime: 80 * time.Millisecond, Warntime: 60 * time.Millisecond, Initdead: time.Second,
			Hopfudge: 1, Keys: keys, Generation: 1}
	}
	kp := &keepalivePair{a: newCore(cfg("hba"), []string{"eth0"}), b: newCore(cfg("hbb"), []string{"eth0"}), now: time.Now()}
	kp.a.start(kp.now)
	kp.b.start(kp.now)
	return kp
}

func (kp *keepalivePair) step() {
	kp.now = kp.now.Add(20 * time.Millisecond)
	kp.a.nextSend = kp.now
	for _, act := range kp.a.tick(kp.now) {
		if act.data != nil {
			kp.b.recv(kp.now, kp.now, 0, act.data)
		}
	}
}

// BenchmarkHeartbeatPath measures one keepalive: node a builds and signs its
// status message, node b verifies and processes it.
func BenchmarkHeartbeatPath(b *testing.B) {
	for _, method := range []wire.Method{wire.MethodCRC, wire.MethodMD5, wire.MethodSHA1} {
		b.Run(method.String(), func(b *testing.B) {
			kp := newKeepalivePair(method)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				kp.step()
			}
		})
	}
}

// In steady state a keepalive allocates nothing, on either side (and with
// it every tenth one, which makes b acknowledge): the message is built in
// a reused buffer, encoded into the buffer of the history slot it
// replaces, and decoded into a reused message. Garbage at 50 packets a
// second means collections, fresh pages and cold caches at every wake-up.
func TestKeepaliveAllocatesNothing(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under the race detector")
	}
	for _, method := range []wire.Method{wire.MethodCRC, wire.MethodSHA1} {
		kp := newKeepalivePair(method)
		for range histSize + ackEvery { // every history slot used once
			kp.step()
		}
		received := kp.b.stats.Received
		if n := testing.AllocsPerRun(10*ackEvery, kp.step); n != 0 {
			t.Errorf("%v: %.2f allocations per keepalive, want 0", method, n)
		}
		if kp.b.stats.Received <= received {
			t.Fatalf("%v: b received nothing: the test measures no keepalive path", method)
		}
	}
}
