//go:build clustertest && clusterbench

package bench

import (
	"bufio"
	"context"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/linuxha/heartbeat/test/cluster"
)

// Pinger pings one address from the lab's client namespace with iputils ping
// (-D prints the receive time of every reply) and keeps the reply times.
type Pinger struct {
	// Every is the interval between echo requests.
	Every time.Duration

	cancel context.CancelFunc
	cmd    *exec.Cmd
	done   chan struct{}

	mu      sync.Mutex
	replies []time.Time
}

// StartPinger starts pinging addr from the client every interval.
func StartPinger(c *cluster.Client, addr string, every time.Duration) (*Pinger, error) {
	ctx, cancel := context.WithCancel(context.Background())
	secs := strconv.FormatFloat(every.Seconds(), 'f', 3, 64)
	cmd := c.Command(ctx, "ping", "-n", "-D", "-O", "-i", secs, "-W", "1", addr)
	out, err := cmd.StdoutPipe()
	if err != nil {
		cancel()
		return nil, fmt.Errorf("pinger: %w", err)
	}
	if err := cmd.Start(); err != nil {
		cancel()
		return nil, fmt.Errorf("pinger: start ping: %w", err)
	}
	p := &Pinger{Every: every, cancel: cancel, cmd: cmd, done: make(chan struct{})}
	go func() {
		defer close(p.done)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if ts, ok := parseReply(sc.Text()); ok {
				p.mu.Lock()
				p.replies = append(p.replies, ts)
				p.mu.Unlock()
			}
		}
	}()
	return p, nil
}

// parseReply reads the time of a reply line of ping -D:
// "[1700000000.123456] 64 bytes from 10.77.1.100: icmp_seq=1 ttl=64 time=0.1 ms".
func parseReply(line string) (time.Time, bool) {
	if !strings.HasPrefix(line, "[") || !strings.Contains(line, " bytes from ") {
		return time.Time{}, false
	}
	end := strings.IndexByte(line, ']')
	if end < 0 {
		return time.Time{}, false
	}
	f, err := strconv.ParseFloat(line[1:end], 64)
	if err != nil {
		return time.Time{}, false
	}
	sec := int64(f)
	return time.Unix(sec, int64((f-float64(sec))*1e9)), true
}

// Stop ends the ping and waits for it.
func (p *Pinger) Stop() {
	p.cancel()
	_ = p.cmd.Wait()
	<-p.done
}

// LastReply is the time of the newest reply (zero if none).
func (p *Pinger) LastReply() time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.replies) == 0 {
		return time.Time{}
	}
	return p.replies[len(p.replies)-1]
}

// Gap is the longest time between two consecutive replies in [from, to],
// counting from the last reply before from. recovered is false when no
// reply came after the gap started until to: the outage is then at least
// the returned value.
func (p *Pinger) Gap(from, to time.Time) (gap time.Duration, recovered bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return maxGap(p.replies, from, to)
}

func maxGap(replies []time.Time, from, to time.Time) (time.Duration, bool) {
	prev := time.Time{}
	for _, r := range replies {
		if r.Before(from) {
			prev = r
		}
	}
	if prev.IsZero() {
		prev = from
	}
	var gap time.Duration
	for _, r := range replies {
		if !r.After(prev) {
			continue
		}
		// The gap that straddles to counts in full.
		gap = max(gap, r.Sub(prev))
		if r.After(to) {
			return gap, true
		}
		prev = r
	}
	return max(gap, to.Sub(prev)), false
}
