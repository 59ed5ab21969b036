//go:build clustertest

package cluster

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestLabSmoke proves the harness: nodes boot, talk over both segments and
// to the client, run units, lose and regain links, share a serial cable,
// power off hard and boot again, and leave nothing behind.
func TestLabSmoke(t *testing.T) {
	t0 := time.Now()
	lab := New(t, Options{Nodes: 2, SecondNet: true, Serial: [][2]int{{1, 2}}})
	t.Logf("boot of 2 nodes + network: %v", time.Since(t0).Round(time.Millisecond))
	ctx := t.Context()
	n1, n2 := lab.Node(1), lab.Node(2)
	if out, err := n1.Run(ctx, "systemd-analyze", "blame"); err == nil {
		t.Logf("node1 systemd-analyze blame (top):\n%s", strings.Join(strings.SplitN(out, "\n", 8)[:7], "\n"))
	}

	for _, n := range lab.Nodes() {
		out, err := n.Run(ctx, "uname", "-n")
		if err != nil || strings.TrimSpace(out) != n.Hostname {
			t.Fatalf("%s: uname -n = %q, %v; want %q", n.NS, out, err, n.Hostname)
		}
	}

	// Both segments, both ways, and the client.
	mustPing(t, n1.Ping(ctx, n2.Addr(), 2*time.Second), "node1 -> node2")
	mustPing(t, n2.Ping(ctx, n1.Addr(), 2*time.Second), "node2 -> node1")
	mustPing(t, n1.Ping(ctx, n2.Addr2(), 2*time.Second), "node1 -> node2 (eth1)")
	mustPing(t, n1.Ping(ctx, lab.Client.Addr, 2*time.Second), "node1 -> client")
	mustPing(t, lab.Client.Ping(ctx, n2.Addr(), 2*time.Second), "client -> node2")

	// A transient unit runs under the node's systemd, in its own cgroup.
	out, err := n1.RunUnit(ctx, "sh", "-c", "cat /proc/self/cgroup; uname -n")
	if err != nil {
		t.Fatalf("RunUnit: %v", err)
	}
	if !strings.Contains(out, "system.slice/run-") || !strings.Contains(out, "node1") {
		t.Fatalf("RunUnit output %q: want a run-*.service cgroup on node1", out)
	}

	// The same unit name runs in both nodes at once (own cgroup per node).
	for _, n := range lab.Nodes() {
		if _, err := n.Run(ctx, "systemd-run", "--unit=hbsame", "--quiet", "sleep", "300"); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range lab.Nodes() {
		if out, err := n.Run(ctx, "systemctl", "is-active", "hbsame.service"); err != nil || strings.TrimSpace(out) != "active" {
			t.Fatalf("%s: hbsame.service %q, %v", n.NS, out, err)
		}
	}

	if out, err := n1.Journal(ctx, "hbsame.service"); err != nil || !strings.Contains(out, "Started hbsame.service") {
		t.Fatalf("journal of hbsame: %q, %v", out, err)
	}

	// Files land in the node; absolute links resolve inside it.
	if err := n1.WriteFile("/var/run/hbsmoke", []byte("in node1"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat("/run/hbsmoke"); err == nil {
		t.Fatal("a write through /var/run reached the host's /run")
	}
	if out, err := n1.Run(ctx, "cat", "/run/hbsmoke"); err != nil || out != "in node1" {
		t.Fatalf("file written via /var/run: %q, %v", out, err)
	}
	// authkeys is private.
	if err := n1.WriteHaConfig("node node1 node2\n", "node1 10.0.0.1\n", "auth 1\n1 crc\n"); err != nil {
		t.Fatal(err)
	}
	out, err = n1.Run(ctx, "stat", "-c", "%a %n", "/etc/ha.d/authkeys", "/etc/ha.d/ha.cf")
	if err != nil || !strings.Contains(out, "600 /etc/ha.d/authkeys") || !strings.Contains(out, "644 /etc/ha.d/ha.cf") {
		t.Fatalf("ha config modes: %q, %v", out, err)
	}
	if _, err := os.Stat("/etc/ha.d/authkeys.hbtmp"); err == nil {
		t.Fatal("a node file leaked to the host")
	}

	// The client reaches a service in a node, and learns its MAC.
	web := "#!/bin/sh\nprintf 'HTTP/1.0 200 OK\\r\\nContent-Length: 16\\r\\n\\r\\nhello from %s' \"$(uname -n)\"\n"
	if err := n1.WriteFile("/usr/local/bin/hbweb", []byte(web), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := n1.Run(ctx, "systemd-run", "--unit=hbweb", "--quiet", "socat",
		"TCP-LISTEN:8080,fork,reuseaddr", "EXEC:/usr/local/bin/hbweb"); err != nil {
		t.Fatal(err)
	}
	body, err := retry(ctx, 5*time.Second, func() (string, error) {
		return lab.Client.Curl(ctx, "http://"+n1.Addr()+":8080/")
	})
	if err != nil || body != "hello from node1" {
		t.Fatalf("curl from client: %q, %v", body, err)
	}
	entries, err := n1.JournalJSON(ctx, "hbweb.service")
	if err != nil || len(entries) == 0 || entries[0]["_HOSTNAME"] != "node1" {
		t.Fatalf("json journal of hbweb: %d entries, %v", len(entries), err)
	}
	mac, _, err := lab.Client.NeighMAC(ctx, n1.Addr())
	want, merr := n1.MAC("eth0")
	if err != nil || merr != nil || mac == "" || mac != want {
		t.Fatalf("client neighbour of node1: %q (%v), node1 eth0 %q (%v)", mac, err, want, merr)
	}

	// Pull node2's cable: no ping; plug it back in: ping again.
	if err := n2.CutLink(); err != nil {
		t.Fatal(err)
	}
	if err := n1.Ping(ctx, n2.Addr(), time.Second); err == nil {
		t.Fatal("ping over a cut link answered")
	}
	mustPing(t, n1.Ping(ctx, n2.Addr2(), 2*time.Second), "node1 -> node2 on eth1 while eth0 is cut")
	if err := n2.RestoreLink(); err != nil {
		t.Fatal(err)
	}
	mustPing(t, n1.Ping(ctx, n2.Addr(), 5*time.Second), "node1 -> node2 after restore")

	// A 100% lossy cable drops everything; cleared, it works again.
	if err := n2.Netem("loss", "100%"); err != nil {
		t.Fatal(err)
	}
	if err := n1.Ping(ctx, n2.Addr(), time.Second); err == nil {
		t.Fatal("ping over a 100% lossy link answered")
	}
	if err := n2.ClearNetem(); err != nil {
		t.Fatal(err)
	}
	mustPing(t, n1.Ping(ctx, n2.Addr(), 5*time.Second), "node1 -> node2 after clearing loss")
	if err := n2.Netem("delay", "50ms"); err != nil && !errors.Is(err, ErrNoNetem) {
		t.Fatal(err)
	} else if err != nil {
		t.Logf("delay not available: %v", err)
	} else if err := n2.ClearNetem(); err != nil {
		t.Fatal(err)
	}

	// The serial cable carries bytes both ways; pulled, it carries none.
	s := lab.Serial(0)
	if s.Device(n1) != "/dev/ttyS0" || s.Device(n2) != "/dev/ttyS0" {
		t.Fatalf("serial devices %q %q", s.Device(n1), s.Device(n2))
	}
	serialPass(t, ctx, n1, n2, "hi\n")
	serialPass(t, ctx, n2, n1, "yo\n")
	s.Disconnect()
	if _, err := n1.Run(ctx, "sh", "-c", "echo no > /dev/ttyS0"); err != nil {
		t.Fatal(err)
	}
	if out, err := n2.Run(ctx, "timeout", "1", "head", "-c", "3", "/dev/ttyS0"); err == nil || out != "" {
		t.Fatalf("pulled serial cable passed %q (%v)", out, err)
	}
	s.Connect()
	serialPass(t, ctx, n1, n2, "ok\n")

	// Binaries, when built, install into the nodes with their unit.
	if repo, err := lab.RepoRoot(); err == nil {
		if _, err := os.Stat(filepath.Join(repo, "bin", "heartbeat")); err == nil {
			if err := lab.InstallBinaries(); err != nil {
				t.Fatal(err)
			}
			if out, err := n2.Run(ctx, "systemctl", "cat", "heartbeat.service"); err != nil || !strings.Contains(out, "ExecStart=") {
				t.Fatalf("installed unit: %q, %v", out, err)
			}
			if _, err := n2.Run(ctx, "test", "-x", "/usr/local/sbin/hbctl"); err != nil {
				t.Fatal(err)
			}
		} else {
			t.Log("bin/heartbeat not built: install step not checked (make build)")
		}
	}

	// Hard power cut: gone at once, its journal still readable; then boot again.
	if _, err := n2.Run(ctx, "systemd-cat", "-t", "hbsmoke", "echo", "before the power cut"); err != nil {
		t.Fatal(err)
	}
	if _, err := n2.Run(ctx, "journalctl", "--flush"); err != nil {
		t.Fatal(err)
	}
	t1 := time.Now()
	if err := n2.PowerOff(); err != nil {
		t.Fatal(err)
	}
	t.Logf("power off: %v", time.Since(t1).Round(time.Millisecond))
	if n2.Running() || n2.PID1() != 0 {
		t.Fatal("node2 still running after PowerOff")
	}
	if err := n1.Ping(ctx, n2.Addr(), time.Second); err == nil {
		t.Fatal("powered-off node2 answers ping")
	}
	if out, err := n2.journalctl(ctx, "-t", "hbsmoke"); err != nil || !strings.Contains(out, "before the power cut") {
		t.Fatalf("journal of powered-off node2: %q, %v", out, err)
	}
	t1 = time.Now()
	if err := n2.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("boot again: %v", time.Since(t1).Round(time.Millisecond))
	mustPing(t, n1.Ping(ctx, n2.Addr(), 5*time.Second), "node1 -> node2 after boot")
	if n2.Boots() != 2 {
		t.Fatalf("node2 boots = %d, want 2", n2.Boots())
	}
	// A reboot from inside: nspawn exits 133, the harness boots it again.
	t1 = time.Now()
	if err := n2.Reboot(ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("reboot: %v", time.Since(t1).Round(time.Millisecond))
	if n2.Boots() != 3 {
		t.Fatalf("node2 boots = %d after reboot, want 3", n2.Boots())
	}
	mustPing(t, n1.Ping(ctx, n2.Addr(), 5*time.Second), "node1 -> node2 after reboot")
	// A clean shutdown.
	t1 = time.Now()
	if err := n1.Stop(); err != nil {
		t.Fatal(err)
	}
	t.Logf("clean stop: %v", time.Since(t1).Round(time.Millisecond))
	if out, err := n1.journalctl(ctx, "-b", "-n", "5"); err != nil || out == "" {
		t.Fatalf("journal of stopped node1: %q, %v", out, err)
	}

	// Teardown leaves nothing behind.
	ptys := s.PTYs()
	lab.Close()
	assertGone(t, lab, ptys)
	t.Logf("smoke total: %v", time.Since(t0).Round(time.Millisecond))
}

func mustPing(t *testing.T, err error, what string) {
	t.Helper()
	if err != nil {
		t.Fatalf("ping %s: %v", what, err)
	}
}

// serialPass writes msg to /dev/ttyS0 of from and reads it on to.
func serialPass(t *testing.T, ctx context.Context, from, to *Node, msg string) {
	t.Helper()
	if _, err := from.Run(ctx, "sh", "-c", "printf '"+strings.ReplaceAll(msg, "\n", `\n`)+"' > /dev/ttyS0"); err != nil {
		t.Fatal(err)
	}
	out, err := to.Run(ctx, "timeout", "2", "head", "-c", "3", "/dev/ttyS0")
	if err != nil || out != msg {
		t.Fatalf("serial %s -> %s: got %q (%v), want %q", from.Hostname, to.Hostname, out, err, msg)
	}
}

func retry(ctx context.Context, d time.Duration, f func() (string, error)) (string, error) {
	deadline := time.Now().Add(d)
	for {
		out, err := f()
		if err == nil || time.Now().After(deadline) {
			return out, err
		}
		select {
		case <-ctx.Done():
			return out, err
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func assertGone(t *testing.T, lab *Lab, ptys [2]string) {
	t.Helper()
	ents, err := os.ReadDir("/run/netns")
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	for _, e := range ents {
		if m := staleNetns.FindStringSubmatch(e.Name()); m != nil && m[1] == strconv.Itoa(lab.ID) {
			t.Errorf("namespace %s left", e.Name())
		}
	}
	if m, err := mountsUnder(lab.Base); err != nil || len(m) > 0 {
		t.Errorf("mounts left under %s: %v %v", lab.Base, m, err)
	}
	if _, err := os.Stat(lab.Base); !os.IsNotExist(err) {
		t.Errorf("run dir %s left: %v", lab.Base, err)
	}
	for _, n := range lab.Nodes() {
		for _, d := range n.cgdirs {
			if _, err := os.Stat(d); !os.IsNotExist(err) {
				t.Errorf("cgroup %s left: %v", d, err)
			}
		}
	}
	for _, p := range ptys {
		// The pty number may be reused at once by someone else; ours is gone
		// if the path is gone or is no longer held by us.
		if _, err := os.Stat(p); err == nil && holdsFile(p) {
			t.Errorf("pty %s still open", p)
		}
	}
}

// holdsFile reports whether this process has path open.
func holdsFile(path string) bool {
	fds, _ := filepath.Glob("/proc/self/fd/*")
	for _, fd := range fds {
		if l, err := os.Readlink(fd); err == nil && l == path {
			return true
		}
	}
	return false
}
