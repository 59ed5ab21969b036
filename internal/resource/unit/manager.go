// Package unit runs systemd units as resource agents and ha.cf "respawn"
// children as transient units, over D-Bus with go-systemd.
//
// A Manager holds one connection to systemd (the system bus, or systemd's
// private socket when there is no bus and we are root). It connects on the
// first call and, when a call finds the connection closed (dbus-daemon
// restarted, systemd re-executed over the private socket), it reconnects and
// repeats the call once. Start and stop jobs are enqueued in "replace" mode
// and waited for until systemd reports their result (the JobRemoved signal);
// any result other than "done" is an error naming the unit and the result.
package unit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	sddbus "github.com/coreos/go-systemd/v22/dbus"
)

// conn is the part of go-systemd's *dbus.Conn the package uses.
type conn interface {
	StartUnitContext(ctx context.Context, name, mode string, ch chan<- string) (int, error)
	StopUnitContext(ctx context.Context, name, mode string, ch chan<- string) (int, error)
	StartTransientUnitContext(ctx context.Context, name, mode string, props []sddbus.Property, ch chan<- string) (int, error)
	ResetFailedUnitContext(ctx context.Context, name string) error
	GetUnitPropertiesContext(ctx context.Context, unit string) (map[string]any, error)
	Connected() bool
	Close()
}

var _ conn = (*sddbus.Conn)(nil)

// connCheckInterval is how often a job wait checks that the connection is
// still up (a job result cannot arrive on a dead connection).
const connCheckInterval = time.Second

// Manager is a reconnecting connection to systemd. Its methods are safe for
// concurrent use.
type Manager struct {
	dial func() (conn, error)
	log  *slog.Logger

	mu sync.Mutex
	c  conn
}

// NewManager returns a manager for the system instance of systemd; it
// connects on first use. A nil logger discards.
func NewManager(log *slog.Logger) *Manager {
	return newManager(func() (conn, error) {
		// Not the caller's context: godbus closes a connection when the
		// context it was dialled with ends.
		c, err := sddbus.NewWithContext(context.Background())
		if err != nil {
			return nil, err
		}
		return c, nil
	}, log)
}

func newManager(dial func() (conn, error), log *slog.Logger) *Manager {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Manager{dial: dial, log: log}
}

// Close drops the connection.
func (m *Manager) Close() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.c != nil {
		m.c.Close()
		m.c = nil
	}
}

// conn returns a live connection, dialling when there is none or the last
// one closed.
func (m *Manager) conn() (conn, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.c != nil && m.c.Connected() {
		return m.c, nil
	}
	if m.c != nil {
		m.log.Info("systemd connection lost, reconnecting")
		m.c.Close()
		m.c = nil
	}
	c, err := m.dial()
	if err != nil {
		return nil, fmt.Errorf("connect to systemd: %w", err)
	}
	m.c = c
	return c, nil
}

// drop forgets c if it is still the current connection.
func (m *Manager) drop(c conn) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.c == c {
		m.c.Close()
		m.c = nil
	}
}

// call runs f on a live connection and, if f fails because the connection
// died, once more on a new one.
func (m *Manager) call(f func(conn) error) error {
	for attempt := 0; ; attempt++ {
		c, err := m.conn()
		if err != nil {
			return err
		}
		err = f(c)
		if err == nil || c.Connected() || attempt > 0 {
			return err
		}
		m.log.Info("systemd connection lost during a call, retrying", "err", err)
		m.drop(c)
	}
}

// errConnLost ends a job wait whose connection died.
var errConnLost = errors.New("systemd connection lost")

// job enqueues a job with enqueue and waits for its result. When the
// connection dies before the result arrives, the job is enqueued again on a
// new connection (start and stop in "replace" mode are idempotent).
func (m *Manager) job(ctx context.Context, enqueue func(context.Context, conn, chan<- string) (int, error)) (string, error) {
	var result string
	err := m.call(func(c conn) error {
		ch := make(chan string, 1) // go-systemd blocks its dispatcher on an unread channel
		if _, err := enqueue(ctx, c, ch); err != nil {
			return err
		}
		t := time.NewTicker(connCheckInterval)
		defer t.Stop()
		for {
			select {
			case result = <-ch:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			case <-t.C:
				if !c.Connected() {
					return errConnLost
				}
			}
		}
	})
	return result, err
}

// Info is what the resolver needs to know about a unit.
type Info struct {
	Name         string
	LoadState    string // "loaded", "not-found", "masked", ...
	ActiveState  string
	SourcePath   string // set for generated units, e.g. /etc/init.d/NAME
	FragmentPath string
}

// Exists reports whether systemd knows the unit (LoadState is not
// "not-found").
func (i Info) Exists() bool { return i.LoadState != "" && i.LoadState != "not-found" }

// GeneratedFrom reports whether the unit was generated from a file in dir
// (systemd-sysv-generator sets SourcePath to the init script).
func (i Info) GeneratedFrom(dir string) bool {
	return i.SourcePath != "" && strings.HasPrefix(i.SourcePath, strings.TrimSuffix(dir, "/")+"/")
}

// Lookup reads a unit's load state and paths; systemd loads the unit on
// demand, so an unknown name gives LoadState "not-found", not an error.
func (m *Manager) Lookup(ctx context.Context, name string) (Info, error) {
	var props map[string]any
	err := m.call(func(c conn) error {
		var err error
		props, err = c.GetUnitPropertiesContext(ctx, name)
		return err
	})
	if err != nil {
		return Info{}, fmt.Errorf("unit %s: properties: %w", name, err)
	}
	str := func(k string) string { s, _ := props[k].(string); return s }
	return Info{
		Name:         name,
		LoadState:    str("LoadState"),
		ActiveState:  str("ActiveState"),
		SourcePath:   str("SourcePath"),
		FragmentPath: str("FragmentPath"),
	}, nil
}

// unitSuffixes are the unit types a resource name may name explicitly.
var unitSuffixes = []string{".service", ".socket", ".target", ".mount", ".automount", ".swap", ".path", ".timer"}

// Name turns a resource name into a unit name: "httpd" and "httpd.service"
// both give "httpd.service"; a name with another unit suffix is kept.
func Name(resource string) string {
	for _, s := range unitSuffixes {
		if strings.HasSuffix(resource, s) && len(resource) > len(s) {
			return resource
		}
	}
	return resource + ".service"
}
