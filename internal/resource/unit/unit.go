package unit

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/linuxha/heartbeat/internal/resource"
)

// DefaultTimeout bounds a start or stop job: a little more than systemd's
// own default TimeoutStartSec/TimeoutStopSec (90 s), so systemd's "timeout"
// result is normally what gets reported.
const DefaultTimeout = 100 * time.Second

// Options tune an Agent. Zero values take the defaults.
type Options struct {
	Timeout time.Duration // per start or stop job (DefaultTimeout)
	Logger  *slog.Logger  // nil discards
}

// Agent runs a systemd unit as a resource. It implements resource.Agent.
type Agent struct {
	token string
	unit  string
	m     *Manager
	opts  Options
	log   *slog.Logger
}

var _ resource.Agent = (*Agent)(nil)

// Agent returns an agent for unit (a full unit name, see Name).
func (m *Manager) Agent(token, unit string, opts Options) *Agent {
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Agent{token: token, unit: unit, m: m, opts: opts, log: log.With("resource", token, "unit", unit)}
}

// Token returns the haresources token.
func (a *Agent) Token() string { return a.token }

// Unit returns the unit name.
func (a *Agent) Unit() string { return a.unit }

// Start enqueues a start job ("replace") and waits for its result.
func (a *Agent) Start(ctx context.Context) error {
	return a.run(ctx, "start", func(ctx context.Context, c conn, ch chan<- string) (int, error) {
		return c.StartUnitContext(ctx, a.unit, "replace", ch)
	})
}

// Stop enqueues a stop job ("ignore-dependencies": heartbeat is ordered after the units it manages, so a stop job queued behind its own stop would wait for it) and waits for its result.
func (a *Agent) Stop(ctx context.Context) error {
	return a.run(ctx, "stop", func(ctx context.Context, c conn, ch chan<- string) (int, error) {
		return c.StopUnitContext(ctx, a.unit, "ignore-dependencies", ch)
	})
}

func (a *Agent) run(ctx context.Context, op string, enqueue func(context.Context, conn, chan<- string) (int, error)) error {
	ctx, cancel := context.WithTimeout(ctx, a.opts.Timeout)
	defer cancel()
	start := time.Now()
	result, err := a.m.job(ctx, enqueue)
	if err != nil {
		return fmt.Errorf("unit %s: %s: %w", a.unit, op, err)
	}
	if result != "done" {
		return fmt.Errorf("unit %s: %s job finished with result %q", a.unit, op, result)
	}
	a.log.Info("unit job done", "op", op, "elapsed", time.Since(start))
	return nil
}

// Status maps the unit's ActiveState: active, reloading, activating and
// refreshing are Running; failed is Failed; inactive and deactivating are
// Stopped; anything else (maintenance, new states) is Unknown.
func (a *Agent) Status(ctx context.Context) (resource.State, error) {
	info, err := a.m.Lookup(ctx, a.unit)
	if err != nil {
		return resource.Unknown, err
	}
	if !info.Exists() {
		return resource.Unknown, fmt.Errorf("unit %s: not found", a.unit)
	}
	return StateOf(info.ActiveState), nil
}

// StateOf maps a systemd ActiveState to a resource state.
func StateOf(activeState string) resource.State {
	switch activeState {
	case "active", "reloading", "activating", "refreshing":
		return resource.Running
	case "failed":
		return resource.Failed
	case "inactive", "deactivating":
		return resource.Stopped
	}
	return resource.Unknown
}
