// Package script runs Heartbeat resource scripts and LSB init scripts as
// resource agents: "script [args...] start|stop|status", executed directly
// (never through a shell), in its own process group, with a timeout that
// kills the whole group.
//
// Start and stop succeed on exit code 0. Status follows LSB exit codes
// (0 running, 1 and 2 dead with a pid or lock file, 3 stopped, 4 unknown)
// but, because old Heartbeat scripts exit 0 in every state, an exit code of
// 0 is judged by the output text exactly as Heartbeat's ResourceManager
// does (see StateFromText).
//
// Environment (minimal, documented; Options.Env adds to or overrides it):
//
//	PATH=/usr/sbin:/usr/bin:/sbin:/bin
//	LC_ALL=C                          so status texts are the English ones
//	HA_D=/etc/ha.d
//	HA_RESOURCEDIR=/etc/ha.d/resource.d
//	HA_RSCTMP=/run/heartbeat/rsctmp   scratch directory for resource scripts
//
// Output (stdout and stderr together) goes to an unlinked temporary file,
// not a pipe, so a daemon started by a script that keeps the descriptor
// open cannot block the call or be killed by SIGPIPE; the first
// Options.OutputLimit bytes are logged and quoted in errors.
package script

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"time"

	"github.com/linuxha/heartbeat/internal/resource"
)

// Defaults for Options.
const (
	DefaultTimeout     = 60 * time.Second
	DefaultOutputLimit = 4096
)

// BaseEnv returns the environment every script gets before Options.Env.
func BaseEnv() []string {
	return []string{
		"PATH=/usr/sbin:/usr/bin:/sbin:/bin",
		"LC_ALL=C",
		"HA_D=/etc/ha.d",
		"HA_RESOURCEDIR=/etc/ha.d/resource.d",
		"HA_RSCTMP=/run/heartbeat/rsctmp",
	}
}

// Options tune an Agent. Zero values take the defaults.
type Options struct {
	Timeout     time.Duration // per start, stop or status call (DefaultTimeout)
	Env         []string      // NAME=value added after BaseEnv (for example ha.cf "env" lines)
	OutputLimit int           // bytes of output kept (DefaultOutputLimit)
	Logger      *slog.Logger  // nil discards
}

// Agent runs one resource script. It implements resource.Agent.
type Agent struct {
	token string
	path  string
	args  []string
	opts  Options
	log   *slog.Logger
}

var _ resource.Agent = (*Agent)(nil)

// New returns an agent that runs path with args followed by the operation.
// Nothing is run yet.
func New(token, path string, args []string, opts Options) *Agent {
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.OutputLimit <= 0 {
		opts.OutputLimit = DefaultOutputLimit
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Agent{token: token, path: path, args: append([]string(nil), args...), opts: opts,
		log: log.With("resource", token)}
}

// Token returns the haresources token.
func (a *Agent) Token() string { return a.token }

// Path returns the script that is run.
func (a *Agent) Path() string { return a.path }

// Start runs "script args... start"; exit code 0 is success.
func (a *Agent) Start(ctx context.Context) error { return a.action(ctx, "start") }

// Stop runs "script args... stop"; exit code 0 is success.
func (a *Agent) Stop(ctx context.Context) error { return a.action(ctx, "stop") }

func (a *Agent) action(ctx context.Context, op string) error {
	res, err := a.run(ctx, op)
	if err != nil {
		return err
	}
	if res.code != 0 {
		return fmt.Errorf("resource %s: %s %s: exit status %d%s", a.token, a.path, op, res.code, quote(res.out))
	}
	return nil
}

// Status runs "script args... status" and classifies the result with
// Classify.
func (a *Agent) Status(ctx context.Context) (resource.State, error) {
	res, err := a.run(ctx, "status")
	if err != nil {
		return resource.Unknown, err
	}
	st, err := Classify(res.code, res.out)
	if err != nil {
		return st, fmt.Errorf("resource %s: %s status: %w%s", a.token, a.path, err, quote(res.out))
	}
	return st, nil
}

var (
	notRunningText = regexp.MustCompile(`(?s)[Nn]ot .*[Rr]unning`)
	runningText    = regexp.MustCompile(`[Rr]unning|OK`)
)

// StateFromText applies Heartbeat's status-text rule (ResourceManager's
// shell patterns): output matching *[Nn]ot *[Rr]unning* is stopped,
// *[Rr]unning* or *OK* is running, anything else (including nothing) is
// stopped. The patterns span lines, as a shell case does.
func StateFromText(out string) resource.State {
	switch {
	case notRunningText.MatchString(out):
		return resource.Stopped
	case runningText.MatchString(out):
		return resource.Running
	}
	return resource.Stopped
}

// ErrStatusUnknown is wrapped by Classify for LSB status 4 and for exit
// codes LSB does not define for status.
var ErrStatusUnknown = errors.New("status unknown")

// Classify maps a status exit code and output to a state: 0 is judged by
// the text (StateFromText) because old scripts exit 0 in every state; 3 is
// stopped; 1 ("dead, pid file exists") and 2 ("dead, lock file exists") are
// failed; anything else is unknown and an error.
func Classify(code int, out string) (resource.State, error) {
	switch code {
	case 0:
		return StateFromText(out), nil
	case 1, 2:
		return resource.Failed, nil
	case 3:
		return resource.Stopped, nil
	}
	return resource.Unknown, fmt.Errorf("%w (exit status %d)", ErrStatusUnknown, code)
}

type result struct {
	code int
	out  string
}

// run executes the script with op appended and returns its exit code and
// output; an error means the script could not be run or timed out.
func (a *Agent) run(ctx context.Context, op string) (result, error) {
	ctx, cancel := context.WithTimeout(ctx, a.opts.Timeout)
	defer cancel()

	out, err := os.CreateTemp("", "hb-resource-*")
	if err != nil {
		return result{}, fmt.Errorf("resource %s: output file: %w", a.token, err)
	}
	defer out.Close()
	os.Remove(out.Name())

	args := append(append([]string(nil), a.args...), op)
	cmd := exec.CommandContext(ctx, a.path, args...)
	cmd.Env = append(BaseEnv(), a.opts.Env...)
	cmd.Dir = "/"
	cmd.Stdout = out
	cmd.Stderr = out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error {
		// The script leads its own process group: take all of it.
		return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
	cmd.WaitDelay = time.Second

	start := time.Now()
	runErr := cmd.Run()
	text := readBounded(out, a.opts.OutputLimit)
	elapsed := time.Since(start)

	if ctx.Err() != nil && cmd.ProcessState != nil && !cmd.ProcessState.Exited() {
		a.log.Warn("script timed out", "op", op, "script", a.path, "timeout", a.opts.Timeout, "output", text)
		return result{}, fmt.Errorf("resource %s: %s %s: killed after %v: %w", a.token, a.path, op, elapsed.Round(time.Millisecond), ctx.Err())
	}
	var exitErr *exec.ExitError
	switch {
	case runErr == nil:
	case errors.As(runErr, &exitErr) && exitErr.Exited():
	default:
		return result{}, fmt.Errorf("resource %s: %s %s: %w", a.token, a.path, op, runErr)
	}
	code := cmd.ProcessState.ExitCode()
	a.log.Debug("script finished", "op", op, "script", a.path, "exit", code, "elapsed", elapsed, "output", text)
	return result{code: code, out: text}, nil
}

func readBounded(f *os.File, limit int) string {
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return ""
	}
	b, _ := io.ReadAll(io.LimitReader(f, int64(limit)))
	return string(b)
}

// quote formats output for an error message: ": " and its first line.
func quote(out string) string {
	out = strings.TrimSpace(out)
	if out == "" {
		return ""
	}
	if i := strings.IndexByte(out, '\n'); i >= 0 {
		out = out[:i] + " ..."
	}
	return ": " + out
}
