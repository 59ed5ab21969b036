package daemon

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	sddbus "github.com/coreos/go-systemd/v22/dbus"

	"github.com/linuxha/heartbeat/internal/resource/unit"
)

// orderingDropIn is written so that systemd stops heartbeat before the
// units it manages: at a host shutdown heartbeat releases its groups (and
// tells its peers) before systemd would stop those services behind its back.
const orderingDropIn = "/run/systemd/system/heartbeat.service.d/50-managed-units.conf"

// units returns the systemd units of the resolved groups.
func (r *runner) units() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, as := range r.agents {
		for _, a := range as {
			if u, ok := a.(*unit.Agent); ok && !slices.Contains(out, u.Unit()) {
				out = append(out, u.Unit())
			}
		}
	}
	slices.Sort(out)
	return out
}

func orderingContent(units []string) []byte {
	var b bytes.Buffer
	b.WriteString("# Written by heartbeat: stop heartbeat (which releases its resource groups)\n# before the units it manages.\n[Unit]\n")
	if len(units) > 0 {
		fmt.Fprintf(&b, "After=%s\n", strings.Join(units, " "))
	}
	return b.Bytes()
}

// orderAgainstUnits writes the drop-in when the managed units changed and
// asks systemd to reload. It only runs under systemd.
func (d *daemon) orderAgainstUnits(ctx context.Context, path string) {
	if os.Getenv("INVOCATION_ID") == "" {
		return
	}
	units := d.runner.units()
	want := orderingContent(units)
	if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, want) {
		return
	}
	if len(units) == 0 {
		if _, err := os.Stat(path); err != nil {
			return
		}
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		d.log.Warn("cannot order heartbeat against its units", "err", err)
		return
	}
	if err := os.WriteFile(path, want, 0o644); err != nil {
		d.log.Warn("cannot order heartbeat against its units", "err", err)
		return
	}
	conn, err := sddbus.NewSystemConnectionContext(ctx)
	if err != nil {
		d.log.Warn("cannot reload systemd for the unit ordering", "err", err)
		return
	}
	defer conn.Close()
	if err := conn.ReloadContext(ctx); err != nil {
		d.log.Warn("cannot reload systemd for the unit ordering", "err", err)
		return
	}
	d.log.Info("heartbeat now stops before the units it manages", "unit", strings.Join(units, " "))
}
