//go:build clustertest

package cluster

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestDebPackage installs the Debian package (make deb) on two fresh nodes,
// whose overlay of the host root still carries Debian's heartbeat 3.0.6, so
// dpkg -i is the in-place upgrade an administrator would do. It checks the
// installation policy (nothing in /etc/ha.d touched, no start without
// ha.cf), that the installed units, D-Bus policy and tools form a working
// cluster that fails over, that upgrading to a newer build with the cluster
// running keeps the VIP reachable, and that remove stops the daemon and
// purge removes its state but never /etc/ha.d.
func TestDebPackage(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("cluster tests need root")
	}
	t0 := time.Now()
	tmp := t.TempDir()
	base, err := debGitVersion()
	if err != nil {
		t.Fatal(err)
	}
	// Both builds at once: this tree's version (git describe, as make deb
	// uses by default; passed explicitly so that a commit made meanwhile
	// cannot change it) and a newer one.
	var deb1, deb2 string
	var err1, err2 error
	done := make(chan struct{})
	go func() {
		defer close(done)
		deb2, err2 = debBuild(t.Context(), filepath.Join(tmp, "b"), base+"-upgradetest")
	}()
	deb1, err1 = debBuild(t.Context(), filepath.Join(tmp, "a"), base)
	<-done
	if err1 != nil || err2 != nil {
		t.Fatal(errors.Join(err1, err2))
	}
	v1, v2 := debField(t, deb1, "Version"), debField(t, deb2, "Version")
	if out, err := exec.Command("dpkg", "--compare-versions", v2, "gt", v1).CombinedOutput(); err != nil {
		t.Fatalf("newer build %s does not sort above %s: %v %s", v2, v1, err, out)
	}
	t.Logf("packages built in %v: %s, %s", time.Since(t0).Round(time.Millisecond), filepath.Base(deb1), filepath.Base(deb2))

	lab := New(t, Options{Nodes: 2})
	ctx := t.Context()
	n1, n2 := lab.Node(1), lab.Node(2)
	vip := lab.Addr(100)

	// Install on both nodes. The harness masks the host's heartbeat.service
	// in every node; a real machine has no such mask.
	etcBefore := map[*Node]string{}
	for _, n := range lab.Nodes() {
		if err := n.RemoveFile("/etc/systemd/system/heartbeat.service"); err != nil {
			t.Fatal(err)
		}
		if _, err := n.Run(ctx, "systemctl", "daemon-reload"); err != nil {
			t.Fatal(err)
		}
		// Speed only: no man-db index rebuild on every dpkg run.
		if err := n.RemoveFile("/var/lib/man-db/auto-update"); err != nil {
			t.Fatal(err)
		}
		// A container image's policy-rc.d (exit 101) on the host would make
		// the maintainer scripts' deb-systemd-invoke refuse to stop the
		// service on removal; a real machine has none.
		if _, err := n.Run(ctx, "test", "-e", "/usr/sbin/policy-rc.d"); err == nil {
			if err := n.RemoveFile("/usr/sbin/policy-rc.d"); err != nil {
				t.Fatal(err)
			}
		}
		// node1 replaces Debian's 3.0.6 in place (dpkg -i); node2 is a
		// fresh machine (3.0.6 purged first) that installs with apt,
		// which resolves the dependencies.
		var out string
		if n == n2 {
			if o, err := n.Run(ctx, "dpkg", "-P", "heartbeat"); err != nil {
				t.Fatalf("%s: purge Debian's heartbeat: %v\n%s", n.Hostname, err, o)
			}
			etcBefore[n] = debEtcSums(t, ctx, n)
			out = debAptInstall(t, ctx, n, deb1)
		} else {
			etcBefore[n] = debEtcSums(t, ctx, n)
			out = debInstall(t, ctx, n, deb1)
		}
		if !strings.Contains(out, "no /etc/ha.d/ha.cf yet") {
			t.Errorf("%s: dpkg -i without ha.cf: want the note about ha.cf, got:\n%s", n.Hostname, out)
		}
		if got := debQueryVersion(t, ctx, n); got != v1 {
			t.Fatalf("%s: installed version %q, want %q", n.Hostname, got, v1)
		}
		if st := debIsActive(ctx, n, "heartbeat.service"); st == "active" {
			t.Fatalf("%s: heartbeat started on install without /etc/ha.d/ha.cf", n.Hostname)
		}
		if after := debEtcSums(t, ctx, n); after != etcBefore[n] {
			t.Fatalf("%s: dpkg -i changed /etc/ha.d:\nbefore:\n%s\nafter:\n%s", n.Hostname, etcBefore[n], after)
		}
	}
	debCheckFiles(t, ctx, n1)
	debCheckFiles(t, ctx, n2)
	for _, n := range lab.Nodes() {
		d, _ := n.Run(ctx, "/usr/sbin/heartbeat", "--version")
		c, _ := n.Run(ctx, "hbctl", "--version")
		if strings.TrimSpace(c) != "hbctl "+base || !strings.Contains(d, base) {
			t.Errorf("%s: hbctl --version %q, heartbeat --version %q; want both stamped %s", n.Hostname, c, d, base)
		}
	}

	// Configure and start: one VIP, preferred node1.
	hacf := fmt.Sprintf(`# deb install test
keepalive 100ms
deadtime 1
warntime 500ms
initdead 5
auto_failback off
ucast eth0 %s
ucast eth0 %s
node node1 node2
`, lab.Addr(1), lab.Addr(2))
	for _, n := range lab.Nodes() {
		if err := n.WriteHaConfig(hacf, "node1 "+vip+"/24/eth0\n", "auth 1\n1 sha1 debtestsecret\n"); err != nil {
			t.Fatal(err)
		}
	}
	// docs/migration.md: the files can be checked with the package's own
	// static hbctl before anything is installed.
	if _, err := n1.Run(ctx, "dpkg-deb", "-x", "/root/"+filepath.Base(deb1), "/root/hbx"); err != nil {
		t.Fatal(err)
	}
	if out, err := n1.Run(ctx, "/root/hbx/usr/bin/hbctl", "check-config"); err != nil {
		t.Fatalf("hbctl check-config out of the extracted package: %v\n%s", err, out)
	}
	for _, n := range lab.Nodes() {
		if out, err := n.Run(ctx, "systemctl", "enable", "--now", "heartbeat.service"); err != nil {
			t.Fatalf("%s: systemctl enable --now heartbeat: %v\n%s", n.Hostname, err, out)
		}
	}
	debWaitOwner(t, ctx, n1, "node1", 20*time.Second)
	if err := lab.Client.Ping(ctx, vip, 5*time.Second); err != nil {
		t.Fatalf("client -> VIP on node1: %v", err)
	}

	// The bus name, hbctl and the journal of the installed package work.
	out, err := n1.Run(ctx, "busctl", "introspect", "org.linuxha.Heartbeat1", "/org/linuxha/Heartbeat1")
	if err != nil || !strings.Contains(out, "org.linuxha.Heartbeat1.Manager") {
		t.Fatalf("busctl introspect: %v\n%s", err, out)
	}
	pid1 := debMainPID(t, ctx, n1)
	out, err = n1.Run(ctx, "busctl", "status", "org.linuxha.Heartbeat1")
	if err != nil || !strings.Contains(out, fmt.Sprintf("PID=%d", pid1)) || !strings.Contains(out, "Unit=heartbeat.service") {
		t.Fatalf("busctl status org.linuxha.Heartbeat1: want the daemon (PID %d, heartbeat.service): %v\n%s", pid1, err, out)
	}
	out, err = n1.Run(ctx, "hbctl", "status")
	if err != nil || !strings.Contains(out, "node node1") || !strings.Contains(out, "node2") {
		t.Fatalf("hbctl status: %v\n%s", err, out)
	}
	// As 3.0.6: node1 holds its own groups ("local"); the foreign ones
	// (none here) count as held only while node2 is dead.
	out, err = n1.Run(ctx, "cl_status", "rscstatus")
	if err != nil || strings.TrimSpace(out) != "local" {
		t.Fatalf("cl_status rscstatus on the owner: %q, %v; want local", out, err)
	}
	out, err = n2.Run(ctx, "cl_status", "rscstatus")
	if err != nil || strings.TrimSpace(out) != "local" {
		t.Fatalf("cl_status rscstatus on node2 (no group of its own): %q, %v; want local, as 3.0.6", out, err)
	}
	out, err = n1.Run(ctx, "journalctl", "-u", "heartbeat", "--no-pager", "-o", "cat")
	if err != nil || !strings.Contains(out, "resource group") {
		t.Fatalf("journalctl -u heartbeat: %v\n%s", err, out)
	}

	// Fail over: power off the owner, node2 takes the VIP.
	tOff := time.Now()
	if err := n1.PowerOff(); err != nil {
		t.Fatal(err)
	}
	debWaitOwner(t, ctx, n2, "node2", 15*time.Second)
	if err := lab.Client.Ping(ctx, vip, 5*time.Second); err != nil {
		t.Fatalf("client -> VIP after failover: %v", err)
	}
	t.Logf("failover to node2 after power-off: %v", time.Since(tOff).Round(time.Millisecond))

	// node1 comes back (heartbeat is enabled); auto_failback off keeps the
	// VIP on node2.
	if err := n1.Start(ctx); err != nil {
		t.Fatal(err)
	}
	debWaitNodeActive(t, ctx, n2, "node1", 40*time.Second)

	// Upgrade both nodes while the client pings the VIP every 100 ms.
	pid2 := debMainPID(t, ctx, n2)
	pctx, stopPing := context.WithCancel(ctx)
	defer stopPing()
	ping := lab.Client.Command(pctx, "ping", "-n", "-i", "0.1", "-w", "120", vip)
	var pingOut bytes.Buffer
	ping.Stdout, ping.Stderr = &pingOut, &pingOut
	ping.Cancel = func() error { return ping.Process.Signal(os.Interrupt) }
	ping.WaitDelay = 5 * time.Second
	if err := ping.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second) // a baseline of answers before the upgrade
	for _, n := range []*Node{n1, n2} {
		out := debInstall(t, ctx, n, deb2)
		if got := debQueryVersion(t, ctx, n); got != v2 {
			t.Fatalf("%s: version after upgrade %q, want %q", n.Hostname, got, v2)
		}
		if n == n2 && !strings.Contains(out, "was not restarted") {
			t.Errorf("%s: upgrade with heartbeat running: want the restart note, got:\n%s", n.Hostname, out)
		}
	}
	time.Sleep(2 * time.Second) // answers after the upgrade
	stopPing()
	_ = ping.Wait()
	sent, recv, perr := debPingStats(pingOut.String())
	if perr != nil {
		t.Fatalf("ping during upgrade: %v\n%s", perr, pingOut.String())
	}
	lost := sent - recv
	t.Logf("ping of the VIP during the upgrade of both nodes: %d sent, %d received, %d lost", sent, recv, lost)
	if sent < 20 || lost > 3 {
		t.Fatalf("VIP not kept reachable during the upgrade: %d sent, %d lost (want <= 3)", sent, lost)
	}
	if got := debMainPID(t, ctx, n2); got != pid2 {
		t.Fatalf("the upgrade restarted heartbeat on node2 (MainPID %d -> %d)", pid2, got)
	}
	if st := debGroup(t, ctx, n2); st.Owner != "node2" || st.State != "running" {
		t.Fatalf("after the upgrade: group owner %q state %q, want node2 running", st.Owner, st.State)
	}
	out, err = n2.Run(ctx, "/usr/sbin/heartbeat", "--version")
	if err != nil || !strings.Contains(out, "upgradetest") {
		t.Fatalf("heartbeat --version after upgrade: %q, %v", out, err)
	}

	// The new build runs after a restart: restart the node that holds
	// nothing (the group stays where it is) and ask its daemon's version.
	if out, err := n1.Run(ctx, "systemctl", "restart", "heartbeat.service"); err != nil {
		t.Fatalf("node1: systemctl restart heartbeat: %v\n%s", err, out)
	}
	debWaitNodeActive(t, ctx, n2, "node1", 40*time.Second)
	out, err = n1.Run(ctx, "hbctl", "status", "--json")
	if err != nil || !strings.Contains(out, "upgradetest") {
		t.Fatalf("node1: hbctl status --json after the restart does not report the new build: %v\n%s", err, out)
	}
	if st := debGroup(t, ctx, n2); st.Owner != "node2" || st.State != "running" {
		t.Fatalf("after restarting node1: group owner %q state %q, want node2 running", st.Owner, st.State)
	}

	// Remove on the owner: the service stops, the peer takes the VIP over,
	// /etc/ha.d and the state stay.
	if out, err := n2.Run(ctx, "dpkg", "-r", "heartbeat"); err != nil {
		t.Fatalf("dpkg -r: %v\n%s", err, out)
	}
	if st := debIsActive(ctx, n2, "heartbeat.service"); st == "active" || st == "deactivating" {
		t.Fatalf("node2: heartbeat.service %s after dpkg -r", st)
	}
	debWaitOwner(t, ctx, n1, "node1", 15*time.Second)
	for _, p := range []string{"/etc/ha.d/ha.cf", "/etc/ha.d/haresources", "/etc/ha.d/authkeys", "/var/lib/heartbeat"} {
		if _, err := n2.Run(ctx, "test", "-e", p); err != nil {
			t.Fatalf("node2: %s gone after dpkg -r", p)
		}
	}
	if _, err := n2.Run(ctx, "test", "-e", "/usr/sbin/heartbeat"); err == nil {
		t.Fatal("node2: /usr/sbin/heartbeat still there after dpkg -r")
	}
	if out, err := n2.Run(ctx, "dpkg", "-P", "heartbeat"); err != nil {
		t.Fatalf("dpkg -P: %v\n%s", err, out)
	}
	for _, p := range []string{"/var/lib/heartbeat", "/run/heartbeat"} {
		if _, err := n2.Run(ctx, "test", "-e", p); err == nil {
			t.Fatalf("node2: %s still there after dpkg -P", p)
		}
	}
	if _, err := n2.Run(ctx, "test", "-e", "/etc/ha.d/ha.cf"); err != nil {
		t.Fatal("node2: dpkg -P removed /etc/ha.d/ha.cf")
	}

	// Rolling back (docs/migration.md) on node1: stop, dpkg -i the 3.0.6
	// package file, start: Debian's daemon runs from the same /etc/ha.d.
	old, err := exec.Command("dpkg-query", "-W", "-f=${Version}", "heartbeat").Output()
	if err != nil {
		t.Fatalf("the host has no Debian heartbeat to roll back to (scripts/deps installs it): %v", err)
	}
	download := func() ([]byte, error) {
		dl := exec.CommandContext(ctx, "apt-get", "download", "heartbeat="+string(old))
		dl.Dir = tmp
		return dl.CombinedOutput()
	}
	if _, err := download(); err != nil { // no package lists yet?
		if out, err := exec.CommandContext(ctx, "apt-get", "update", "-qq").CombinedOutput(); err != nil {
			t.Fatalf("apt-get update: %v\n%s", err, out)
		}
		if out, err := download(); err != nil {
			t.Fatalf("apt-get download heartbeat=%s: %v\n%s", old, err, out)
		}
	}
	debs, _ := filepath.Glob(filepath.Join(tmp, "heartbeat_*.deb"))
	if len(debs) != 1 {
		t.Fatalf("apt-get download: %v", debs)
	}
	if out, err := n1.Run(ctx, "systemctl", "stop", "heartbeat.service"); err != nil {
		t.Fatalf("node1: systemctl stop heartbeat: %v\n%s", err, out)
	}
	debInstall(t, ctx, n1, debs[0])
	if got := debQueryVersion(t, ctx, n1); got != string(old) {
		t.Fatalf("node1: version %q after the rollback, want %q", got, old)
	}
	if out, err := n1.Run(ctx, "systemctl", "start", "heartbeat.service"); err != nil {
		t.Fatalf("node1: systemctl start heartbeat (3.0.6): %v\n%s", err, out)
	}
	if _, err := sdEventually(ctx, 40*time.Second, "3.0.6 on node1 holds the VIP after the rollback", func() (bool, string) {
		out, _ := n1.Run(ctx, "systemctl", "show", "-P", "ExecStart", "heartbeat.service")
		addrs, _ := n1.Run(ctx, "ip", "-br", "-4", "addr", "show", "dev", "eth0")
		return strings.Contains(out, "/usr/libexec/heartbeat/heartbeat") && strings.Contains(addrs, vip+"/"), addrs
	}); err != nil {
		t.Fatal(err)
	}
	if out, err := n1.Run(ctx, "cl_status", "hbstatus"); err != nil || !strings.Contains(out, "running") {
		t.Errorf("cl_status hbstatus of 3.0.6 after the rollback: %q, %v", out, err)
	}
	t.Logf("TestDebPackage: %v", time.Since(t0).Round(time.Millisecond))
}

// debGitVersion is the Makefile's default VERSION.
func debGitVersion() (string, error) {
	out, err := exec.Command("git", "-C", "../..", "describe", "--tags", "--always", "--dirty").Output()
	if err != nil {
		return "devel", nil
	}
	return strings.TrimSpace(string(out)), nil
}

// debBuild runs make deb into dir (own BIN and DIST, so bin/ of the tree is
// left alone) and returns the package path.
func debBuild(ctx context.Context, dir, version string) (string, error) {
	args := []string{"-s", "-C", "../..", "deb", "BIN=" + filepath.Join(dir, "bin"), "DIST=" + filepath.Join(dir, "dist"), "VERSION=" + version}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "make", args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("make %s: %w\n%s%s", strings.Join(args, " "), err, out, stderr.String())
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	deb := lines[len(lines)-1]
	if !strings.HasSuffix(deb, ".deb") {
		return "", fmt.Errorf("make deb printed %q, want the package path last", out)
	}
	if _, err := os.Stat(deb); err != nil {
		return "", err
	}
	return deb, nil
}

func debField(t *testing.T, deb, field string) string {
	t.Helper()
	out, err := exec.Command("dpkg-deb", "-f", deb, field).Output()
	if err != nil {
		t.Fatalf("dpkg-deb -f %s %s: %v", deb, field, err)
	}
	return strings.TrimSpace(string(out))
}

// debInstall copies the package into the node and runs dpkg -i; it returns
// dpkg's output (maintainer script notes included).
func debInstall(t *testing.T, ctx context.Context, n *Node, deb string) string {
	t.Helper()
	return debCopyAndRun(t, ctx, n, deb, "dpkg", "-i")
}

// debAptInstall installs deb with apt, as on a fresh machine.
func debAptInstall(t *testing.T, ctx context.Context, n *Node, deb string) string {
	t.Helper()
	return debCopyAndRun(t, ctx, n, deb, "apt-get", "install", "-y", "-o", "Dpkg::Use-Pty=0")
}

// debCopyAndRun copies deb into the node's /root and runs cmd with its
// path as the last argument; it returns the combined output.
func debCopyAndRun(t *testing.T, ctx context.Context, n *Node, deb string, cmd ...string) string {
	t.Helper()
	data, err := os.ReadFile(deb)
	if err != nil {
		t.Fatal(err)
	}
	p := "/root/" + filepath.Base(deb)
	if err := n.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := n.Command(ctx, append(cmd, p)...)
	if err != nil {
		t.Fatal(err)
	}
	c.Env = append(c.Environ(), "DEBIAN_FRONTEND=noninteractive")
	out, err := c.CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %s %s: %v\n%s", n.Hostname, strings.Join(cmd, " "), filepath.Base(deb), err, out)
	}
	return string(out)
}

func debQueryVersion(t *testing.T, ctx context.Context, n *Node) string {
	t.Helper()
	out, err := n.Run(ctx, "dpkg-query", "-W", "-f=${Version}", "heartbeat")
	if err != nil {
		t.Fatalf("%s: dpkg-query: %v", n.Hostname, err)
	}
	return strings.TrimSpace(out)
}

func debIsActive(ctx context.Context, n *Node, unit string) string {
	out, _ := n.Run(ctx, "systemctl", "is-active", unit)
	return strings.TrimSpace(out)
}

func debMainPID(t *testing.T, ctx context.Context, n *Node) int {
	t.Helper()
	out, err := n.Run(ctx, "systemctl", "show", "-P", "MainPID", "heartbeat.service")
	pid, perr := strconv.Atoi(strings.TrimSpace(out))
	if err != nil || perr != nil || pid == 0 {
		t.Fatalf("%s: MainPID of heartbeat: %q, %v", n.Hostname, out, err)
	}
	return pid
}

// debEtcSums lists /etc/ha.d with checksums, modes and link targets.
func debEtcSums(t *testing.T, ctx context.Context, n *Node) string {
	t.Helper()
	out, err := n.Run(ctx, "sh", "-c", "cd /etc/ha.d 2>/dev/null && find . -printf '%p %m %y %l\\n' | sort && find . -type f -exec md5sum {} + | sort")
	if err != nil {
		t.Fatalf("%s: list /etc/ha.d: %v", n.Hostname, err)
	}
	return out
}

// debCheckFiles checks the installed layout.
func debCheckFiles(t *testing.T, ctx context.Context, n *Node) {
	t.Helper()
	links := map[string]string{
		"/usr/bin/cl_status":               "hbctl",
		"/usr/share/heartbeat/hb_standby":  "../../bin/hbctl",
		"/usr/share/heartbeat/hb_takeover": "../../bin/hbctl",
	}
	for p, want := range links {
		out, err := n.Run(ctx, "readlink", p)
		if err != nil || strings.TrimSpace(out) != want {
			t.Errorf("%s: readlink %s = %q, %v; want %q", n.Hostname, p, out, err, want)
		}
	}
	for _, p := range []string{
		"/usr/sbin/heartbeat", "/usr/bin/hbctl",
		"/lib/systemd/system/heartbeat.service", "/lib/systemd/system/heartbeat-udp.socket",
		"/lib/systemd/system/heartbeat-control.socket",
		"/usr/share/dbus-1/system.d/org.linuxha.Heartbeat1.conf",
		"/usr/share/dbus-1/interfaces/org.linuxha.Heartbeat1.xml",
		"/usr/share/heartbeat/heartbeat-watchdog.conf",
		"/usr/share/bash-completion/completions/hbctl", "/usr/share/zsh/vendor-completions/_hbctl",
		"/usr/share/doc/heartbeat/examples/ha.cf", "/usr/share/doc/heartbeat/examples/haresources",
		"/usr/share/doc/heartbeat/examples/authkeys",
		"/usr/share/man/man5/ha.cf.5.gz", "/usr/share/man/man8/hbctl.8.gz",
		"/var/lib/heartbeat", "/run/heartbeat",
	} {
		if _, err := n.Run(ctx, "test", "-e", p); err != nil {
			t.Errorf("%s: %s missing after install", n.Hostname, p)
		}
	}
	if out, err := n.Run(ctx, "getent", "group", "haclient"); err != nil || !strings.HasPrefix(out, "haclient:") {
		t.Errorf("%s: group haclient: %q, %v", n.Hostname, out, err)
	}
	if out, err := n.Run(ctx, "getent", "passwd", "hacluster"); err != nil || !strings.HasPrefix(out, "hacluster:") {
		t.Errorf("%s: user hacluster: %q, %v", n.Hostname, out, err)
	}
	if out, err := n.Run(ctx, "sh", "-c", "man -P cat 5 ha.cf 2>/dev/null | grep -c deadtime"); err != nil || strings.TrimSpace(out) == "0" {
		t.Errorf("%s: man 5 ha.cf does not document deadtime: %q, %v", n.Hostname, out, err)
	}
}

type debGroupStatus struct {
	Key, Owner, State string
}

type debStatus struct {
	Nodes []struct {
		Name, Status string
	} `json:"nodes"`
	Groups []debGroupStatus `json:"groups"`
}

func debHbctl(ctx context.Context, n *Node) (debStatus, error) {
	var st debStatus
	out, err := n.Run(ctx, "hbctl", "status", "--json")
	if err != nil {
		return st, err
	}
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		return st, fmt.Errorf("hbctl status --json: %w", err)
	}
	return st, nil
}

func debGroup(t *testing.T, ctx context.Context, n *Node) debGroupStatus {
	t.Helper()
	st, err := debHbctl(ctx, n)
	if err != nil || len(st.Groups) != 1 {
		t.Fatalf("%s: hbctl status: %+v, %v; want one group", n.Hostname, st, err)
	}
	return st.Groups[0]
}

// debWaitOwner waits until n reports the group running on owner.
func debWaitOwner(t *testing.T, ctx context.Context, n *Node, owner string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	var last string
	for time.Now().Before(deadline) {
		st, err := debHbctl(ctx, n)
		if err == nil && len(st.Groups) == 1 && st.Groups[0].Owner == owner && st.Groups[0].State == "running" {
			return
		}
		last = fmt.Sprintf("%+v %v", st.Groups, err)
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("%s: group not running on %s within %v (last: %s)", n.Hostname, owner, within, last)
}

// debWaitNodeActive waits until n sees peer as active.
func debWaitNodeActive(t *testing.T, ctx context.Context, n *Node, peer string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	var last string
	for time.Now().Before(deadline) {
		st, err := debHbctl(ctx, n)
		for _, x := range st.Nodes {
			if x.Name == peer && x.Status == "active" {
				return
			}
		}
		last = fmt.Sprintf("%+v %v", st.Nodes, err)
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("%s: %s not active within %v (last: %s)", n.Hostname, peer, within, last)
}

var debPingRE = regexp.MustCompile(`(\d+) packets transmitted, (\d+) received`)

func debPingStats(out string) (sent, recv int, err error) {
	m := debPingRE.FindStringSubmatch(out)
	if m == nil {
		return 0, 0, fmt.Errorf("no ping statistics")
	}
	sent, _ = strconv.Atoi(m[1])
	recv, _ = strconv.Atoi(m[2])
	return sent, recv, nil
}
