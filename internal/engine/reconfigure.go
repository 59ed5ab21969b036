package engine

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/linuxha/heartbeat/internal/wire"
)

// Reconfig is what a reload can change while the engine runs. Nodes and
// media cannot change live (the daemon asks for a restart).
type Reconfig struct {
	Keepalive, Deadtime, Warntime, Initdead time.Duration
	Keys                                    *wire.Keyring
	AutoFailback                            Failback
	Groups                                  []GroupConfig
	// Restart names groups whose resources changed: they are released and
	// acquired again (with the new resources).
	Restart []string
}

// Reconfigure applies a reload by difference: unchanged groups are not
// touched; new ones may be acquired, removed ones are released first.
func (e *Engine) Reconfigure(ctx context.Context, rc Reconfig) error {
	if rc.Deadtime <= rc.Keepalive || rc.Keepalive <= 0 {
		return fmt.Errorf("reconfigure: deadtime %v must be longer than keepalive %v", rc.Deadtime, rc.Keepalive)
	}
	if rc.Keys == nil {
		return fmt.Errorf("reconfigure: no keys")
	}
	for i := range rc.Groups {
		rc.Groups[i].Preferred = strings.ToLower(rc.Groups[i].Preferred)
		if !slices.Contains(e.cfg.Nodes, rc.Groups[i].Preferred) {
			return fmt.Errorf("reconfigure: group %q: unknown node %q", rc.Groups[i].Key, rc.Groups[i].Preferred)
		}
	}
	if len(rc.Groups) > 0 && e.cfg.Runner == nil {
		return fmt.Errorf("reconfigure: resource groups without a runner")
	}
	return e.request(ctx, func(c *core, now time.Time) error {
		e.exec(c.reconfigure(now, rc))
		return nil
	})
}

func (c *core) reconfigure(now time.Time, rc Reconfig) []action {
	c.out = c.out[:0]
	if rc.Warntime <= 0 || rc.Warntime > rc.Deadtime {
		rc.Warntime = rc.Deadtime / 2
	}
	if rc.Initdead < rc.Deadtime {
		rc.Initdead = rc.Deadtime
	}
	if rc.Keepalive != c.cfg.Keepalive {
		c.nextSend = now.Add(rc.Keepalive)
	}
	c.cfg.Keepalive, c.cfg.Deadtime, c.cfg.Warntime, c.cfg.Initdead = rc.Keepalive, rc.Deadtime, rc.Warntime, rc.Initdead
	c.firstWait = min(rc.Keepalive/2, 50*time.Millisecond)
	c.cfg.Keys = rc.Keys
	c.cfg.AutoFailback = rc.AutoFailback

	want := map[string]GroupConfig{}
	for _, gc := range rc.Groups {
		want[gc.Key] = gc
	}
	// Removed groups: released first, dropped when released (opDone).
	for _, g := range c.groups {
		if _, ok := want[g.Key]; !ok {
			g.removed = true
			if g.held() && !g.busy {
				c.release(now, g, "removed from haresources")
			}
		}
	}
	// New groups, and changes of the preferred node.
	var groups []*group
	for _, gc := range rc.Groups {
		if g := c.group(gc.Key); g != nil && !g.removed {
			g.Preferred = gc.Preferred
			groups = append(groups, g)
			continue
		}
		groups = append(groups, &group{GroupConfig: gc, state: GroupStopped, failed: gc.Blocked})
	}
	for _, g := range c.groups {
		if g.removed && (g.held() || g.busy) {
			groups = append(groups, g) // kept until released
		}
	}
	c.groups = groups
	for _, key := range rc.Restart {
		if g := c.group(key); g != nil && g.held() && !g.busy {
			c.release(now, g, "resources changed in haresources")
		}
	}
	c.reportDue = true
	c.afterGroupChange(now)
	return c.out
}
