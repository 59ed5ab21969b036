// Package hbctl is the command-line client of the heartbeat daemon.
package hbctl

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/linuxha/heartbeat/internal/config"
	"github.com/linuxha/heartbeat/internal/control"
)

// Exit codes.
const (
	ExitOK       = 0
	ExitFailure  = 1
	ExitUsage    = 2
	ExitNoDaemon = 3 // the daemon is not running
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
	if errors.As(err, &ee) {
		return ee.code
	}
	if err != nil {
		return ExitFailure
	}
	return ExitOK
}

const usage = `usage: hbctl [--socket PATH] [--json] COMMAND

commands:
  status         nodes, links and their state
  nodes          the nodes and their status
  groups         the resource groups and who holds them
  standby [all|local|foreign]   give groups away to another node
  takeover [all|local|foreign]  pull groups to this node
  check-config   check /etc/ha.d (--config-dir DIR, --node-name NAME)
`

// Run runs one hbctl command.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("hbctl", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usage) }
	socket := fs.String("socket", control.DefaultPath, "control socket of the daemon")
	asJSON := fs.Bool("json", false, "print JSON")
	configDir := fs.String("config-dir", "/etc/ha.d", "configuration directory (check-config)")
	nodeName := fs.String("node-name", "", "node name (check-config; default uname -n)")
	if err := fs.Parse(args); err != nil {
		return &exitError{ExitUsage, err}
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return &exitError{ExitUsage, errors.New("no command")}
	}
	// Flags may also follow the command.
	cmd := fs.Arg(0)
	if err := fs.Parse(fs.Args()[1:]); err != nil {
		return &exitError{ExitUsage, err}
	}
	switch cmd {
	case "standby", "takeover":
		which := "all"
		if fs.NArg() > 0 {
			which = fs.Arg(0)
		}
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if _, err := control.Query(ctx, *socket, control.Request{Op: cmd, Arg: which}); err != nil {
			if strings.Contains(err.Error(), "connect to heartbeat") {
				return &exitError{ExitNoDaemon, err}
			}
			return err
		}
		return nil
	case "status", "nodes", "groups":
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		resp, err := control.Query(ctx, *socket, control.Request{Op: "status"})
		if err != nil {
			return &exitError{ExitNoDaemon, err}
		}
		if *asJSON {
			enc := json.NewEncoder(stdout)
			enc.SetIndent("", "  ")
			return enc.Encode(resp.Status)
		}
		switch cmd {
		case "groups":
			printGroups(stdout, resp.Status)
		case "nodes":
			printStatus(stdout, resp.Status, false)
		default:
			printStatus(stdout, resp.Status, true)
			if len(resp.Status.Groups) > 0 {
				fmt.Fprintln(stdout)
				printGroups(stdout, resp.Status)
			}
		}
		return nil
	case "check-config":
		if code := config.CheckConfig(stdout, *configDir, config.Options{NodeName: *nodeName}); code != 0 {
			return &exitError{code, errors.New("configuration has errors")}
		}
		return nil
	case "help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fs.Usage()
	return &exitError{ExitUsage, fmt.Errorf("unknown command %q", cmd)}
}

func printStatus(w io.Writer, s *control.Status, full bool) {
	if full {
		fmt.Fprintf(w, "node %s: %s (generation %d, heartbeat %s)\n", s.Node, s.State, s.Generation, s.Version)
		fmt.Fprintf(w, "timers: keepalive %s, deadtime %s\n\n", s.Keepalive, s.Deadtime)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tTYPE\tSTATUS\tLINKS\tLAST HEARD")
	for _, n := range s.Nodes {
		var links []string
		for _, l := range n.Links {
			links = append(links, l.Name+" "+l.Status)
		}
		name := n.Name
		if n.Local {
			name += " (local)"
		}
		last := "-"
		if !n.LastHeard.IsZero() {
			last = n.LastHeard.Format("15:04:05.000")
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", name, n.Type, n.Status, strings.Join(links, ", "), last)
	}
	tw.Flush()
	if full && len(s.Counters) > 0 {
		fmt.Fprintf(w, "\npackets: %d received, %d malformed, %d bad signature, %d unknown node, %d duplicate/replayed\n",
			s.Counters["received"], s.Counters["malformed"], s.Counters["bad_auth"], s.Counters["unknown_node"], s.Counters["duplicate"]+s.Counters["replayed"])
	}
}

func printGroups(w io.Writer, s *control.Status) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "GROUP\tPREFERRED\tOWNER\tLOCAL STATE")
	for _, g := range s.Groups {
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
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", g.Key, g.Preferred, owner, state)
	}
	tw.Flush()
}
