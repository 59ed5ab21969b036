package engine

import (
	"testing"
	"time"

	"github.com/linuxha/heartbeat/internal/wire"
)

// BenchmarkHeartbeatPath measures one keepalive: node a builds and signs its
// status message, node b verifies and processes it.
func BenchmarkHeartbeatPath(b *testing.B) {
	for _, method := range []wire.Method{wire.MethodCRC, wire.MethodMD5, wire.MethodSHA1} {
		b.Run(method.String(), func(b *testing.B) {
			keys := &wire.Keyring{Active: 1, Keys: map[int]wire.Key{1: {Index: 1, Method: method}}}
			if method != wire.MethodCRC {
				keys.Keys[1] = wire.Key{Index: 1, Method: method, Secret: []byte("labsecret")}
			}
			cfg := func(local string) Config {
				return Config{LocalNode: local, Nodes: []string{"hba", "hbb"}, Keepalive: 20 * time.Millisecond,
					Deadtime: 80 * time.Millisecond, Warntime: 60 * time.Millisecond, Initdead: time.Second,
					Hopfudge: 1, Keys: keys, Generation: 1}
			}
			a, bb := newCore(cfg("hba"), []string{"eth0"}), newCore(cfg("hbb"), []string{"eth0"})
			now := time.Now()
			a.start(now)
			bb.start(now)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				now = now.Add(20 * time.Millisecond)
				a.nextSend = now
				acts := a.tick(now)
				for _, act := range acts {
					if act.data != nil {
						bb.recv(now, now, 0, act.data)
					}
				}
			}
		})
	}
}
