package unit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strconv"

	sddbus "github.com/coreos/go-systemd/v22/dbus"
	sdunit "github.com/coreos/go-systemd/v22/unit"
	"github.com/godbus/dbus/v5"
)

// ErrIpfailBuiltin is returned by Respawner.Start for a program whose base
// name is ipfail: the daemon has ipfail built in and does not run it.
var ErrIpfailBuiltin = errors.New("ipfail is built in")

// Program is a "respawn user /path args" (or "failfast") line of ha.cf.
type Program struct {
	User     string
	Path     string // absolute
	Args     []string
	Failfast bool // the node reboots when the program dies
}

// RespawnOptions tune a Respawner.
type RespawnOptions struct {
	// BindsTo, when set (normally "heartbeat.service"), makes the children
	// BindsTo= and After= that unit, so systemd stops them when the daemon
	// stops, even if it crashed.
	BindsTo string
	Logger  *slog.Logger // nil discards
}

// Respawner runs respawn children as transient units named
// heartbeat-respawn-<basename>.service with Restart=on-failure and
// RestartPreventExitStatus=100 (Heartbeat's "do not respawn me" code).
// A failfast child is not restarted; its death reboots the node
// (FailureAction=reboot). It is not safe for concurrent use.
type Respawner struct {
	m     *Manager
	opts  RespawnOptions
	log   *slog.Logger
	units []string // started, in start order
}

// Respawner returns a respawner using m; nothing is started yet.
func (m *Manager) Respawner(opts RespawnOptions) *Respawner {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Respawner{m: m, opts: opts, log: log}
}

// Start starts p as a transient unit and returns the unit name. For ipfail
// it starts nothing and returns ErrIpfailBuiltin. A leftover unit of the
// same name (from an earlier run of the daemon) is stopped first.
func (r *Respawner) Start(ctx context.Context, p Program) (string, error) {
	base := filepath.Base(p.Path)
	if base == "ipfail" {
		return "", ErrIpfailBuiltin
	}
	if !filepath.IsAbs(p.Path) {
		return "", fmt.Errorf("respawn %s: path is not absolute", p.Path)
	}
	name := r.uniqueName(base)
	props := respawnProperties(p, r.opts.BindsTo)

	enqueue := func(ctx context.Context, c conn, ch chan<- string) (int, error) {
		return c.StartTransientUnitContext(ctx, name, "replace", props, ch)
	}
	result, err := r.m.job(ctx, enqueue)
	if err != nil && isUnitExists(err) {
		r.log.Info("stopping leftover respawn unit", "unit", name)
		if _, serr := r.m.job(ctx, func(ctx context.Context, c conn, ch chan<- string) (int, error) {
			return c.StopUnitContext(ctx, name, "replace", ch)
		}); serr != nil {
			return "", fmt.Errorf("respawn %s: stop leftover unit %s: %w", p.Path, name, serr)
		}
		_ = r.m.call(func(c conn) error { return c.ResetFailedUnitContext(ctx, name) })
		result, err = r.m.job(ctx, enqueue)
	}
	if err != nil {
		return "", fmt.Errorf("respawn %s: start unit %s: %w", p.Path, name, err)
	}
	if result != "done" {
		return "", fmt.Errorf("respawn %s: unit %s start job finished with result %q", p.Path, name, result)
	}
	r.units = append(r.units, name)
	r.log.Info("respawn child started", "unit", name, "user", p.User)
	return name, nil
}

// StopAll stops the started children in reverse order and returns all
// errors joined.
func (r *Respawner) StopAll(ctx context.Context) error {
	var errs []error
	for i := len(r.units) - 1; i >= 0; i-- {
		name := r.units[i]
		result, err := r.m.job(ctx, func(ctx context.Context, c conn, ch chan<- string) (int, error) {
			return c.StopUnitContext(ctx, name, "replace", ch)
		})
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("unit %s: stop: %w", name, err))
		case result != "done":
			errs = append(errs, fmt.Errorf("unit %s: stop job finished with result %q", name, result))
		default:
			r.log.Info("respawn child stopped", "unit", name)
		}
	}
	r.units = nil
	return errors.Join(errs...)
}

// uniqueName is heartbeat-respawn-<escaped basename>.service, with -2, -3,
// ... appended when the same program is respawned more than once.
func (r *Respawner) uniqueName(base string) string {
	stem := "heartbeat-respawn-" + sdunit.UnitNameEscape(base)
	name := stem + ".service"
	for n := 2; contains(r.units, name); n++ {
		name = stem + "-" + strconv.Itoa(n) + ".service"
	}
	return name
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// restartPrevent is the D-Bus form (aiai) of RestartPreventExitStatus=.
type restartPrevent struct {
	Statuses []int32
	Signals  []int32
}

// respawnProperties are the transient unit's settings.
func respawnProperties(p Program, bindsTo string) []sddbus.Property {
	cmd := append([]string{p.Path}, p.Args...)
	props := []sddbus.Property{
		sddbus.PropDescription("heartbeat respawn " + p.Path),
		// Exit status checked (no "-" prefix): a child that dies must fail
		// the unit, or neither Restart=on-failure nor a failfast child's
		// FailureAction=reboot would ever act.
		sddbus.PropExecStart(cmd, false),
		{Name: "CollectMode", Value: dbus.MakeVariant("inactive-or-failed")},
	}
	if p.User != "" && p.User != "root" {
		props = append(props, sddbus.Property{Name: "User", Value: dbus.MakeVariant(p.User)})
	}
	if p.Failfast {
		props = append(props,
			sddbus.Property{Name: "Restart", Value: dbus.MakeVariant("no")},
			sddbus.Property{Name: "FailureAction", Value: dbus.MakeVariant("reboot")})
	} else {
		props = append(props,
			sddbus.Property{Name: "Restart", Value: dbus.MakeVariant("on-failure")},
			sddbus.Property{Name: "RestartPreventExitStatus", Value: dbus.MakeVariant(restartPrevent{Statuses: []int32{100}, Signals: []int32{}})})
	}
	if bindsTo != "" {
		props = append(props, sddbus.PropBindsTo(bindsTo), sddbus.PropAfter(bindsTo))
	}
	return props
}

// isUnitExists recognises systemd's "unit already exists" error for a
// transient unit name that is taken.
func isUnitExists(err error) bool {
	var de dbus.Error
	if errors.As(err, &de) {
		return de.Name == "org.freedesktop.systemd1.UnitExists"
	}
	var dp *dbus.Error
	return errors.As(err, &dp) && dp.Name == "org.freedesktop.systemd1.UnitExists"
}
