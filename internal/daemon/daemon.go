// Package daemon wires the heartbeat daemon together: it reads the
// configuration, opens the media, runs the engine and the control socket,
// and stops them in order. cmd/heartbeat only parses flags and calls Run.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
	"time"

	"github.com/linuxha/heartbeat/internal/config"
	"github.com/linuxha/heartbeat/internal/control"
	"github.com/linuxha/heartbeat/internal/engine"
	"github.com/linuxha/heartbeat/internal/media"
	"github.com/linuxha/heartbeat/internal/resource/resolve"
	"github.com/linuxha/heartbeat/internal/resource/unit"
	"github.com/linuxha/heartbeat/internal/version"
)

// Options are the daemon's command-line settings.
type Options struct {
	ConfigDir  string // /etc/ha.d
	NodeName   string // "" = uname -n
	StateDir   string // /var/lib/heartbeat
	RuntimeDir string // /run/heartbeat
	Stderr     io.Writer
}

// Run runs the daemon until ctx is cancelled (SIGTERM, SIGINT).
func Run(ctx context.Context, opts Options) error {
	cfg, warnings, err := config.Load(opts.ConfigDir, config.Options{NodeName: opts.NodeName})
	log := newLogger(opts.Stderr, cfg)
	for _, w := range warnings {
		log.Warn("configuration warning", "err", w.String())
	}
	if err != nil {
		return fmt.Errorf("configuration errors:\n%w", err)
	}
	uuid, err := loadUUID(opts.StateDir)
	if err != nil {
		return err
	}
	gen, err := nextGeneration(opts.StateDir, time.Now())
	if err != nil {
		return err
	}
	specs, err := mediaSpecs(cfg.Media, cfg.Path)
	if err != nil {
		return err
	}
	ms, err := media.Open(ctx, specs, media.Options{Logger: log, ConfigName: cfg.Path})
	if err != nil {
		return err
	}
	defer func() {
		for _, m := range ms {
			m.Close()
		}
	}()
	if len(ms) == 0 {
		return fmt.Errorf("%s: no usable medium: every ucast line names this host", cfg.Path)
	}
	// Resources: what a crashed run left behind goes first, then what runs
	// outside our control blocks its group (3.0.6's verifyallidle).
	units := unit.NewManager(log)
	defer units.Close()
	res := resolve.New(resolve.Config{Units: units, Logger: log})
	held := &heldFile{path: filepath.Join(opts.RuntimeDir, "held-addresses")}
	if err := cleanupHeld(ctx, log, held, res); err != nil {
		log.Error("cleaning up addresses of the previous run", "err", err)
	}
	run := newRunner(log, cfg.Groups, res, held, fencer(log))
	busy := run.busy(ctx)
	var groups []engine.GroupConfig
	for _, g := range cfg.Groups {
		gc := engine.GroupConfig{Key: g.Key(), Preferred: g.Node}
		if why, ok := busy[gc.Key]; ok {
			gc.Blocked = true
			log.Error("refusing to manage resource group: "+why, "group", gc.Key)
		}
		groups = append(groups, gc)
	}
	fb := engine.FailbackLegacy
	switch cfg.AutoFailback {
	case config.AutoFailbackOn:
		fb = engine.FailbackOn
	case config.AutoFailbackOff:
		fb = engine.FailbackOff
	}

	eng, err := engine.New(engine.Config{
		LocalNode:  cfg.LocalNode,
		Nodes:      cfg.Nodes,
		Keepalive:  cfg.Keepalive,
		Deadtime:   cfg.Deadtime,
		Warntime:   cfg.Warntime,
		Initdead:   cfg.Initdead,
		Hopfudge:   cfg.Hopfudge,
		Keys:       &cfg.Keys,
		UUID:       uuid,
		Generation: gen,
		Logger:     log,

		Groups:       groups,
		AutoFailback: fb,
		Runner:       run,
	}, ms)
	if err != nil {
		return err
	}

	ln, err := listenControl(filepath.Join(opts.RuntimeDir, "control"))
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		if err := control.Serve(ctx, ln, &controlHandler{eng: eng, cfg: cfg}, authorize, log); err != nil {
			log.Error("control socket failed", "err", err)
		}
	}()
	go ignoreHangup(ctx, log)

	respawner := units.Respawner(unit.RespawnOptions{BindsTo: "heartbeat.service", Logger: log})
	for _, ch := range cfg.Respawn {
		name, err := respawner.Start(ctx, unit.Program{User: ch.User, Path: ch.Path, Args: ch.Args, Failfast: ch.Failfast})
		switch {
		case errors.Is(err, unit.ErrIpfailBuiltin):
			log.Info("ipfail is built in: respawn line not needed", "line", ch.Line)
		case err != nil:
			log.Error("cannot start respawn child", "line", ch.Line, "err", err)
		default:
			log.Info("respawn child started", "unit", name)
		}
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := respawner.StopAll(sctx); err != nil {
			log.Warn("stopping respawn children", "err", err)
		}
	}()

	log.Info("heartbeat starting", "node", cfg.LocalNode, "version", version.String(), "generation", gen)
	err = eng.Run(ctx)
	log.Info("heartbeat stopped", "node", cfg.LocalNode)
	return err
}

// ignoreHangup keeps SIGHUP from killing the daemon until live reload exists.
func ignoreHangup(ctx context.Context, log *slog.Logger) {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGHUP)
	defer signal.Stop(ch)
	for {
		select {
		case <-ch:
			log.Warn("reload requested, but live reload is not implemented yet: restart heartbeat to apply changes")
		case <-ctx.Done():
			return
		}
	}
}

func newLogger(w io.Writer, cfg *config.Config) *slog.Logger {
	if w == nil {
		w = os.Stderr
	}
	level := slog.LevelInfo
	if cfg != nil && cfg.Debug > 0 {
		level = slog.LevelDebug
	}
	ho := &slog.HandlerOptions{Level: level}
	if os.Getenv("JOURNAL_STREAM") != "" {
		// The journal stamps every line itself.
		ho.ReplaceAttr = func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) == 0 && a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		}
	}
	return slog.New(slog.NewTextHandler(w, ho))
}

// mediaSpecs maps the media of ha.cf to media specs, resolving host names.
func mediaSpecs(in []config.Medium, path string) ([]media.Spec, error) {
	var out []media.Spec
	var errs []error
	for _, m := range in {
		s := media.Spec{Dev: m.Dev, Port: m.Port, Group: m.Group, TTL: m.TTL, Loop: m.Loop, Line: m.Line}
		switch m.Type {
		case config.Bcast:
			s.Kind = media.Bcast
		case config.Mcast:
			s.Kind = media.Mcast
		case config.Mcast6:
			s.Kind = media.Mcast6
		case config.Ucast, config.Ucast6:
			s.Kind = media.Ucast
			if m.Type == config.Ucast6 {
				s.Kind = media.Ucast6
			}
			peer := m.Peer
			if !peer.IsValid() {
				addrs, err := net.LookupIP(m.PeerHost)
				if err != nil || len(addrs) == 0 {
					errs = append(errs, fmt.Errorf("%s:%d: ucast %s: cannot resolve %q: %w", path, m.Line, m.Dev, m.PeerHost, err))
					continue
				}
				peer, _ = netip.AddrFromSlice(addrs[0])
				peer = peer.Unmap()
			}
			s.Peers = []netip.Addr{peer}
		case config.Serial:
			s = media.Spec{Kind: media.Serial, Path: m.Dev, Baud: m.Baud, Line: m.Line}
		default:
			errs = append(errs, fmt.Errorf("%s:%d: unsupported medium %v", path, m.Line, m.Type))
			continue
		}
		out = append(out, s)
	}
	return out, errors.Join(errs...)
}

func listenControl(path string) (net.Listener, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	// Reading the state is for everyone, as with cl_status.
	if err := os.Chmod(path, 0o666); err != nil {
		ln.Close()
		return nil, fmt.Errorf("control socket: %w", err)
	}
	return ln, nil
}

type controlHandler struct {
	eng *engine.Engine
	cfg *config.Config
}

func (h *controlHandler) Status(ctx context.Context) (control.Status, error) {
	s, err := h.eng.Snapshot(ctx)
	if err != nil {
		return control.Status{}, err
	}
	st := control.Status{
		Node:       s.LocalNode,
		State:      s.Status.String(),
		Generation: s.Generation,
		Version:    version.String(),
		Keepalive:  h.cfg.Keepalive.String(),
		Deadtime:   h.cfg.Deadtime.String(),
		Counters: map[string]uint64{
			"received":     s.Stats.Received,
			"malformed":    s.Stats.Malformed,
			"bad_auth":     s.Stats.BadAuth,
			"unknown_node": s.Stats.UnknownNode,
			"replayed":     s.Stats.Replayed,
			"duplicate":    s.Stats.Duplicate,
			"rexmit_asked": s.Stats.RexmitAsked,
			"rexmit_sent":  s.Stats.RexmitSent,
		},
	}
	for _, g := range s.Groups {
		st.Groups = append(st.Groups, control.Group{Key: g.Key, Preferred: g.Preferred, Owner: g.Owner, State: g.State.String(), Standby: g.Standby, Failed: g.Failed})
	}
	for _, n := range s.Nodes {
		cn := control.Node{Name: n.Name, Type: "normal", Status: n.Status.String(), Local: n.Local, Generation: n.Generation, LastHeard: n.LastHeard}
		for _, l := range n.Links {
			cn.Links = append(cn.Links, control.Link{Name: l.Name, Status: l.Status.String(), LastHeard: l.LastHeard})
		}
		st.Nodes = append(st.Nodes, cn)
	}
	return st, nil
}

func (h *controlHandler) Standby(ctx context.Context, which string) error {
	w, ok := engine.ParseWhich(which)
	if !ok {
		return fmt.Errorf("unknown selection %q: want all, local, foreign or failback", which)
	}
	return h.eng.Standby(ctx, w)
}

func (h *controlHandler) Takeover(ctx context.Context, which string) error {
	w, ok := engine.ParseWhich(which)
	if !ok {
		return fmt.Errorf("unknown selection %q: want all, local, foreign or failback", which)
	}
	return h.eng.Takeover(ctx, w)
}

// authorize lets root and members of group haclient act.
func authorize(uid, gid uint32) bool {
	if uid == 0 {
		return true
	}
	g, err := user.LookupGroup("haclient")
	if err != nil {
		return false
	}
	if strconv.FormatUint(uint64(gid), 10) == g.Gid {
		return true
	}
	u, err := user.LookupId(strconv.FormatUint(uint64(uid), 10))
	if err != nil {
		return false
	}
	ids, err := u.GroupIds()
	return err == nil && slices.Contains(ids, g.Gid)
}
