package dbusapi

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

const dbusDaemon = "/usr/bin/dbus-daemon"

// testBus is a private dbus-daemon with the system bus policy and the
// project's policy file.
type testBus struct {
	t      *testing.T
	dir    string
	config string
	addr   string
	cmd    *exec.Cmd
}

func startBus(t *testing.T) *testBus {
	t.Helper()
	if _, err := os.Stat(dbusDaemon); err != nil {
		t.Skipf("%s not installed (apt-get install dbus): %v", dbusDaemon, err)
	}
	policy, err := filepath.Abs("../../dbus/org.linuxha.Heartbeat1.conf")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	b := &testBus{t: t, dir: dir, config: filepath.Join(dir, "bus.conf"), addr: "unix:path=" + filepath.Join(dir, "bus.sock")}
	conf := fmt.Sprintf(`<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <auth>EXTERNAL</auth>
  <listen>unix:path=%s/bus.sock</listen>
  <policy context="default">
    <allow user="*"/>
    <deny own="*"/>
    <deny send_type="method_call"/>
    <allow send_type="signal"/>
    <allow send_requested_reply="true" send_type="method_return"/>
    <allow send_requested_reply="true" send_type="error"/>
    <allow receive_type="method_call"/>
    <allow receive_type="method_return"/>
    <allow receive_type="error"/>
    <allow receive_type="signal"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Introspectable"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Properties"/>
  </policy>
  <include>%s</include>
</busconfig>
`, dir, policy)
	if err := os.WriteFile(b.config, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	b.start()
	t.Cleanup(b.stop)
	return b
}

// start runs dbus-daemon and returns once it listens.
func (b *testBus) start() {
	b.t.Helper()
	os.Remove(filepath.Join(b.dir, "bus.sock"))
	cmd := exec.Command(dbusDaemon, "--config-file="+b.config, "--nofork", "--nopidfile", "--nosyslog", "--print-address=1")
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.t.Fatal(err)
	}
	cmd.Stderr = b.t.Output()
	if err := cmd.Start(); err != nil {
		b.t.Fatalf("start dbus-daemon: %v", err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "unix:") {
		cmd.Process.Kill()
		cmd.Wait()
		b.t.Fatalf("dbus-daemon did not start: %q %v", line, err)
	}
	b.cmd = cmd
}

// stop kills the bus daemon (as a dbus.service restart would).
func (b *testBus) stop() {
	if b.cmd == nil {
		return
	}
	b.cmd.Process.Kill()
	b.cmd.Wait()
	b.cmd = nil
}
