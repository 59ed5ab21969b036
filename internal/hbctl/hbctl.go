// Package hbctl is the command-line client of the heartbeat daemon: hbctl
// itself (a client of the org.linuxha.Heartbeat1 D-Bus API, with a fallback
// to the daemon's control socket) and, as one multi-call binary, the
// classic tools cl_status, hb_standby and hb_takeover of Heartbeat 3.0.6,
// printing exactly what 3.0.6 prints.
package hbctl

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/linuxha/heartbeat/internal/config"
	"github.com/linuxha/heartbeat/internal/control"
	"github.com/linuxha/heartbeat/internal/version"
)

// Exit codes of hbctl.
const (
	ExitOK           = 0
	ExitFailure      = 1
	ExitUsage        = 2
	ExitNoDaemon     = 3 // the daemon is not running or not on the bus
	ExitAccessDenied = 4
)

type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// ExitCode maps an error of Run to the process exit code.
func ExitCode(err error) int {
	var ee *exitError
	switch {
	case err == nil:
		return ExitOK
	case errors.As(err, &ee):
		return ee.code
	case errors.Is(err, ErrAccessDenied):
		return ExitAccessDenied
	case errors.Is(err, ErrNotRunning):
		return ExitNoDaemon
	}
	return ExitFailure
}

// Env is what a run of the binary gets from its process.
type Env struct {
	Stdout, Stderr io.Writer
	// Dial connects to the daemon at a bus address ("" = the system bus);
	// nil means DialBus.
	Dial func(ctx context.Context, busAddress string) (Source, error)
	// ControlSocket is the daemon's control socket; "" = control.DefaultPath.
	ControlSocket string
	Now           func() time.Time // nil = time.Now
	Hostname      string           // for cl_status messages; "" = os.Hostname
	PID           int              // for cl_status messages; 0 = os.Getpid
}

func (e *Env) defaults() {
	if e.Dial == nil {
		e.Dial = DialBus
	}
	if e.ControlSocket == "" {
		e.ControlSocket = control.DefaultPath
	}
	if e.Now == nil {
		e.Now = time.Now
	}
	if e.Hostname == "" {
		h, _ := os.Hostname()
		e.Hostname, _, _ = strings.Cut(h, ".")
	}
	if e.PID == 0 {
		e.PID = os.Getpid()
	}
}

func progName(argv0 string) string { return filepath.Base(argv0) }

// Main runs the binary with argv (argv[0] selects hbctl, cl_status,
// hb_standby or hb_takeover) and returns the exit code.
func Main(ctx context.Context, argv []string, env Env) int {
	env.defaults()
	if len(argv) == 0 {
		argv = []string{"hbctl"}
	}
	addr := os.Getenv("DBUS_SYSTEM_BUS_ADDRESS")
	dial := func(ctx context.Context) (Source, error) { return env.Dial(ctx, addr) }
	switch progName(argv[0]) {
	case "cl_status":
		c := &clStatus{out: env.Stdout, errw: env.Stderr, host: env.Hostname, pid: env.PID, now: env.Now}
		return clStatusCommand(ctx, argv, c, dial)
	case "hb_standby":
		return hbStandbyCommand(ctx, argv, env.Stdout, env.Stderr, env.Now, false, dial)
	case "hb_takeover":
		return hbStandbyCommand(ctx, argv, env.Stdout, env.Stderr, env.Now, true, dial)
	}
	err := Run(ctx, argv[1:], env)
	if err != nil && !errors.Is(err, errQuiet) {
		fmt.Fprintf(env.Stderr, "hbctl: %v\n", err)
	}
	return ExitCode(err)
}

// errQuiet marks errors already reported.
var errQuiet = errors.New("reported")

const usage = `usage: hbctl [options] COMMAND [ARGS]

commands:
  status                 local node, nodes with links, groups, transitions
  nodes                  the nodes, their status and links
  groups                 the resource groups and who holds them
  standby [all|local|foreign|failback]   give groups away to another node
  takeover [all|local|foreign|failback]  pull groups to this node
  reload                 make the daemon re-read its configuration
  check-config           check the configuration (--config-dir, --node-name)
  watch                  print every change the daemon announces
  completion bash|zsh    print a shell completion script
  version                print hbctl's version (also --version)

options:
  --json                 print JSON (schema in "hbctl help json")
  --bus-address ADDR     D-Bus address (default: $DBUS_SYSTEM_BUS_ADDRESS or the system bus)
  --socket PATH          control socket, used when the daemon is not on the bus
  --config-dir DIR       configuration directory for check-config (/etc/ha.d)
  --node-name NAME       node name for check-config (default: uname -n)

exit codes: 0 ok, 1 failure, 2 usage, 3 daemon not running, 4 access denied
`

const jsonHelp = `hbctl --json output (fields are never renamed; new ones may be added):

status:   {"node","state","generation","version","keepalive","deadtime",
           "warntime","initdead","auto_failback","resource_state","source",
           "nodes":[{"name","type","status","local","generation","last_heard",
                     "links":[{"name","status","last_heard"}]}],
           "groups":[{"key","preferred","owner","state","standby","failed","resources"}],
           "counters":{...}}
nodes:    {"nodes":[...as in status]}
groups:   {"groups":[...as in status]}
standby, takeover, reload:
          {"ok":true} or {"ok":false,"error":"...","error_name":"..."}
watch:    one object per line: {"time","signal","path","interface","changed","objects","owner"}
`

type flags struct {
	json       bool
	busAddress string
	socket     string
	configDir  string
	nodeName   string
}

// Run runs one hbctl command (args without the program name).
func Run(ctx context.Context, args []string, env Env) error {
	env.defaults()
	var f flags
	fs := flag.NewFlagSet("hbctl", flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	fs.Usage = func() { fmt.Fprint(env.Stderr, usage) }
	fs.BoolVar(&f.json, "json", false, "print JSON")
	fs.StringVar(&f.busAddress, "bus-address", os.Getenv("DBUS_SYSTEM_BUS_ADDRESS"), "D-Bus address")
	fs.StringVar(&f.socket, "socket", env.ControlSocket, "control socket of the daemon")
	fs.StringVar(&f.configDir, "config-dir", "/etc/ha.d", "configuration directory (check-config)")
	fs.StringVar(&f.nodeName, "node-name", "", "node name (check-config; default uname -n)")
	showVersion := fs.Bool("version", false, "print the version")
	// Flags may come before and after the command.
	var pos []string
	for rest := args; ; {
		if err := fs.Parse(rest); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil
			}
			return &exitError{ExitUsage, errQuiet}
		}
		if fs.NArg() == 0 {
			break
		}
		pos = append(pos, fs.Arg(0))
		rest = fs.Args()[1:]
	}
	if *showVersion {
		pos = append([]string{"version"}, pos...)
	}
	if len(pos) == 0 {
		fs.Usage()
		return &exitError{ExitUsage, errors.New("no command")}
	}
	cmd, cargs := pos[0], pos[1:]
	maxArgs := map[string]int{"standby": 1, "takeover": 1, "completion": 1, "help": 1}[cmd]
	if len(cargs) > maxArgs {
		return &exitError{ExitUsage, fmt.Errorf("%s: too many arguments", cmd)}
	}
	dial := func(ctx context.Context) (Source, error) { return env.Dial(ctx, f.busAddress) }
	switch cmd {
	case "status", "nodes", "groups":
		return show(ctx, cmd, f, env, dial)
	case "standby", "takeover", "reload":
		which := "all"
		if len(cargs) == 1 {
			which = cargs[0]
		}
		return act(ctx, cmd, which, f, env, dial)
	case "watch":
		return watch(ctx, f, env, dial)
	case "check-config":
		if f.json {
			return checkConfigJSON(env.Stdout, f.configDir, f.nodeName)
		}
		if code := config.CheckConfig(env.Stdout, f.configDir, config.Options{NodeName: f.nodeName}); code != 0 {
			return &exitError{code, errors.New("configuration has errors")}
		}
		return nil
	case "completion":
		if len(cargs) != 1 {
			return &exitError{ExitUsage, errors.New("completion: want bash or zsh")}
		}
		return completion(env.Stdout, cargs[0])
	case "version":
		if f.json {
			return json.NewEncoder(env.Stdout).Encode(map[string]string{"version": version.String()})
		}
		fmt.Fprintf(env.Stdout, "hbctl %s\n", version.String())
		return nil
	case "help":
		if len(cargs) == 1 && cargs[0] == "json" {
			fmt.Fprint(env.Stdout, jsonHelp)
			return nil
		}
		fmt.Fprint(env.Stdout, usage)
		return nil
	}
	fs.Usage()
	return &exitError{ExitUsage, fmt.Errorf("unknown command %q", cmd)}
}

// configProblem is one error or warning of check-config --json.
type configProblem struct {
	Path    string `json:"path,omitempty"`
	Line    int    `json:"line,omitempty"`
	Message string `json:"message"`
}

// checkConfigJSON is `hbctl check-config --json`: {"ok":..., "errors":[...],
// "warnings":[...]}, exit 1 when there are errors.
func checkConfigJSON(w io.Writer, dir, node string) error {
	_, warns, err := config.Load(dir, config.Options{NodeName: node})
	out := struct {
		OK       bool            `json:"ok"`
		Dir      string          `json:"config_dir"`
		Errors   []configProblem `json:"errors"`
		Warnings []configProblem `json:"warnings"`
	}{OK: err == nil, Dir: dir, Errors: []configProblem{}, Warnings: []configProblem{}}
	for _, e := range config.Errors(err) {
		var ce *config.Error
		if errors.As(e, &ce) {
			out.Errors = append(out.Errors, configProblem{Path: ce.Path, Line: ce.Line, Message: ce.Msg})
		} else {
			out.Errors = append(out.Errors, configProblem{Message: e.Error()})
		}
	}
	for _, wn := range warns {
		out.Warnings = append(out.Warnings, configProblem{Path: wn.Path, Line: wn.Line, Message: wn.Msg})
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if werr := enc.Encode(out); werr != nil {
		return werr
	}
	if !out.OK {
		return &exitError{1, errors.New("configuration has errors")}
	}
	return nil
}

// fetch reads the cluster from the bus; when the daemon is not on the bus
// but its control socket answers, from the socket. Counters come from the
// socket when it answers.
func fetch(ctx context.Context, f flags, dial func(context.Context) (Source, error)) (*Cluster, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	src, err := dial(ctx)
	if err == nil {
		defer src.Close()
		var cl *Cluster
		cl, err = src.Cluster(ctx)
		if err == nil {
			if st, qerr := queryControl(ctx, f.socket); qerr == nil {
				cl.Counters = st.Counters
			}
			return cl, nil
		}
	}
	if !errors.Is(err, ErrNotRunning) {
		return nil, err
	}
	st, qerr := queryControl(ctx, f.socket)
	if qerr != nil {
		return nil, err
	}
	return fromControl(st), nil
}

func queryControl(ctx context.Context, socket string) (*control.Status, error) {
	if _, err := os.Stat(socket); err != nil {
		return nil, err
	}
	qctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	resp, err := control.Query(qctx, socket, control.Request{Op: "status"})
	if err != nil {
		return nil, err
	}
	if resp.Status == nil {
		return nil, errors.New("control socket: empty answer")
	}
	return resp.Status, nil
}

func show(ctx context.Context, cmd string, f flags, env Env, dial func(context.Context) (Source, error)) error {
	cl, err := fetch(ctx, f, dial)
	if err != nil {
		return err
	}
	if f.json {
		enc := json.NewEncoder(env.Stdout)
		enc.SetIndent("", "  ")
		switch cmd {
		case "nodes":
			return enc.Encode(map[string]any{"nodes": cl.nodesJSON()})
		case "groups":
			return enc.Encode(map[string]any{"groups": cl.groupsJSON()})
		}
		return enc.Encode(cl.json())
	}
	switch cmd {
	case "nodes":
		printNodes(env.Stdout, cl)
	case "groups":
		printGroups(env.Stdout, cl)
	default:
		printStatus(env.Stdout, cl)
	}
	return nil
}

func act(ctx context.Context, cmd, which string, f flags, env Env, dial func(context.Context) (Source, error)) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	err := func() error {
		src, err := dial(ctx)
		if err != nil {
			return err
		}
		defer src.Close()
		switch cmd {
		case "standby":
			return src.Standby(ctx, which)
		case "takeover":
			return src.Takeover(ctx, which)
		}
		return src.Reload(ctx)
	}()
	if f.json {
		res := map[string]any{"ok": err == nil}
		if err != nil {
			res["error"] = err.Error()
			var re *RemoteError
			if errors.As(err, &re) {
				res["error_name"] = re.Name
			}
		}
		json.NewEncoder(env.Stdout).Encode(res)
	}
	if err != nil {
		var re *RemoteError
		if errors.As(err, &re) && re.Name == "org.linuxha.Heartbeat1.Error.InvalidArgument" {
			return &exitError{ExitUsage, fmt.Errorf("%s: %w", cmd, err)}
		}
		return fmt.Errorf("%s: %w", cmd, err)
	}
	return nil
}

func lastHeard(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Local().Format("2006-01-02 15:04:05.000")
}

// printStatus prints the overview of "hbctl status".
func printStatus(w io.Writer, cl *Cluster) {
	fmt.Fprintf(w, "node %s: %s (generation %d, heartbeat %s)\n", cl.LocalNode, cl.State, cl.Generation, cl.Version)
	if cl.ResourceState != "" {
		fmt.Fprintf(w, "resources held: %s\n", cl.ResourceState)
	}
	timers := fmt.Sprintf("timers: keepalive %s, deadtime %s", cl.Keepalive, cl.Deadtime)
	if cl.Warntime != 0 {
		timers += fmt.Sprintf(", warntime %s", cl.Warntime)
	}
	if cl.Initdead != 0 {
		timers += fmt.Sprintf(", initdead %s", cl.Initdead)
	}
	if cl.AutoFailback != "" {
		timers += ", auto_failback " + cl.AutoFailback
	}
	fmt.Fprintln(w, timers)
	fmt.Fprintln(w)
	printNodes(w, cl)
	if len(cl.Groups) > 0 {
		fmt.Fprintln(w)
		printGroups(w, cl)
	}
	var moving []string
	for _, g := range cl.Groups {
		if g.State == "starting" || g.State == "stopping" {
			moving = append(moving, fmt.Sprintf("%s %s", g.Key, g.State))
		}
	}
	if len(moving) > 0 {
		fmt.Fprintf(w, "\nin transition: %s\n", strings.Join(moving, ", "))
	}
	if len(cl.Counters) > 0 {
		c := cl.Counters
		fmt.Fprintf(w, "\npackets: %d received, %d malformed, %d bad signature, %d unknown node, %d duplicate/replayed\n",
			c["received"], c["malformed"], c["bad_auth"], c["unknown_node"], c["duplicate"]+c["replayed"])
	}
}

func printNodes(w io.Writer, cl *Cluster) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tTYPE\tSTATUS\tLINKS\tLAST HEARD")
	for _, n := range cl.Nodes {
		var links []string
		for _, l := range n.Links {
			links = append(links, l.Name+" "+l.Status)
		}
		if len(links) == 0 {
			links = []string{"-"}
		}
		name := n.Name
		if n.Local {
			name += " (local)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", name, n.Type, n.Status, strings.Join(links, ", "), lastHeard(n.LastHeard))
	}
	tw.Flush()
}

func printGroups(w io.Writer, cl *Cluster) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "GROUP\tPREFERRED\tOWNER\tLOCAL STATE\tRESOURCES")
	for _, g := range cl.Groups {
		owner := g.Owner
		if owner == "" {
			owner = "-"
		}
		state := g.State
		if g.Standby {
			state += " (standby)"
		}
		if g.Failed {
			state += " (failed here)"
		}
		res := resourcesText(g)
		if res == "" {
			res = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", g.Key, g.Preferred, owner, state, res)
	}
	tw.Flush()
}

// resourcesText lists the group's resources; one whose state is not what
// the group's state implies (running with the group running, stopped
// otherwise) carries it in brackets: "10.0.0.1 httpd[starting]".
func resourcesText(g Group) string {
	want := "stopped"
	if g.State == "running" {
		want = "running"
	}
	parts := make([]string, len(g.Resources))
	for i, r := range g.Resources {
		parts[i] = r
		if i < len(g.ResourceStates) && g.ResourceStates[i] != want {
			parts[i] += "[" + g.ResourceStates[i] + "]"
		}
	}
	return strings.Join(parts, " ")
}

// watch prints every change until ctx is done.
func watch(ctx context.Context, f flags, env Env, dial func(context.Context) (Source, error)) error {
	src, err := dial(ctx)
	if err != nil {
		return err
	}
	defer src.Close()
	enc := json.NewEncoder(env.Stdout)
	return src.Watch(ctx, func(c Change) {
		if f.json {
			enc.Encode(c)
			return
		}
		fmt.Fprintln(env.Stdout, formatChange(c))
	})
}

// formatChange renders a change as one line.
func formatChange(c Change) string {
	ts := c.Time.Format(time.RFC3339Nano)
	obj := strings.TrimPrefix(strings.TrimPrefix(c.Path, "/org/linuxha/Heartbeat1"), "/")
	if obj == "" {
		obj = "manager"
	}
	switch c.Signal {
	case "InterfacesAdded":
		return fmt.Sprintf("%s added %s", ts, obj)
	case "InterfacesRemoved":
		return fmt.Sprintf("%s removed %s", ts, obj)
	case "NameOwnerChanged":
		if c.Owner == "" {
			return fmt.Sprintf("%s daemon left the bus", ts)
		}
		return fmt.Sprintf("%s daemon on the bus", ts)
	}
	keys := make([]string, 0, len(c.Changed))
	for k := range c.Changed {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := []string{ts, obj}
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s=%v", k, c.Changed[k]))
	}
	return strings.Join(parts, " ")
}
