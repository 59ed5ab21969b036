package daemon

import (
	"context"
	"fmt"
	"slices"

	"github.com/linuxha/heartbeat/internal/config"
	"github.com/linuxha/heartbeat/internal/engine"
)

// reload re-reads the configuration (SIGHUP, systemctl reload). A broken
// configuration is rejected and the running one kept; otherwise what can
// change live is applied by difference: unchanged groups are not touched.
func (d *daemon) reload(ctx context.Context) error {
	d.notify.reloading()
	defer func() {
		if s, err := d.eng.Snapshot(ctx); err == nil {
			d.notify.ready(statusText(s))
		} else {
			d.notify.say("READY=1")
		}
	}()
	old := d.cfg.Load()
	cfg, warnings, err := config.Load(d.opts.ConfigDir, config.Options{NodeName: d.opts.NodeName})
	for _, w := range warnings {
		d.log.Warn("configuration warning", "err", w.String())
	}
	if err != nil {
		for _, e := range config.Errors(err) {
			d.log.Error("reload rejected: configuration error", "err", e)
		}
		d.log.Error("reload rejected: the running configuration is kept")
		return fmt.Errorf("configuration errors: %w", err)
	}
	if !slices.Equal(cfg.Nodes, old.Nodes) || cfg.LocalNode != old.LocalNode {
		d.log.Warn("reload: the node list changed; restart heartbeat to apply it (kept the old list)")
	}
	if !slices.EqualFunc(cfg.Media, old.Media, func(a, b config.Medium) bool {
		return a.Type == b.Type && a.Dev == b.Dev && a.Port == b.Port && a.Group == b.Group && a.Peer == b.Peer && a.PeerHost == b.PeerHost && a.TTL == b.TTL && a.Loop == b.Loop && a.Baud == b.Baud
	}) {
		d.log.Warn("reload: the media changed; restart heartbeat to apply them (kept the old media)")
	}
	// Groups whose resource list changed are restarted; new and removed
	// ones are added and released; the others are left alone.
	oldRes := map[string][]string{}
	for _, g := range old.Groups {
		oldRes[g.Key()] = tokens(g)
	}
	var restart []string
	for _, g := range cfg.Groups {
		if prev, ok := oldRes[g.Key()]; ok && !slices.Equal(prev, tokens(g)) {
			restart = append(restart, g.Key())
			d.log.Info("reload: resource group changed; it will be restarted", "group", g.Key())
		}
	}
	d.runner.update(cfg.Groups, restart)
	rc := engine.Reconfig{
		Keepalive: cfg.Keepalive, Deadtime: cfg.Deadtime, Warntime: cfg.Warntime, Initdead: cfg.Initdead,
		Keys: &cfg.Keys, AutoFailback: failback(cfg.AutoFailback),
		Groups: d.engineGroups(ctx, cfg, false), Restart: restart,
	}
	if err := d.eng.Reconfigure(ctx, rc); err != nil {
		d.log.Error("reload rejected by the engine; the running configuration is kept", "err", err)
		return err
	}
	d.runner.busy(ctx) // resolves the new groups' resources
	d.orderAgainstUnits(ctx, orderingDropIn)
	// Keep what could not change live.
	cfg.Nodes, cfg.LocalNode, cfg.Media = old.Nodes, old.LocalNode, old.Media
	d.cfg.Store(cfg)
	d.log.Info("configuration reloaded", "groups", len(cfg.Groups), "keepalive", cfg.Keepalive, "deadtime", cfg.Deadtime)
	return nil
}

func tokens(g config.Group) []string {
	var out []string
	for _, r := range g.Resources {
		out = append(out, r.Token)
	}
	return out
}
