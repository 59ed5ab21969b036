package dbusapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/godbus/dbus/v5"
	"github.com/linuxha/heartbeat/internal/engine"
)

// Backend is what the exporter needs from the daemon. The daemon implements
// it over the engine loop; every call carries a deadline.
type Backend interface {
	Snapshot(ctx context.Context) (engine.Snapshot, error)
	Standby(ctx context.Context, which engine.Which) error
	Takeover(ctx context.Context, which engine.Which) error
	Reload(ctx context.Context) error
}

// Info is the static part of the Manager object.
type Info struct {
	Version                                 string
	Keepalive, Deadtime, Warntime, Initdead time.Duration
	AutoFailback                            string // "on", "off", "legacy"
	// Parameter returns a cl_status hbparameter value (ha.cf as written);
	// may be nil. Keepalive, deadtime, warntime, initdead and auto_failback
	// fall back to the fields above.
	Parameter func(name string) (string, bool)
	// ResourceStates maps a group key to the state of each of its
	// resources, in haresources order ("stopped", "starting", "running",
	// "stopping", "failed"); may be nil.
	ResourceStates map[string][]string
}

// Options configure Run.
type Options struct {
	// Address is the bus address; "" is the system bus
	// (DBUS_SYSTEM_BUS_ADDRESS or the default socket).
	Address string
	Logger  *slog.Logger
	Info    Info
	// Groups maps a group key to its haresources tokens (Group.Resources).
	Groups map[string][]string
	// CallTimeout bounds each Backend call made for a D-Bus request;
	// 0 means 5 seconds.
	CallTimeout time.Duration
	// Ready, if not nil, is called each time the bus name has been acquired
	// and every object is exported.
	Ready func()
	// Current, if not nil, returns the Info and Groups in force now (after a
	// reload); it is called for every refresh and overrides Info and Groups.
	Current func() (Info, map[string][]string)
}

const retryEvery = time.Second

// Run exports the API until ctx is done. It connects to the bus, exports
// the objects from a fresh snapshot and owns the name org.linuxha.Heartbeat1;
// after each receive from changes it takes a new snapshot and announces what
// differs. When the bus is missing or goes away it logs and retries every
// second. It returns nil once ctx is done.
func Run(ctx context.Context, b Backend, changes <-chan struct{}, opts Options) error {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if opts.CallTimeout <= 0 {
		opts.CallTimeout = 5 * time.Second
	}
	failing := false
	for {
		ready, err := session(ctx, b, changes, opts, log)
		if ctx.Err() != nil {
			return nil
		}
		if ready {
			failing = false
		}
		if !failing {
			log.Error("d-bus api unavailable, retrying every second", "err", err)
			failing = true
		} else {
			log.Debug("d-bus api still unavailable", "err", err)
		}
		t := time.NewTimer(retryEvery)
	wait:
		for {
			select {
			case <-ctx.Done():
				t.Stop()
				return nil
			case <-changes:
				// The next session takes a fresh snapshot anyway.
			case <-t.C:
				break wait
			}
		}
	}
}

var errLost = errors.New("bus connection lost")

// session runs one bus connection; it returns when ctx is done or the
// connection fails. ready tells whether the name was owned.
func session(ctx context.Context, b Backend, changes <-chan struct{}, opts Options, log *slog.Logger) (ready bool, err error) {
	var conn *dbus.Conn
	if opts.Address == "" {
		conn, err = dbus.ConnectSystemBus()
	} else {
		conn, err = dbus.Connect(opts.Address)
	}
	if err != nil {
		return false, fmt.Errorf("connect to the system bus: %w", err)
	}
	defer conn.Close()
	srv := &server{conn: conn, b: b, opts: opts, log: log, ctx: ctx}
	sctx, cancel := context.WithTimeout(ctx, opts.CallTimeout)
	snap, err := b.Snapshot(sctx)
	cancel()
	if err != nil {
		return false, fmt.Errorf("snapshot: %w", err)
	}
	info, groups := opts.current()
	if err := srv.exportAll(buildView(snap, info, groups)); err != nil {
		return false, err
	}
	reply, err := conn.RequestName(BusName, dbus.NameFlagDoNotQueue)
	if err != nil {
		return false, fmt.Errorf("request name %s: %w", BusName, err)
	}
	if reply != dbus.RequestNameReplyPrimaryOwner {
		return false, fmt.Errorf("request name %s: already owned by another process", BusName)
	}
	log.Info("d-bus api ready", "node", snap.LocalNode)
	if opts.Ready != nil {
		opts.Ready()
	}
	for {
		select {
		case <-ctx.Done():
			conn.ReleaseName(BusName)
			return true, nil
		case <-conn.Context().Done():
			return true, errLost
		case <-changes:
			// Coalesce: one snapshot answers every change signalled so far.
			for drained := false; !drained; {
				select {
				case <-changes:
				default:
					drained = true
				}
			}
			sctx, cancel := context.WithTimeout(ctx, opts.CallTimeout)
			snap, err := b.Snapshot(sctx)
			cancel()
			if err != nil {
				if ctx.Err() != nil {
					continue
				}
				log.Warn("d-bus api: cannot take a snapshot", "err", err)
				continue
			}
			info, groups := opts.current()
			if err := srv.update(buildView(snap, info, groups)); err != nil {
				if conn.Context().Err() != nil {
					return true, errLost
				}
				log.Warn("d-bus api: cannot announce a change", "err", err)
			}
		}
	}
}

func (o Options) current() (Info, map[string][]string) {
	if o.Current != nil {
		return o.Current()
	}
	return o.Info, o.Groups
}
