//go:build clustertest

package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/linuxha/heartbeat/internal/control"
)

// Timers of the systemd tests' ha.cf.
const (
	sdKeepalive = 100 * time.Millisecond
	sdDeadtime  = time.Second
)

// sdLab is a two-node lab with heartbeat installed and configured over
// ucast: group 1 is "node1 <VIP>/24/eth0"; group 2, "node2 <VIP2>/24/eth0",
// is in haresources only when asked for.
type sdLab struct {
	*Lab
	t *testing.T
	// VIP, Key: the first group (preferred node1); VIP2, Key2: the second
	// (preferred node2).
	VIP, Key   string
	VIP2, Key2 string
}

const sdAuthkeys = "auth 1\n1 sha1 systemd-tests\n"

// newSDLab boots two nodes, installs the binaries and unit files and writes
// the configuration; heartbeat is not started.
func newSDLab(t *testing.T, second bool) *sdLab {
	t.Helper()
	lab := New(t, Options{Nodes: 2})
	s := &sdLab{Lab: lab, t: t, VIP: lab.Addr(100), VIP2: lab.Addr(101)}
	s.Key, s.Key2 = s.VIP+"/24/eth0", s.VIP2+"/24/eth0"
	for _, n := range lab.Nodes() {
		if err := n.WriteHaConfig(s.haCf(), s.haresources(second), sdAuthkeys); err != nil {
			t.Fatal(err)
		}
	}
	if err := lab.InstallBinaries(); err != nil {
		t.Fatal(err)
	}
	return s
}

// haCf is the ha.cf of both nodes (the ucast line naming the local address
// is skipped by each).
func (s *sdLab) haCf() string {
	return fmt.Sprintf(`# systemd integration tests
keepalive 100ms
deadtime 1
warntime 500ms
initdead 5
udpport 694
auto_failback on
ucast eth0 %s
ucast eth0 %s
node node1 node2
`, s.Addr(1), s.Addr(2))
}

func (s *sdLab) haresources(second bool) string {
	out := "# systemd integration tests\nnode1 " + s.Key + "\n"
	if second {
		out += "node2 " + s.Key2 + "\n"
	}
	return out
}

// systemctl runs systemctl ARGS in every node given, at about the same
// time, and fails the test on any error.
func (s *sdLab) systemctl(nodes []*Node, args ...string) {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(s.t.Context(), 30*time.Second)
	defer cancel()
	errs := make([]error, len(nodes))
	var wg sync.WaitGroup
	for i, n := range nodes {
		wg.Go(func() {
			_, errs[i] = n.Run(ctx, append([]string{"systemctl"}, args...)...)
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		s.t.Fatal(err)
	}
}

// sdStatus is hbctl status --json in node n.
func sdStatus(ctx context.Context, n *Node) (control.Status, error) {
	var st control.Status
	out, err := n.Run(ctx, "hbctl", "status", "--json")
	if err != nil {
		return st, err
	}
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		return st, fmt.Errorf("%s: hbctl status --json: %w: %q", n.Hostname, err, out)
	}
	return st, nil
}

// sdControlStatus asks the daemon of node n directly over its control
// socket (what hbctl falls back to when the daemon is not on the bus), to
// tell the engine's view from the D-Bus view hbctl shows.
func sdControlStatus(ctx context.Context, n *Node) (control.Status, error) {
	p, err := n.hostPath("/run/heartbeat/control")
	if err != nil {
		return control.Status{}, err
	}
	resp, err := control.Query(ctx, p, control.Request{Op: "status"})
	if err != nil {
		return control.Status{}, fmt.Errorf("%s: control socket: %w", n.Hostname, err)
	}
	if resp.Status == nil {
		return control.Status{}, fmt.Errorf("%s: control socket: no status (%s)", n.Hostname, resp.Error)
	}
	return *resp.Status, nil
}

// sdGroupsOf renders the groups of st as key=owner/state.
func sdGroupsOf(st control.Status) string {
	var out []string
	for _, g := range st.Groups {
		out = append(out, fmt.Sprintf("%s=%q/%s", g.Key, g.Owner, g.State))
	}
	return "[" + strings.Join(out, " ") + "]"
}

// sdStatusText is the STATUS= line the daemon should send for st, built
// from hbctl's view: "<node> <state>, <held>/<n> groups local[ (<k> in
// transition)], peer <name> <state>".
func sdStatusText(st control.Status) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s", st.Node, st.State)
	if len(st.Groups) > 0 {
		held, moving := 0, 0
		for _, g := range st.Groups {
			switch g.State {
			case "running":
				held++
			case "starting", "stopping":
				moving++
			}
		}
		fmt.Fprintf(&b, ", %d/%d groups local", held, len(st.Groups))
		if moving > 0 {
			fmt.Fprintf(&b, " (%d in transition)", moving)
		}
	}
	var peers []string
	for _, n := range st.Nodes {
		if !n.Local && n.Name != st.Node {
			peers = append(peers, n.Name+" "+n.Status)
		}
	}
	switch len(peers) {
	case 0:
	case 1:
		b.WriteString(", peer " + peers[0])
	default:
		b.WriteString(", peers " + strings.Join(peers, ", "))
	}
	return b.String()
}

// sdShow is systemctl show -p PROP --value UNIT in node n.
func sdShow(ctx context.Context, n *Node, unit, prop string) (string, error) {
	out, err := n.Run(ctx, "systemctl", "show", "-p", prop, "--value", unit)
	return strings.TrimSpace(out), err
}

// sdMainPID is heartbeat.service's MainPID in node n (0: not running).
func sdMainPID(ctx context.Context, n *Node) (int, error) {
	v, err := sdShow(ctx, n, "heartbeat.service", "MainPID")
	if err != nil {
		return 0, err
	}
	pid, err := strconv.Atoi(v)
	if err != nil {
		return 0, fmt.Errorf("%s: MainPID %q: %w", n.Hostname, v, err)
	}
	return pid, nil
}

// sdIsActive is systemctl is-active UNIT in node n ("active", "inactive", ...).
func sdIsActive(ctx context.Context, n *Node, unit string) string {
	out, _ := n.Run(ctx, "systemctl", "is-active", unit)
	return strings.TrimSpace(out)
}

// sdEventually polls cond every 50ms until it holds or within has passed;
// on timeout the error carries cond's last description.
func sdEventually(ctx context.Context, within time.Duration, what string, cond func() (bool, string)) (time.Duration, error) {
	start := time.Now()
	for {
		ok, desc := cond()
		if ok {
			return time.Since(start), nil
		}
		if time.Since(start) > within {
			return 0, fmt.Errorf("%s: not within %v: %s", what, within, desc)
		}
		select {
		case <-ctx.Done():
			return 0, fmt.Errorf("%s: %w (%s)", what, ctx.Err(), desc)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// sdEntry is one journal entry with its fields (strings only) and time.
type sdEntry struct {
	At     time.Time
	Fields map[string]string
}

func (e sdEntry) Msg() string { return e.Fields["MESSAGE"] }

func (e sdEntry) String() string {
	return fmt.Sprintf("%s pid=%s prio=%s %q", e.At.Format("15:04:05.000000"), e.Fields["_PID"], e.Fields["PRIORITY"], e.Msg())
}

// sdJournal returns journalctl -u heartbeat -o json [MATCHES...] of node n.
func sdJournal(ctx context.Context, n *Node, matches ...string) ([]sdEntry, error) {
	args := append([]string{"-u", "heartbeat.service", "-o", "json"}, matches...)
	out, err := n.journalctl(ctx, args...)
	if err != nil {
		return nil, err
	}
	var es []sdEntry
	for line := range strings.SplitSeq(out, "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		var raw map[string]any
		if err := json.Unmarshal([]byte(line), &raw); err != nil {
			return es, fmt.Errorf("%s: journal json: %w", n.Hostname, err)
		}
		e := sdEntry{Fields: map[string]string{}}
		for k, v := range raw {
			if s, ok := v.(string); ok {
				e.Fields[k] = s
			}
		}
		us, err := strconv.ParseInt(e.Fields["__REALTIME_TIMESTAMP"], 10, 64)
		if err != nil {
			return es, fmt.Errorf("%s: journal timestamp %q: %w", n.Hostname, e.Fields["__REALTIME_TIMESTAMP"], err)
		}
		e.At = time.UnixMicro(us)
		es = append(es, e)
	}
	return es, nil
}

// sdFind keeps the entries at or after since whose MESSAGE contains every
// substring.
func sdFind(es []sdEntry, since time.Time, subs ...string) []sdEntry {
	var out []sdEntry
	for _, e := range es {
		if e.At.Before(since) {
			continue
		}
		ok := true
		for _, s := range subs {
			if !strings.Contains(e.Msg(), s) {
				ok = false
				break
			}
		}
		if ok {
			out = append(out, e)
		}
	}
	return out
}

// sdWaitJournal waits until node n's heartbeat journal has an entry at or
// after since containing every substring, and returns the first.
func sdWaitJournal(ctx context.Context, n *Node, since time.Time, within time.Duration, subs ...string) (sdEntry, error) {
	var found sdEntry
	_, err := sdEventually(ctx, within, fmt.Sprintf("%s journal %q", n.Hostname, subs), func() (bool, string) {
		es, err := sdJournal(ctx, n)
		if err != nil {
			return false, err.Error()
		}
		if m := sdFind(es, since, subs...); len(m) > 0 {
			found = m[0]
			return true, ""
		}
		return false, fmt.Sprintf("%d entries, none matching", len(es))
	})
	return found, err
}

// sdLogJournal logs node n's heartbeat journal entries since since that
// contain any of subs (all if none), for the report.
func sdLogJournal(t *testing.T, ctx context.Context, n *Node, since time.Time, subs ...string) {
	t.Helper()
	es, err := sdJournal(ctx, n)
	if err != nil {
		t.Logf("%s journal: %v", n.Hostname, err)
		return
	}
	var lines []string
	for _, e := range es {
		if e.At.Before(since) {
			continue
		}
		if len(subs) == 0 || slices.ContainsFunc(subs, func(s string) bool { return strings.Contains(e.Msg(), s) }) {
			lines = append(lines, e.String())
		}
	}
	t.Logf("%s heartbeat journal:\n  %s", n.Hostname, strings.Join(lines, "\n  "))
}

// vipSample is which nodes held the address at one moment.
type vipSample struct {
	At   time.Time
	Held []bool // by node index - 1
}

func (s vipSample) holders() []string {
	var out []string
	for i, h := range s.Held {
		if h {
			out = append(out, fmt.Sprintf("node%d", i+1))
		}
	}
	return out
}

func (s vipSample) count() int {
	c := 0
	for _, h := range s.Held {
		if h {
			c++
		}
	}
	return c
}

// vipWatch samples, every interval, whether each node has an address on
// its eth0 (netlink, read from the node's network namespace, so a node that
// is off or frozen is read as well).
type vipWatch struct {
	addr    netip.Addr
	handles []*netlink.Handle
	links   []netlink.Link
	every   time.Duration

	mu      sync.Mutex
	samples []vipSample
	errs    []error
	stopc   chan struct{}
	done    chan struct{}
}

// sdWatchVIP starts sampling vip in every node of lab; stop it with stop
// (also done in t.Cleanup).
func sdWatchVIP(t *testing.T, lab *Lab, vip string, every time.Duration) *vipWatch {
	t.Helper()
	w := &vipWatch{addr: netip.MustParseAddr(vip), every: every, stopc: make(chan struct{}), done: make(chan struct{})}
	for _, n := range lab.Nodes() {
		var h *netlink.Handle
		err := inNetns(netnsPath(n.NS), func() error {
			var err error
			h, err = netlink.NewHandle()
			return err
		})
		if err != nil {
			t.Fatalf("%s: netlink handle: %v", n.NS, err)
		}
		l, err := h.LinkByName("eth0")
		if err != nil {
			h.Close()
			t.Fatalf("%s: eth0: %v", n.NS, err)
		}
		w.handles = append(w.handles, h)
		w.links = append(w.links, l)
	}
	go w.loop()
	t.Cleanup(func() {
		w.stop()
		for _, h := range w.handles {
			h.Close()
		}
	})
	return w
}

func (w *vipWatch) sample() (vipSample, error) {
	s := vipSample{At: time.Now(), Held: make([]bool, len(w.handles))}
	for i, h := range w.handles {
		as, err := h.AddrList(w.links[i], netlink.FAMILY_V4)
		if err != nil {
			return s, fmt.Errorf("node%d: addr list: %w", i+1, err)
		}
		for _, a := range as {
			if ip, ok := netip.AddrFromSlice(a.IP); ok && ip.Unmap() == w.addr {
				s.Held[i] = true
			}
		}
	}
	return s, nil
}

func (w *vipWatch) loop() {
	defer close(w.done)
	tk := time.NewTicker(w.every)
	defer tk.Stop()
	for {
		s, err := w.sample()
		w.mu.Lock()
		if err != nil {
			w.errs = append(w.errs, err)
		} else {
			w.samples = append(w.samples, s)
		}
		w.mu.Unlock()
		select {
		case <-w.stopc:
			return
		case <-tk.C:
		}
	}
}

// stop ends the sampling (idempotent) and returns any sampling errors.
func (w *vipWatch) stop() error {
	select {
	case <-w.stopc:
	default:
		close(w.stopc)
	}
	<-w.done
	w.mu.Lock()
	defer w.mu.Unlock()
	return errors.Join(w.errs...)
}

// since returns the samples taken at or after t.
func (w *vipWatch) since(t time.Time) []vipSample {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []vipSample
	for _, s := range w.samples {
		if !s.At.Before(t) {
			out = append(out, s)
		}
	}
	return out
}

// waitFor waits until a sample taken at or after since satisfies ok, and
// returns it.
func (w *vipWatch) waitFor(ctx context.Context, since time.Time, within time.Duration, what string, ok func(vipSample) bool) (vipSample, error) {
	var found vipSample
	_, err := sdEventually(ctx, within, what, func() (bool, string) {
		ss := w.since(since)
		for _, s := range ss {
			if ok(s) {
				found = s
				return true, ""
			}
		}
		if len(ss) == 0 {
			return false, "no samples"
		}
		return false, fmt.Sprintf("last sample: holders %v", ss[len(ss)-1].holders())
	})
	return found, err
}

// overlap is a run of samples in which more than one node held the address.
type overlap struct {
	From time.Time
	// Seen is from the first to the last sample of the run (a lower bound);
	// Bound is from the first sample of the run to the sample after it
	// (an upper bound on what was seen, given the sampling interval).
	Seen, Bound time.Duration
	Samples     int
}

// longestOverlap returns the longest run (by Bound) of samples with more
// than one holder, and how many runs there were.
func longestOverlap(ss []vipSample) (overlap, int) {
	var best overlap
	runs := 0
	for i := 0; i < len(ss); {
		if ss[i].count() < 2 {
			i++
			continue
		}
		j := i
		for j < len(ss) && ss[j].count() >= 2 {
			j++
		}
		runs++
		o := overlap{From: ss[i].At, Seen: ss[j-1].At.Sub(ss[i].At), Samples: j - i}
		if j < len(ss) {
			o.Bound = ss[j].At.Sub(ss[i].At)
		} else {
			o.Bound = ss[j-1].At.Sub(ss[i].At)
		}
		if o.Bound > best.Bound || best.Samples == 0 {
			best = o
		}
		i = j
	}
	return best, runs
}

// holderTimeline renders the changes of holders in ss, relative to t0.
func holderTimeline(ss []vipSample, t0 time.Time) string {
	var b strings.Builder
	prev := "-"
	for _, s := range ss {
		h := fmt.Sprint(s.holders())
		if h != prev {
			fmt.Fprintf(&b, "\n  %+8.3fs %s", s.At.Sub(t0).Seconds(), h)
			prev = h
		}
	}
	return b.String()
}

// sdPing is a ping from the client running in the background.
type sdPing struct {
	done chan struct{}
	out  strings.Builder
	err  error
}

// sdStartPing pings addr from the client count times every interval; -O
// reports each missing answer, -D stamps each line.
func sdStartPing(ctx context.Context, c *Client, addr string, count int, interval time.Duration) (*sdPing, error) {
	p := &sdPing{done: make(chan struct{})}
	deadline := int((time.Duration(count)*interval)/time.Second) + 10
	cmd := c.Command(ctx, "ping", "-n", "-D", "-O", "-W", "1",
		"-i", strconv.FormatFloat(interval.Seconds(), 'f', 3, 64),
		"-c", strconv.Itoa(count), "-w", strconv.Itoa(deadline), addr)
	cmd.Stdout = &p.out
	cmd.Stderr = &p.out
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("client: ping: %w", err)
	}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// pingResult is ping's summary.
type pingResult struct {
	Sent, Received int
	// Missing are the "no answer yet" lines (-O).
	Missing []string
}

// wait waits for ping to end and parses its output.
func (p *sdPing) wait() (pingResult, string, error) {
	<-p.done
	out := p.out.String()
	var r pingResult
	found := false
	for line := range strings.SplitSeq(out, "\n") {
		if strings.Contains(line, "no answer yet") {
			r.Missing = append(r.Missing, strings.TrimSpace(line))
		}
		if strings.Contains(line, "packets transmitted") {
			f := strings.Fields(line)
			if len(f) >= 4 {
				r.Sent, _ = strconv.Atoi(f[0])
				r.Received, _ = strconv.Atoi(f[3])
				found = true
			}
		}
	}
	if !found {
		return r, out, fmt.Errorf("ping: no summary (%v): %s", p.err, out)
	}
	return r, out, nil
}
