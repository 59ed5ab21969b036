package engine

import (
	"os/exec"
	"strings"
	"testing"
)

// TestLayering keeps the engine free of netlink, D-Bus and systemd: they
// come in through Medium and Runner only.
func TestLayering(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, dep := range strings.Fields(string(out)) {
		for _, banned := range []string{"github.com/godbus/", "github.com/vishvananda/", "github.com/coreos/go-systemd", "go.bug.st/serial",
			"github.com/linuxha/heartbeat/internal/resource", "github.com/linuxha/heartbeat/internal/media", "github.com/linuxha/heartbeat/internal/daemon"} {
			if strings.HasPrefix(dep, banned) {
				t.Errorf("the engine depends on %s", dep)
			}
		}
	}
}
