//go:build clustertest

package cluster

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"
)

// hbchild is a respawn child: it runs until killed, and exits 100 (Heartbeat's
// "do not respawn me") when /run/hbchild-stop exists.
const hbchild = `#!/bin/sh
[ -e /run/hbchild-stop ] && exit 100
exec sleep 100000
`

// TestRespawnChild runs a ha.cf respawn line for real: the child is a
// transient systemd unit running as the given user, restarted when it is
// killed, left down when it exits 100, and stopped with heartbeat.
func TestRespawnChild(t *testing.T) {
	lab := New(t, Options{Nodes: 1})
	n := lab.Node(1)
	ctx := t.Context()
	if err := n.WriteFile("/usr/local/bin/hbchild", []byte(hbchild), 0o755); err != nil {
		t.Fatal(err)
	}
	hacf := fmt.Sprintf("keepalive 100ms\ndeadtime 500ms\nwarntime 300ms\ninitdead 1\nudpport 694\nucast eth0 %s\nnode node1\nrespawn nobody /usr/local/bin/hbchild\ncrm off\n", lab.Addr(2))
	lkStartDaemons(t, lab, hacf, "", "auth 1\n1 sha1 respawn\n")
	const unit = "heartbeat-respawn-hbchild.service"

	pidOf := func() int {
		v, _ := sdShow(ctx, n, unit, "MainPID")
		p, _ := strconv.Atoi(v)
		return p
	}
	var pid int
	if _, err := sdEventually(ctx, 10*time.Second, unit+" running", func() (bool, string) {
		pid = pidOf()
		st := sdIsActive(ctx, n, unit)
		return st == "active" && pid > 0, st
	}); err != nil {
		t.Fatal(err)
	}
	if u, _ := sdShow(ctx, n, unit, "User"); u != "nobody" {
		t.Errorf("%s User=%q, want nobody", unit, u)
	}
	if out, err := n.Run(ctx, "ps", "-o", "user=", "-p", strconv.Itoa(pid)); err != nil || out != "nobody\n" {
		t.Errorf("child runs as %q (%v), want nobody", out, err)
	}

	// Killed: systemd starts it again (Restart=on-failure).
	if _, err := n.Run(ctx, "kill", "-9", strconv.Itoa(pid)); err != nil {
		t.Fatal(err)
	}
	var pid2 int
	if d, err := sdEventually(ctx, 10*time.Second, "child restarted", func() (bool, string) {
		pid2 = pidOf()
		return pid2 > 0 && pid2 != pid && sdIsActive(ctx, n, unit) == "active", fmt.Sprintf("pid %d", pid2)
	}); err != nil {
		t.Fatal(err)
	} else {
		t.Logf("child respawned %v after kill -9 (pid %d -> %d)", d.Round(time.Millisecond), pid, pid2)
	}

	// Exit 100: not respawned.
	if _, err := n.Run(ctx, "touch", "/run/hbchild-stop"); err != nil {
		t.Fatal(err)
	}
	if _, err := n.Run(ctx, "kill", "-9", strconv.Itoa(pid2)); err != nil {
		t.Fatal(err)
	}
	if _, err := sdEventually(ctx, 10*time.Second, "child down after exit 100", func() (bool, string) {
		st := sdIsActive(ctx, n, unit)
		return st != "active" && st != "activating" && pidOf() == 0, st
	}); err != nil {
		t.Fatal(err)
	}
	// The unit is collected once it failed (CollectMode=inactive-or-failed),
	// so its journal tells: exit status 100, and no start after it.
	time.Sleep(time.Second)
	out, err := n.journalctl(ctx, "-u", unit, "-o", "cat")
	if err != nil {
		t.Fatal(err)
	}
	exit100 := strings.LastIndex(out, "status=100")
	if exit100 < 0 {
		t.Fatalf("%s journal has no exit status 100:\n%s", unit, out)
	}
	if strings.Contains(out[exit100:], "Started") || pidOf() != 0 {
		t.Errorf("child respawned after exit 100:\n%s", out)
	}
	// A new child, then heartbeat stops: the child goes with it.
	if _, err := n.Run(ctx, "rm", "/run/hbchild-stop"); err != nil {
		t.Fatal(err)
	}
	if _, err := n.Run(ctx, "systemctl", "restart", "heartbeat.service"); err != nil {
		t.Fatal(err)
	}
	if _, err := sdEventually(ctx, 10*time.Second, "child running after heartbeat restart", func() (bool, string) {
		st := sdIsActive(ctx, n, unit)
		return st == "active", st
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := n.Run(ctx, "systemctl", "stop", "heartbeat.service"); err != nil {
		t.Fatal(err)
	}
	if st := sdIsActive(ctx, n, unit); st == "active" || st == "activating" {
		t.Errorf("%s %s after heartbeat stopped", unit, st)
	}
}
