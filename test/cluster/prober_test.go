//go:build clustertest

package cluster

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Prober settings: a GET every probeEvery, each given probeTimeout; the
// requests overlap, so a hanging one does not lower the resolution.
const (
	probeEvery   = 50 * time.Millisecond
	probeTimeout = 300 * time.Millisecond
)

// probe is one HTTP GET of the prober.
type probe struct {
	At   time.Time     // when the request was sent
	Took time.Duration // until the answer or the error
	Node string        // the node that answered ("" on error)
	Err  error
}

func (p probe) ok() bool { return p.Err == nil }

// prober GETs http://<vip>/ from the client namespace every probeEvery and
// records who answered. Start it before any failover: the client must have
// a neighbour entry for the VIP, which only gratuitous ARP updates.
type prober struct {
	url    string
	client *http.Client
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu  sync.Mutex
	res []probe
}

// startProber starts probing vip; it stops in t.Cleanup at the latest.
func startProber(t *testing.T, c *Client, vip string) *prober {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	p := &prober{url: "http://" + vip + "/", client: c.HTTPClient(), cancel: cancel}
	p.client.Timeout = probeTimeout
	p.wg.Add(1)
	go p.loop(ctx)
	t.Cleanup(p.stop)
	return p
}

func (p *prober) loop(ctx context.Context) {
	defer p.wg.Done()
	tick := time.NewTicker(probeEvery)
	defer tick.Stop()
	for {
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			p.once(ctx)
		}()
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

func (p *prober) once(ctx context.Context) {
	start := time.Now()
	node, err := p.get(ctx)
	if ctx.Err() != nil {
		return // stopping: not a failure of the cluster
	}
	p.mu.Lock()
	p.res = append(p.res, probe{At: start, Took: time.Since(start), Node: node, Err: err})
	p.mu.Unlock()
}

func (p *prober) get(ctx context.Context) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.url, nil)
	if err != nil {
		return "", err
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("GET %s: %s", p.url, resp.Status)
	}
	node := strings.TrimSpace(string(body))
	if !strings.HasPrefix(node, "node") {
		return "", fmt.Errorf("GET %s: unexpected page %q", p.url, body)
	}
	return node, nil
}

// stop ends probing and waits for the requests in flight.
func (p *prober) stop() {
	p.cancel()
	p.wg.Wait()
}

// results returns the probes so far, in the order they were sent.
func (p *prober) results() []probe {
	p.mu.Lock()
	out := slices.Clone(p.res)
	p.mu.Unlock()
	slices.SortFunc(out, func(a, b probe) int { return a.At.Compare(b.At) })
	return out
}

// since returns the probes sent at or after t, in order.
func (p *prober) since(t time.Time) []probe {
	rs := p.results()
	i, _ := slices.BinarySearchFunc(rs, t, func(r probe, t time.Time) int { return r.At.Compare(t) })
	return rs[i:]
}

// waitServed waits until a probe sent at or after since was answered by
// node and returns its send time; within counts from since.
func (p *prober) waitServed(ctx context.Context, node string, since time.Time, within time.Duration) (time.Time, error) {
	deadline := since.Add(within)
	for {
		rs := p.since(since)
		for _, r := range rs {
			if r.Node == node {
				return r.At, nil
			}
		}
		// Requests sent before the deadline may still be in flight.
		if time.Now().After(deadline.Add(probeTimeout + 100*time.Millisecond)) {
			return time.Time{}, fmt.Errorf("no answer from %s via the VIP within %v (%s)", node, within, summarize(rs))
		}
		select {
		case <-ctx.Done():
			return time.Time{}, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// settle waits until every probe sent in [from, from+d) has completed.
func (p *prober) settle(ctx context.Context, from time.Time, d time.Duration) []probe {
	end := from.Add(d)
	select {
	case <-ctx.Done():
	case <-time.After(time.Until(end) + probeTimeout + 100*time.Millisecond):
	}
	var out []probe
	for _, r := range p.since(from) {
		if r.At.Before(end) {
			out = append(out, r)
		}
	}
	return out
}

// outage is the longest interruption of the service seen by the prober.
type outage struct {
	Gap      time.Duration // next success minus last success before the failures
	From, To time.Time     // those two successes
	Failed   int           // failed probes in between
	Open     bool          // no success after the failures (yet)
}

func (o outage) String() string {
	if o.Failed == 0 {
		return "no failed request"
	}
	s := fmt.Sprintf("%v (%d failed requests, last success %s, next success %s)",
		o.Gap.Round(time.Millisecond), o.Failed, o.From.Format("15:04:05.000"), o.To.Format("15:04:05.000"))
	if o.Open {
		s += " - still down"
	}
	return s
}

// longestOutage finds the longest gap between the last success before a
// failed probe and the next success. Failures before the first success do
// not count (the service was not up yet).
func longestOutage(rs []probe) outage {
	var best outage
	var last time.Time // last success
	failed := 0
	for _, r := range rs {
		if !r.ok() {
			if !last.IsZero() {
				failed++
			}
			continue
		}
		if failed > 0 {
			if gap := r.At.Sub(last); gap > best.Gap {
				best = outage{Gap: gap, From: last, To: r.At, Failed: failed}
			}
		}
		failed = 0
		last = r.At
	}
	if failed > 0 && len(rs) > 0 {
		gap := rs[len(rs)-1].At.Sub(last)
		if gap > best.Gap || best.Failed == 0 {
			best = outage{Gap: gap, From: last, To: rs[len(rs)-1].At, Failed: failed, Open: true}
		}
	}
	return best
}

// logOutage logs and returns the longest outage among the probes sent since
// from (include some successes before the fault: pass a time before it).
func (p *prober) logOutage(t *testing.T, what string, from time.Time) outage {
	t.Helper()
	rs := p.since(from)
	o := longestOutage(rs)
	t.Logf("OUTAGE %s: %s; %d probes: %s", what, o, len(rs), summarize(rs))
	return o
}

// checkOutage logs the longest outage since from (see logOutage) and fails
// the test if it is still going on or longer than limit.
func (p *prober) checkOutage(t *testing.T, what string, from time.Time, limit time.Duration) outage {
	t.Helper()
	o := p.logOutage(t, what, from)
	if o.Open || o.Gap > limit {
		t.Errorf("outage on %s: %s; want at most %v", what, o, limit)
	}
	return o
}

// summarize counts the probes by answering node and error kind.
func summarize(rs []probe) string {
	counts := map[string]int{}
	var keys []string
	for _, r := range rs {
		k := r.Node
		if !r.ok() {
			k = "error: " + errKind(r.Err)
		}
		if counts[k] == 0 {
			keys = append(keys, k)
		}
		counts[k]++
	}
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s x%d", k, counts[k]))
	}
	if len(parts) == 0 {
		return "no probes"
	}
	return strings.Join(parts, ", ")
}

func errKind(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, unix.ECONNREFUSED):
		return "refused"
	case errors.Is(err, unix.EHOSTUNREACH):
		return "host unreachable"
	case errors.Is(err, unix.ECONNRESET):
		return "reset"
	case errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	}
	s := err.Error()
	if len(s) > 80 {
		s = s[len(s)-80:]
	}
	return s
}

// arpWhoHas broadcasts ARP requests for target from the client's eth0
// during wait and returns the distinct MACs that answered for it.
func arpWhoHas(c *Client, target string, wait time.Duration) ([]string, error) {
	tip, err := netip.ParseAddr(target)
	if err != nil || !tip.Is4() {
		return nil, fmt.Errorf("arp: bad target %q", target)
	}
	sip, err := netip.ParseAddr(c.Addr)
	if err != nil || !sip.Is4() {
		return nil, fmt.Errorf("arp: bad source %q", c.Addr)
	}
	var macs []string
	err = inNetns(netnsPath(c.NS), func() error {
		ifi, err := net.InterfaceByName("eth0")
		if err != nil {
			return fmt.Errorf("arp: %w", err)
		}
		proto := htons(unix.ETH_P_ARP)
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(proto))
		if err != nil {
			return fmt.Errorf("arp: socket: %w", err)
		}
		defer unix.Close(fd)
		if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: proto, Ifindex: ifi.Index}); err != nil {
			return fmt.Errorf("arp: bind: %w", err)
		}
		tv := unix.NsecToTimeval((20 * time.Millisecond).Nanoseconds())
		if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
			return fmt.Errorf("arp: %w", err)
		}
		bcast := [8]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
		req := arpRequest(ifi.HardwareAddr, sip.As4(), tip.As4())
		to := &unix.SockaddrLinklayer{Protocol: proto, Ifindex: ifi.Index, Halen: 6, Addr: bcast}
		deadline := time.Now().Add(wait)
		var nextSend time.Time
		buf := make([]byte, 1500)
		for time.Now().Before(deadline) {
			if time.Now().After(nextSend) {
				if err := unix.Sendto(fd, req, 0, to); err != nil {
					return fmt.Errorf("arp: send: %w", err)
				}
				nextSend = time.Now().Add(150 * time.Millisecond)
			}
			n, _, err := unix.Recvfrom(fd, buf, 0)
			if err != nil {
				if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
					continue
				}
				return fmt.Errorf("arp: receive: %w", err)
			}
			if mac, ok := arpReplyFrom(buf[:n], tip.As4()); ok && !slices.Contains(macs, mac) {
				macs = append(macs, mac)
			}
		}
		return nil
	})
	return macs, err
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// arpRequest is an Ethernet frame asking who has tip.
func arpRequest(smac net.HardwareAddr, sip, tip [4]byte) []byte {
	f := make([]byte, 42)
	copy(f[0:6], []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	copy(f[6:12], smac)
	binary.BigEndian.PutUint16(f[12:], unix.ETH_P_ARP)
	binary.BigEndian.PutUint16(f[14:], 1)      // Ethernet
	binary.BigEndian.PutUint16(f[16:], 0x0800) // IPv4
	f[18], f[19] = 6, 4
	binary.BigEndian.PutUint16(f[20:], 1) // request
	copy(f[22:28], smac)
	copy(f[28:32], sip[:])
	// target MAC f[32:38] stays zero
	copy(f[38:42], tip[:])
	return f
}

// arpReplyFrom returns the sender MAC of an ARP reply for ip.
func arpReplyFrom(f []byte, ip [4]byte) (string, bool) {
	if len(f) < 42 || binary.BigEndian.Uint16(f[12:]) != unix.ETH_P_ARP {
		return "", false
	}
	if binary.BigEndian.Uint16(f[20:]) != 2 || [4]byte(f[28:32]) != ip {
		return "", false
	}
	return net.HardwareAddr(f[22:28]).String(), true
}

// TestLongestOutage checks the outage arithmetic the failover tests report.
func TestLongestOutage(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	fail := errors.New("x")
	rs := []probe{
		{At: at(0), Err: fail}, // before the first success: ignored
		{At: at(50), Node: "node1"},
		{At: at(100), Err: fail},
		{At: at(150), Node: "node1"},
		{At: at(200), Err: fail},
		{At: at(250), Err: fail},
		{At: at(300), Err: fail},
		{At: at(350), Node: "node2"},
		{At: at(400), Node: "node2"},
	}
	o := longestOutage(rs)
	if o.Gap != 200*time.Millisecond || o.Failed != 3 || o.Open || !o.From.Equal(at(150)) || !o.To.Equal(at(350)) {
		t.Fatalf("longestOutage = %+v, want 200ms from 150 to 350 with 3 failures", o)
	}
	o = longestOutage(append(rs, probe{At: at(450), Err: fail}, probe{At: at(900), Err: fail}))
	if !o.Open || o.Gap != 500*time.Millisecond || o.Failed != 2 {
		t.Fatalf("open outage = %+v, want 500ms open with 2 failures", o)
	}
	if o := longestOutage(rs[1:2]); o.Failed != 0 || o.Gap != 0 {
		t.Fatalf("no failures: %+v", o)
	}
}
