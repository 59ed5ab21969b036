// Package resolve turns a parsed haresources token into a resource.Agent:
// the VIP agent for addresses, otherwise a resource script or a systemd
// unit, chosen by the rule documented in package resource (resource.d
// script, then native unit, then /etc/init.d script, then generated unit).
// Each decision is logged with the key "resource".
package resolve

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/linuxha/heartbeat/internal/config"
	"github.com/linuxha/heartbeat/internal/resource"
	"github.com/linuxha/heartbeat/internal/resource/script"
	"github.com/linuxha/heartbeat/internal/resource/unit"
	"github.com/linuxha/heartbeat/internal/resource/vip"
)

// Heartbeat's script directories ($HA_RESOURCEDIR and $INITDIR).
const (
	DefaultResourceDir = "/etc/ha.d/resource.d"
	DefaultInitDir     = "/etc/init.d"
)

// Units is what the resolver needs from systemd; *unit.Manager has it.
type Units interface {
	Lookup(ctx context.Context, name string) (unit.Info, error)
	Agent(token, unit string, opts unit.Options) *unit.Agent
}

var _ Units = (*unit.Manager)(nil)

// Config configures a Resolver. Zero values take the defaults.
type Config struct {
	ResourceDir string // DefaultResourceDir
	InitDir     string // DefaultInitDir
	// Units is systemd; nil when there is none (only scripts and VIPs).
	Units         Units
	ScriptOptions script.Options
	UnitOptions   unit.Options
	VIPOptions    vip.Options
	Logger        *slog.Logger // nil discards; also the agents' default
}

// Resolver makes agents for haresources tokens.
type Resolver struct {
	c   Config
	log *slog.Logger
}

// New returns a resolver; it touches nothing until Resolve.
func New(c Config) *Resolver {
	if c.ResourceDir == "" {
		c.ResourceDir = DefaultResourceDir
	}
	if c.InitDir == "" {
		c.InitDir = DefaultInitDir
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.ScriptOptions.Logger == nil {
		c.ScriptOptions.Logger = c.Logger
	}
	if c.UnitOptions.Logger == nil {
		c.UnitOptions.Logger = c.Logger
	}
	if c.VIPOptions.Logger == nil {
		c.VIPOptions.Logger = c.Logger
	}
	return &Resolver{c: c, log: c.Logger}
}

// Resolve returns the agent for res. An unknown name gives an error
// wrapping resource.ErrNotFound ("cannot locate resource script NAME").
func (r *Resolver) Resolve(ctx context.Context, res config.Resource) (resource.Agent, error) {
	log := r.log.With("resource", res.Token)
	if v := res.VIP; v != nil {
		a, err := vip.New(res.Token, vip.Spec{Addr: v.Addr, Bits: v.Bits, Iface: v.Iface, Broadcast: v.Broadcast}, r.c.VIPOptions)
		if err != nil {
			return nil, err
		}
		log.Info("resource is a virtual address", "agent", v.Agent, "vip", v.Addr.String())
		return a, nil
	}
	name := res.Name
	if name == "" || name == "." || name == ".." || strings.ContainsRune(name, '/') {
		return nil, fmt.Errorf("resource %q: invalid script name %q", res.Token, name)
	}

	if p := filepath.Join(r.c.ResourceDir, name); executable(p) {
		log.Info("resource is a heartbeat resource script", "path", p)
		return script.New(res.Token, p, res.Args, r.c.ScriptOptions), nil
	}

	var generated string // a unit made from an init script, the last resort
	if len(res.Args) == 0 && r.c.Units != nil {
		un := unit.Name(name)
		info, err := r.c.Units.Lookup(ctx, un)
		switch {
		case err != nil:
			log.Warn("cannot ask systemd about the unit, trying scripts", "unit", un, "err", err)
		case info.Exists() && !info.GeneratedFrom(r.c.InitDir):
			log.Info("resource is a systemd unit", "unit", un, "fragment", info.FragmentPath)
			return r.c.Units.Agent(res.Token, un, r.c.UnitOptions), nil
		case info.Exists():
			generated = un
		}
	}

	if p := filepath.Join(r.c.InitDir, name); executable(p) {
		if generated != "" {
			log.Info("resource is an init script (its generated unit is ignored)", "path", p, "unit", generated)
		} else {
			log.Info("resource is an init script", "path", p)
		}
		return script.New(res.Token, p, res.Args, r.c.ScriptOptions), nil
	}
	if generated != "" {
		log.Info("resource is a generated systemd unit whose script is gone", "unit", generated)
		return r.c.Units.Agent(res.Token, generated, r.c.UnitOptions), nil
	}
	return nil, fmt.Errorf("%w %s", resource.ErrNotFound, name)
}

// executable reports whether p is a regular file (after symlinks) with an
// execute bit, Heartbeat's "-x" test.
func executable(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}
