package daemon

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"

	"github.com/linuxha/heartbeat/internal/config"
	"github.com/linuxha/heartbeat/internal/resource"
	"github.com/linuxha/heartbeat/internal/resource/resolve"
	"github.com/linuxha/heartbeat/internal/resource/vip"
)

// resolver makes agents; *resolve.Resolver is one.
type resolver interface {
	Resolve(ctx context.Context, res config.Resource) (resource.Agent, error)
}

var _ resolver = (*resolve.Resolver)(nil)

// runner starts and stops resource groups for the engine (engine.Runner).
// Agents are resolved when a group is first acquired, so a unit installed
// after the daemon started is found.
type runner struct {
	log    *slog.Logger
	groups map[string][]config.Resource
	res    resolver
	held   *heldFile
	fence  func(ctx context.Context, reason string) error

	mu sync.Mutex
	// ops serialises the operations on one group: the engine runs at most
	// one Acquire or Release per group at a time, but an Announce (after a
	// split brain heals) may overlap either; one slot per group, a
	// channel, taken for the whole operation.
	ops    map[string]chan struct{}
	agents map[string][]resource.Agent
	stale  map[string]bool // resources changed: resolve again after release
	// states is what heartbeat did with each resource of a group, in
	// haresources order: stopped, starting, running, stopping, failed.
	states map[string][]string
	// onChange, if set before the engine runs, is called after a state
	// changed (the D-Bus view refreshes).
	onChange func()
}

// Resource states as the D-Bus API shows them.
const (
	resStopped  = "stopped"
	resStarting = "starting"
	resRunning  = "running"
	resStopping = "stopping"
	resFailed   = "failed"
)

func (r *runner) setState(key string, i int, st string) {
	r.mu.Lock()
	ss := r.states[key]
	if i < len(ss) {
		ss[i] = st
	}
	r.mu.Unlock()
	if r.onChange != nil {
		r.onChange()
	}
}

// resourceStates returns each group's resource states.
func (r *runner) resourceStates() map[string][]string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string][]string, len(r.states))
	for k, ss := range r.states {
		out[k] = slices.Clone(ss)
	}
	return out
}

func stoppedStates(n int) []string {
	ss := make([]string, n)
	for i := range ss {
		ss[i] = resStopped
	}
	return ss
}

func newRunner(log *slog.Logger, groups []config.Group, res resolver, held *heldFile, fence func(context.Context, string) error) *runner {
	r := &runner{log: log, groups: map[string][]config.Resource{}, res: res, held: held, fence: fence,
		agents: map[string][]resource.Agent{}, stale: map[string]bool{}, states: map[string][]string{},
		ops: map[string]chan struct{}{}}
	for _, g := range groups {
		r.groups[g.Key()] = g.Resources
		r.ops[g.Key()] = make(chan struct{}, 1)
		r.states[g.Key()] = stoppedStates(len(g.Resources))
	}
	return r
}

func (r *runner) resolve(ctx context.Context, key string) ([]resource.Agent, error) {
	r.mu.Lock()
	as, ok := r.agents[key]
	r.mu.Unlock()
	if ok {
		return as, nil
	}
	r.mu.Lock()
	res, ok := r.groups[key]
	r.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("unknown resource group %q", key)
	}
	for _, rs := range res {
		a, err := r.res.Resolve(ctx, rs)
		if err != nil {
			return nil, fmt.Errorf("resource %s: %w", rs.Token, err)
		}
		as = append(as, a)
	}
	r.mu.Lock()
	r.agents[key] = as
	r.mu.Unlock()
	return as, nil
}

// lock takes group key's operation slot, or fails when ctx ends first.
// A group unknown to the runner has none: resolve refuses it.
func (r *runner) lock(ctx context.Context, key string) (unlock func(), err error) {
	r.mu.Lock()
	slot, ok := r.ops[key]
	r.mu.Unlock()
	if !ok {
		return func() {}, nil
	}
	select {
	case slot <- struct{}{}:
		return func() { <-slot }, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("group %s: waiting for the operation under way: %w", key, ctx.Err())
	}
}

// Acquire starts the group's resources left to right; one already running
// is left alone (as 3.0.6 does).
func (r *runner) Acquire(ctx context.Context, key string) error {
	unlock, err := r.lock(ctx, key)
	if err != nil {
		return err
	}
	defer unlock()
	as, err := r.resolve(ctx, key)
	if err != nil {
		return err
	}
	if err := r.held.add(joinTokens(as)); err != nil {
		r.log.Warn("cannot record the group for crash cleanup", "group", key, "err", err)
	}
	for i, a := range as {
		log := r.log.With("group", key, "resource", a.Token())
		if st, err := a.Status(ctx); err == nil && st == resource.Running {
			log.Info("resource already running")
			r.setState(key, i, resRunning)
			continue
		}
		r.setState(key, i, resStarting)
		if err := a.Start(ctx); err != nil {
			r.setState(key, i, resFailed)
			return fmt.Errorf("resource %s: start: %w", a.Token(), err)
		}
		r.setState(key, i, resRunning)
		log.Info("resource started")
	}
	return nil
}

// Release stops the group's resources right to left. A resource whose stop
// fails but whose status says stopped is taken as stopped (3.0.6 calls such
// a script "probably not LSB-compliant"). A resource that cannot be stopped
// ends the release there, as in 3.0.6: what it stands on (a filesystem, the
// address) keeps running while the engine retries, then fences.
func (r *runner) Release(ctx context.Context, key string) error {
	unlock, err := r.lock(ctx, key)
	if err != nil {
		return err
	}
	defer unlock()
	as, err := r.resolve(ctx, key)
	if err != nil {
		return err
	}
	for i := len(as) - 1; i >= 0; i-- {
		a := as[i]
		log := r.log.With("group", key, "resource", a.Token())
		r.setState(key, i, resStopping)
		if err := a.Stop(ctx); err != nil {
			if st, serr := a.Status(ctx); serr == nil && st == resource.Stopped {
				log.Warn("stop failed but the resource is stopped: probably not LSB-compliant", "err", err)
			} else {
				r.setState(key, i, resFailed)
				return fmt.Errorf("resource %s: stop: %w", a.Token(), err)
			}
		}
		r.setState(key, i, resStopped)
		log.Info("resource stopped")
	}
	if err := r.held.remove(joinTokens(as)); err != nil {
		r.log.Warn("cannot update the record of held groups", "group", key, "err", err)
	}
	r.mu.Lock()
	if r.stale[key] {
		for _, a := range r.agents[key] {
			if v, ok := a.(*vip.Agent); ok {
				v.Close()
			}
		}
		delete(r.agents, key)
		delete(r.stale, key)
		r.states[key] = stoppedStates(len(r.groups[key]))
	}
	r.mu.Unlock()
	return nil
}

// update takes a reloaded haresources: new groups become known, and the
// groups in restart get their new resources after their next release.
func (r *runner) update(groups []config.Group, restart []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, g := range groups {
		r.groups[g.Key()] = g.Resources
		if _, ok := r.ops[g.Key()]; !ok {
			r.ops[g.Key()] = make(chan struct{}, 1)
		}
		if _, cached := r.agents[g.Key()]; !cached && len(r.states[g.Key()]) != len(g.Resources) {
			r.states[g.Key()] = stoppedStates(len(g.Resources))
		}
	}
	for _, k := range restart {
		if _, cached := r.agents[k]; cached {
			r.stale[k] = true
		} else {
			r.states[k] = stoppedStates(len(r.groups[k]))
		}
	}
}

// Announce re-announces the group's addresses that are in place. It never
// adds one: an Announce that runs after a Release of the group (the engine
// does not order the two) must not bring the address back.
func (r *runner) Announce(ctx context.Context, key string) error {
	unlock, err := r.lock(ctx, key)
	if err != nil {
		return err
	}
	defer unlock()
	as, err := r.resolve(ctx, key)
	if err != nil {
		return err
	}
	var errs []error
	for _, a := range as {
		if an, ok := a.(reannouncer); ok {
			if err := an.Reannounce(ctx); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// reannouncer is an agent that can announce its resource again without
// starting it (*vip.Agent).
type reannouncer interface {
	Reannounce(ctx context.Context) error
}

var _ reannouncer = (*vip.Agent)(nil)

func (r *runner) Fence(ctx context.Context, reason string) error {
	return r.fence(ctx, reason)
}

// busy returns the groups that have a resource running now, with the
// reason, for the start-up check (3.0.6's verifyallidle).
func (r *runner) busy(ctx context.Context) map[string]string {
	out := map[string]string{}
	for key := range r.groups {
		as, err := r.resolve(ctx, key)
		if err != nil {
			r.log.Error("cannot resolve resource group", "group", key, "err", err)
			continue
		}
		for _, a := range as {
			if st, err := a.Status(ctx); err == nil && st == resource.Running {
				out[key] = a.Token() + " is already running outside heartbeat's control"
				break
			}
		}
	}
	return out
}

func isVIP(a resource.Agent) bool {
	_, ok := a.(*vip.Agent)
	return ok
}

// heldFile records the addresses this daemon added, so that the next start
// (or ExecStopPost) can remove what a crashed run left behind.
type heldFile struct {
	path string
	mu   sync.Mutex
}

func (h *heldFile) list() ([]string, error) {
	f, err := os.Open(h.path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if t := strings.TrimSpace(sc.Text()); t != "" {
			out = append(out, t)
		}
	}
	return out, sc.Err()
}

func (h *heldFile) add(token string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	l, err := h.list()
	if err != nil {
		return err
	}
	if slices.Contains(l, token) {
		return nil
	}
	return writeFileSync(h.path, []byte(strings.Join(append(l, token), "\n")+"\n"), 0o644)
}

func (h *heldFile) remove(token string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	l, err := h.list()
	if err != nil {
		return err
	}
	l = slices.DeleteFunc(l, func(s string) bool { return s == token })
	if len(l) == 0 {
		err := os.Remove(h.path)
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return err
	}
	return writeFileSync(h.path, []byte(strings.Join(l, "\n")+"\n"), 0o644)
}

// cleanupHeld releases what a previous run recorded as held (a crash, a
// kill -9, a watchdog kill): the addresses first, so that no address stays
// on two nodes, then the other resources right to left. Groups are read from
// the record itself, not from haresources, which may have changed.
func cleanupHeld(ctx context.Context, log *slog.Logger, h *heldFile, res resolver) error {
	keys, err := h.list()
	if err != nil {
		return fmt.Errorf("read held groups: %w", err)
	}
	var errs []error
	for _, line := range keys {
		var agents []resource.Agent
		for _, tok := range strings.Fields(line) {
			rs, err := config.ParseResource(tok)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			a, err := res.Resolve(ctx, rs)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			agents = append(agents, a)
		}
		// Addresses first, then the rest right to left.
		var vips, rest []resource.Agent
		for _, a := range agents {
			if isVIP(a) {
				vips = append(vips, a)
			} else {
				rest = append(rest, a)
			}
		}
		slices.Reverse(rest)
		failed := false
		for _, a := range append(vips, rest...) {
			if st, err := a.Status(ctx); err == nil && st == resource.Running {
				if err := a.Stop(ctx); err != nil {
					errs = append(errs, fmt.Errorf("stop %s: %w", a.Token(), err))
					failed = true
					continue
				}
				log.Warn("stopped a resource left behind by the previous run", "resource", a.Token())
			}
			if v, ok := a.(*vip.Agent); ok {
				v.Close()
			}
		}
		if !failed {
			if err := h.remove(line); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

func joinTokens(as []resource.Agent) string {
	ts := make([]string, len(as))
	for i, a := range as {
		ts[i] = a.Token()
	}
	return strings.Join(ts, " ")
}
