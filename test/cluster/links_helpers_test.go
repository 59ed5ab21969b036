//go:build clustertest

package cluster

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/linuxha/heartbeat/internal/control"
)

// Helpers of links_test.go: the daemon started as heartbeat.service in each
// node, its state read with hbctl, its journal searched, and packets seen on
// a node's wire with tcpdump run from the host in the node's namespace.

// lkNoRestartDropIn keeps systemd from restarting a daemon the test killed on
// purpose (the unit says Restart=on-failure, RestartSec=1s: a restarted
// daemon would come back inside the deadtime being measured).
const lkNoRestartDropIn = "[Service]\nRestart=no\n"

// lkStartDaemons installs the binaries, writes the same configuration into
// every node (norestart: node numbers that get the Restart=no drop-in) and
// starts heartbeat.service in all of them.
func lkStartDaemons(t *testing.T, lab *Lab, hacf, haresources, authkeys string, norestart ...int) {
	t.Helper()
	for _, i := range norestart {
		if err := lab.Node(i).WriteFile("/etc/systemd/system/heartbeat.service.d/50-linktest-norestart.conf",
			[]byte(lkNoRestartDropIn), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := lab.InstallBinaries(); err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	for _, n := range lab.Nodes() {
		if err := n.WriteHaConfig(hacf, haresources, authkeys); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range lab.Nodes() {
		if _, err := n.Run(ctx, "systemctl", "start", "heartbeat.service"); err != nil {
			t.Fatalf("%s: start heartbeat: %v", n.Hostname, err)
		}
	}
}

// lkStatus is hbctl status --json of the node.
func lkStatus(ctx context.Context, n *Node) (*control.Status, error) {
	out, err := n.Run(ctx, "hbctl", "status", "--json")
	if err != nil {
		return nil, err
	}
	var st control.Status
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		return nil, fmt.Errorf("%s: hbctl status --json: %w: %q", n.Hostname, err, out)
	}
	return &st, nil
}

// lkNode returns the entry of node name in st, nil if there is none.
func lkNode(st *control.Status, name string) *control.Node {
	if st == nil {
		return nil
	}
	for i := range st.Nodes {
		if st.Nodes[i].Name == name {
			return &st.Nodes[i]
		}
	}
	return nil
}

// lkLinkStatus is the status of link name of node name in st ("" if absent).
func lkLinkStatus(st *control.Status, node, link string) string {
	nd := lkNode(st, node)
	if nd == nil {
		return ""
	}
	for _, l := range nd.Links {
		if l.Name == link {
			return l.Status
		}
	}
	return ""
}

// lkNodeStatus is the status of node name in st ("" if absent).
func lkNodeStatus(st *control.Status, name string) string {
	if nd := lkNode(st, name); nd != nil {
		return nd.Status
	}
	return ""
}

// lkSummary renders the nodes and links of st on one line, for messages.
func lkSummary(st *control.Status) string {
	if st == nil {
		return "<no status>"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s=%s", st.Node, st.State)
	for _, nd := range st.Nodes {
		if nd.Local {
			continue
		}
		fmt.Fprintf(&b, " %s=%s", nd.Name, nd.Status)
		for _, l := range nd.Links {
			fmt.Fprintf(&b, "[%s:%s]", l.Name, l.Status)
		}
	}
	return b.String()
}

// lkWait polls hbctl status of n until ok holds, failing the test after
// within; it returns the last status.
func lkWait(t *testing.T, n *Node, within time.Duration, what string, ok func(*control.Status) bool) *control.Status {
	t.Helper()
	ctx := t.Context()
	deadline := time.Now().Add(within)
	var (
		st  *control.Status
		err error
	)
	for {
		st, err = lkStatus(ctx, n)
		if err == nil && ok(st) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %s: not reached within %v: last status %s (err %v)", n.Hostname, what, within, lkSummary(st), err)
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s: %s: %v", n.Hostname, what, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// lkAllActive is true when every node of names other than the local one is
// active in st, and the local node is active too.
func lkAllActive(names ...string) func(*control.Status) bool {
	return func(st *control.Status) bool {
		if st.State != "active" {
			return false
		}
		for _, nm := range names {
			if nm != st.Node && lkNodeStatus(st, nm) != "active" {
				return false
			}
		}
		return true
	}
}

// lkEvent is one journal entry of the daemon.
type lkEvent struct {
	At  time.Time // __REALTIME_TIMESTAMP
	Msg string
}

// lkJournal returns the heartbeat.service journal entries of n whose
// MESSAGE contains every one of subs, oldest first.
func lkJournal(ctx context.Context, n *Node, subs ...string) ([]lkEvent, error) {
	entries, err := n.JournalJSON(ctx, "heartbeat.service")
	if err != nil {
		return nil, err
	}
	var out []lkEvent
	for _, e := range entries {
		msg, _ := e["MESSAGE"].(string)
		match := true
		for _, s := range subs {
			if !strings.Contains(msg, s) {
				match = false
				break
			}
		}
		if !match {
			continue
		}
		rt, _ := e["__REALTIME_TIMESTAMP"].(string)
		us, err := strconv.ParseInt(rt, 10, 64)
		if err != nil {
			return out, fmt.Errorf("%s: journal entry %q: bad __REALTIME_TIMESTAMP %q", n.Hostname, msg, rt)
		}
		out = append(out, lkEvent{At: time.UnixMicro(us), Msg: msg})
	}
	return out, nil
}

// lkWaitJournal polls the journal of n for the first entry after since
// matching subs.
func lkWaitJournal(t *testing.T, n *Node, since time.Time, within time.Duration, subs ...string) lkEvent {
	t.Helper()
	ctx := t.Context()
	deadline := time.Now().Add(within)
	for {
		evs, err := lkJournal(ctx, n, subs...)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range evs {
			if !e.At.Before(since) {
				return e
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: no journal entry with %q after %s within %v", n.Hostname, subs, since.Format(time.RFC3339Nano), within)
		}
		select {
		case <-ctx.Done():
			t.Fatal(ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// lkMainPID is systemd's MainPID of heartbeat.service in n (0: not running).
func lkMainPID(ctx context.Context, n *Node) (int, error) {
	out, err := n.Run(ctx, "systemctl", "show", "-p", "MainPID", "--value", "heartbeat.service")
	if err != nil {
		return 0, err
	}
	pid, err := strconv.Atoi(strings.TrimSpace(out))
	if err != nil {
		return 0, fmt.Errorf("%s: MainPID %q: %w", n.Hostname, out, err)
	}
	return pid, nil
}

// lkKill9 kills heartbeat.service of n with SIGKILL: no goodbye reaches the
// peers. The node must have the Restart=no drop-in (lkStartDaemons
// norestart), and the socket units that trigger the service
// (heartbeat-udp.socket: a peer's next heartbeat would start it again at
// once) are stopped first; the running daemon keeps its copies of their
// sockets, so nothing changes for it until the kill.
func lkKill9(ctx context.Context, n *Node) error {
	out, err := n.Run(ctx, "systemctl", "show", "-p", "TriggeredBy", "--value", "heartbeat.service")
	if err != nil {
		return err
	}
	if socks := strings.Fields(out); len(socks) > 0 {
		if _, err := n.Run(ctx, append([]string{"systemctl", "stop"}, socks...)...); err != nil {
			return err
		}
	}
	pid, err := lkMainPID(ctx, n)
	if err != nil {
		return err
	}
	if pid == 0 {
		return fmt.Errorf("%s: heartbeat.service not running before the kill", n.Hostname)
	}
	if _, err := n.Run(ctx, "systemctl", "kill", "-s", "KILL", "heartbeat.service"); err != nil {
		return err
	}
	return nil
}

// lkStaysDown checks that heartbeat.service of n is not running.
func lkStaysDown(t *testing.T, n *Node) {
	t.Helper()
	out, _ := n.Run(t.Context(), "systemctl", "is-active", "heartbeat.service")
	if st := strings.TrimSpace(out); st == "active" || st == "activating" || st == "reloading" {
		pid, _ := lkMainPID(t.Context(), n)
		j, _ := n.Journal(t.Context(), "heartbeat.service")
		t.Errorf("%s: heartbeat.service is %s again (MainPID %d) after it was stopped; its journal:\n%s", n.Hostname, st, pid, lkTail(j, 25))
	}
}

// lkTail is the last n lines of s.
func lkTail(s string, n int) string {
	ls := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(ls) > n {
		ls = ls[len(ls)-n:]
	}
	return strings.Join(ls, "\n")
}

// lkTap is tcpdump running in a node's network namespace (from the host),
// writing pcap to a pipe: each packet with the kernel's receive time.
type lkTap struct {
	cancel context.CancelFunc
	done   chan struct{}
	mu     sync.Mutex
	pkts   []lkPacket
	err    error
}

// lkPacket is one captured UDP datagram.
type lkPacket struct {
	At      time.Time // kernel receive time (pcap record stamp)
	Payload []byte
}

// lkStartTap starts tcpdump -i dev -w - in namespace ns with filter, and
// returns once tcpdump listens.
func lkStartTap(t *testing.T, ns, dev, filter string) *lkTap {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	args := []string{"netns", "exec", ns, "tcpdump", "-i", dev, "-n", "-U", "-Q", "in", "-w", "-"}
	args = append(args, strings.Fields(filter)...)
	cmd := command(ctx, "ip", args...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("tcpdump: %v", err)
	}
	tap := &lkTap{cancel: cancel, done: make(chan struct{})}
	listening := make(chan struct{})
	var errText strings.Builder
	go func() {
		sc := bufio.NewScanner(stderr)
		once := sync.Once{}
		for sc.Scan() {
			tap.mu.Lock()
			errText.WriteString(sc.Text() + "\n")
			tap.mu.Unlock()
			if strings.Contains(sc.Text(), "listening on") {
				once.Do(func() { close(listening) })
			}
		}
	}()
	go func() {
		defer close(tap.done)
		err := lkReadPcap(bufio.NewReader(stdout), func(p lkPacket) {
			tap.mu.Lock()
			tap.pkts = append(tap.pkts, p)
			tap.mu.Unlock()
		})
		tap.mu.Lock()
		tap.err = err
		tap.mu.Unlock()
		_ = cmd.Wait()
	}()
	t.Cleanup(tap.stop)
	select {
	case <-listening:
	case <-time.After(10 * time.Second):
		tap.stop()
		tap.mu.Lock()
		msg := errText.String()
		tap.mu.Unlock()
		t.Fatalf("tcpdump in %s did not start: %s", ns, msg)
	}
	return tap
}

// stop ends tcpdump and waits until its output is read.
func (p *lkTap) stop() {
	p.cancel()
	<-p.done
}

// packets returns the packets captured so far.
func (p *lkTap) packets() ([]lkPacket, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]lkPacket(nil), p.pkts...), p.err
}

// lkCapture runs tcpdump -w in namespace ns until count packets matching
// filter were captured and returns their UDP payloads (IPv4 over Ethernet).
func lkCapture(ctx context.Context, t *testing.T, ns, dev, filter string, count int) ([][]byte, error) {
	t.Helper()
	file := t.TempDir() + "/capture.pcap"
	args := []string{"netns", "exec", ns, "tcpdump", "-i", dev, "-n", "-U", "-Q", "in", "-c", strconv.Itoa(count), "-w", file}
	args = append(args, strings.Fields(filter)...)
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if _, err := run(ctx, "ip", args...); err != nil {
		return nil, fmt.Errorf("capture of %d packets: %w", count, err)
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("capture: %w", err)
	}
	return lkPcapUDP(data)
}

// lkPcapUDP returns the UDP payloads of a classic pcap file of Ethernet
// (linktype 1) frames carrying IPv4.
func lkPcapUDP(data []byte) ([][]byte, error) {
	var out [][]byte
	err := lkReadPcap(bytes.NewReader(data), func(p lkPacket) { out = append(out, p.Payload) })
	return out, err
}

// lkReadPcap reads a classic pcap stream of Ethernet (linktype 1) frames
// and calls fn with each IPv4 UDP datagram, until EOF.
func lkReadPcap(r io.Reader, fn func(lkPacket)) error {
	hdr := make([]byte, 24)
	if _, err := io.ReadFull(r, hdr); err != nil {
		return fmt.Errorf("pcap header: %w", err)
	}
	var bo binary.ByteOrder
	nano := false
	switch binary.LittleEndian.Uint32(hdr) {
	case 0xa1b2c3d4:
		bo = binary.LittleEndian
	case 0xa1b23c4d:
		bo, nano = binary.LittleEndian, true
	case 0xd4c3b2a1:
		bo = binary.BigEndian
	case 0x4d3cb2a1:
		bo, nano = binary.BigEndian, true
	default:
		return errors.New("pcap: bad magic")
	}
	if lt := bo.Uint32(hdr[20:]); lt != 1 {
		return fmt.Errorf("pcap: link type %d, want 1 (ethernet)", lt)
	}
	rec := make([]byte, 16)
	for {
		if _, err := io.ReadFull(r, rec); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return fmt.Errorf("pcap record: %w", err)
		}
		sec, frac := int64(bo.Uint32(rec)), int64(bo.Uint32(rec[4:]))
		if !nano {
			frac *= 1000
		}
		frame := make([]byte, bo.Uint32(rec[8:]))
		if _, err := io.ReadFull(r, frame); err != nil {
			return fmt.Errorf("pcap record: %w", err)
		}
		if len(frame) < 14+20 || binary.BigEndian.Uint16(frame[12:]) != 0x0800 {
			continue
		}
		ip := frame[14:]
		ihl := int(ip[0]&0x0f) * 4
		if ip[9] != 17 || len(ip) < ihl+8 {
			continue
		}
		total := int(binary.BigEndian.Uint16(ip[2:]))
		if total > len(ip) || total < ihl+8 {
			return errors.New("pcap: truncated packet (snaplen)")
		}
		fn(lkPacket{At: time.Unix(sec, frac), Payload: ip[ihl+8 : total]})
	}
}

// lkPollCounters polls the counters of n until ok holds or within passed,
// and returns the last ones (the caller judges them).
func lkPollCounters(t *testing.T, n *Node, within time.Duration, ok func(map[string]uint64) bool) map[string]uint64 {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		st, err := lkStatus(t.Context(), n)
		if err != nil {
			t.Fatal(err)
		}
		if ok(st.Counters) || time.Now().After(deadline) {
			return st.Counters
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// lkUDPRcvbufErrors is the Udp RcvbufErrors counter of namespace ns
// (/proc/net/snmp): datagrams dropped for a full socket receive buffer.
func lkUDPRcvbufErrors(ctx context.Context, ns string) (uint64, error) {
	out, err := run(ctx, "ip", "netns", "exec", ns, "cat", "/proc/net/snmp")
	if err != nil {
		return 0, err
	}
	var names []string
	for line := range strings.SplitSeq(out, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || f[0] != "Udp:" {
			continue
		}
		if names == nil {
			names = f
			continue
		}
		for i := 1; i < len(f) && i < len(names); i++ {
			if names[i] == "RcvbufErrors" {
				v, err := strconv.ParseUint(f[i], 10, 64)
				if err != nil {
					return 0, fmt.Errorf("udp RcvbufErrors of %s: %w", ns, err)
				}
				return v, nil
			}
		}
	}
	return 0, fmt.Errorf("no Udp RcvbufErrors in /proc/net/snmp of %s", ns)
}
