package engine_test

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/linuxha/heartbeat/internal/engine"
	"github.com/linuxha/heartbeat/internal/memnet"
	"github.com/linuxha/heartbeat/internal/wire"
)

type lineLog struct {
	mu    sync.Mutex
	lines []string
}

func (l *lineLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	l.lines = append(l.lines, strings.TrimSpace(string(p)))
	l.mu.Unlock()
	return len(p), nil
}

func (l *lineLog) matching(sub string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, s := range l.lines {
		if strings.Contains(s, sub) {
			out = append(out, s)
		}
	}
	return out
}

// Bad packets get a warning an admin sees (not a debug line), the first of
// each kind at once and then at most once a minute with a count of the
// ones left out, so a peer with the wrong key cannot flood the journal.
func TestBadPacketsWarnRateLimited(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var logs lineLog
		net := memnet.New("eth0", 7)
		ep := net.Attach("hba")
		eng, err := engine.New(engine.Config{
			LocalNode: "hba", Nodes: []string{"hba", "hbb"},
			Keepalive: time.Second, Deadtime: 10 * time.Second, Warntime: 5 * time.Second, Initdead: 20 * time.Second,
			Keys: testKeys(), Generation: 1, Logger: slog.New(slog.NewTextHandler(&logs, nil)),
		}, []engine.Medium{ep})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); _ = eng.Run(ctx) }()
		go func() {
			for {
				select {
				case <-eng.Events():
				case <-done:
					return
				}
			}
		}()

		forger := &wire.Keyring{Active: 1, Keys: map[int]wire.Key{1: {Index: 1, Method: wire.MethodSHA1, Secret: []byte("wrongkey")}}}
		var m wire.Message
		m.Add("t", "status")
		m.Add("src", "hbb")
		m.Add("seq", "1")
		m.Add("hg", "1")
		forged, err := wire.Marshal(&m, forger)
		if err != nil {
			t.Fatal(err)
		}
		for range 5 {
			net.Inject("hba", []byte("###\ngarbage"))
			net.Inject("hba", forged)
			advance(time.Second)
		}
		if got := logs.matching("packet dropped"); len(got) != 2 {
			t.Fatalf("after 5 garbage and 5 forged packets: %d warnings, want one per kind:\n%s", len(got), strings.Join(got, "\n"))
		}
		for _, kind := range []string{"reason=malformed", "reason=auth"} {
			if got := logs.matching(kind); len(got) != 1 || !strings.Contains(got[0], "level=WARN") || !strings.Contains(got[0], "link=eth0") {
				t.Errorf("%s: %q", kind, got)
			}
		}
		advance(time.Minute)
		net.Inject("hba", []byte("###\ngarbage"))
		advance(time.Second)
		got := logs.matching("reason=malformed")
		if len(got) != 2 || !strings.Contains(got[1], "suppressed=4") {
			t.Errorf("a minute later: %q, want a second warning counting the 4 left out", got)
		}
		cancel()
		<-done
	})
}
