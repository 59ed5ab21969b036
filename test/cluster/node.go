//go:build clustertest

package cluster

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// cgEnterScript moves the shell into each cgroup.procs file given before "--"
// and execs the rest: systemd-nspawn must start in the node's own cgroup, or
// two nodes share one payload subtree and equal unit names collide. Only
// file names and argv pass through it, as positional parameters.
const cgEnterScript = `while [ "$1" != -- ]; do echo $$ > "$1" || exit 1; shift; done; shift; exec "$@"`

// rebootStatus is systemd-nspawn's exit status when the node rebooted.
const rebootStatus = 133

// Node is one systemd machine of the lab.
type Node struct {
	lab *Lab
	// Index is the node number, from 1.
	Index int
	// Hostname is the node's uname -n: node<Index>.
	Hostname string
	// NS is the node's network namespace (and machine name).
	NS string

	base    string   // tmpfs mount: upper, work, root, console.log
	root    string   // overlay mount, the node's /
	cgdirs  []string // the node's own cgroup in each hierarchy
	ttys    []string // --bind=... arguments of the serial ends
	console *os.File

	mu       sync.Mutex
	cmd      *exec.Cmd
	pid1     int
	up       bool
	stopping bool
	exited   chan struct{} // closed when the node is off for good
	boots    int
}

func newNode(l *Lab, i int) *Node {
	n := &Node{
		lab:      l,
		Index:    i,
		Hostname: fmt.Sprintf("node%d", i),
		NS:       nodeNSName(l.ID, i),
	}
	n.base = filepath.Join(l.Base, n.NS)
	n.root = filepath.Join(n.base, "root")
	for _, h := range l.cg {
		n.cgdirs = append(n.cgdirs, filepath.Join(h, cgroupName(l.ID, i)))
	}
	return n
}

// portPrefix names the node's ports in the bridge namespace: n<i>e0, n<i>e1.
func (n *Node) portPrefix() string { return fmt.Sprintf("n%d", n.Index) }

// Addr is the node's address on the first segment, 10.77.<id>.<Index>.
func (n *Node) Addr() string { return n.lab.Addr(n.Index) }

// Addr2 is the node's address on the second segment, 10.78.<id>.<Index>.
func (n *Node) Addr2() string { return n.lab.Addr2(n.Index) }

// Root is the host path of the node's root directory (its overlay).
func (n *Node) Root() string { return n.root }

// prepare mounts the tmpfs and the overlay of the host root and writes the
// node's identity and masks.
func (n *Node) prepare() error {
	if err := os.MkdirAll(n.base, 0o700); err != nil {
		return fmt.Errorf("node %s: %w", n.NS, err)
	}
	if err := unix.Mount("tmpfs", n.base, "tmpfs", 0, "mode=0700"); err != nil {
		return fmt.Errorf("node %s: mount tmpfs: %w", n.NS, err)
	}
	for _, d := range []string{"upper", "work", "root"} {
		if err := os.Mkdir(filepath.Join(n.base, d), 0o755); err != nil {
			return fmt.Errorf("node %s: %w", n.NS, err)
		}
	}
	opts := fmt.Sprintf("lowerdir=/,upperdir=%s/upper,workdir=%s/work", n.base, n.base)
	if err := unix.Mount("overlay", n.root, "overlay", 0, opts); err != nil {
		return fmt.Errorf("node %s: mount overlay: %w", n.NS, err)
	}
	mid, err := os.ReadFile("/proc/sys/kernel/random/uuid")
	if err != nil {
		return fmt.Errorf("node %s: machine id: %w", n.NS, err)
	}
	files := map[string]string{
		"/etc/hostname":   n.Hostname + "\n",
		"/etc/machine-id": strings.ReplaceAll(strings.TrimSpace(string(mid)), "-", "") + "\n",
	}
	for p, data := range files {
		if err := n.WriteFile(p, []byte(data), 0o644); err != nil {
			return err
		}
	}
	// A persistent journal in the overlay survives a power cut.
	if err := os.MkdirAll(filepath.Join(n.root, "var/log/journal"), 0o755); err != nil {
		return fmt.Errorf("node %s: %w", n.NS, err)
	}
	for _, u := range n.masks() {
		if err := n.mask(u); err != nil {
			return err
		}
	}
	c, err := os.OpenFile(filepath.Join(n.base, "console.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("node %s: console: %w", n.NS, err)
	}
	n.console = c
	return nil
}

// masks lists the units to mask: host packages' daemons that would start in
// every node (Debian's heartbeat and keepalived, a host database) and the
// caller's extra ones.
func (n *Node) masks() []string {
	var out []string
	for _, u := range []string{"heartbeat", "keepalived", "postgresql", "postgresql@"} {
		for _, d := range []string{"/lib/systemd/system", "/usr/lib/systemd/system", "/etc/init.d"} {
			name := u + ".service"
			if d == "/etc/init.d" {
				name = u
			}
			if _, err := os.Stat(filepath.Join(d, name)); err == nil {
				out = append(out, u+".service")
				break
			}
		}
	}
	return append(out, n.lab.opts.Mask...)
}

func (n *Node) mask(unit string) error {
	p := filepath.Join(n.root, "etc/systemd/system", unit)
	_ = os.Remove(p)
	if err := os.Symlink("/dev/null", p); err != nil {
		return fmt.Errorf("node %s: mask %s: %w", n.NS, unit, err)
	}
	return nil
}

func (n *Node) nspawnArgs() []string {
	args := []string{
		"-D", n.root, "--boot", "--register=no", "--keep-unit",
		"--network-namespace-path=" + netnsPath(n.NS),
		"--machine=" + n.NS, "--hostname=" + n.Hostname,
		"--capability=CAP_NET_ADMIN,CAP_NET_RAW,CAP_NET_BIND_SERVICE",
		"--console=read-only",
	}
	args = append(args, n.ttys...)
	return append(args,
		"systemd.mask=systemd-firstboot.service",
		"systemd.mask=systemd-networkd.service",
		"systemd.mask=systemd-timesyncd.service",
		"systemd.unit=multi-user.target",
	)
}

// spawn starts systemd-nspawn in fresh cgroups. Called with n.mu held.
func (n *Node) spawn() (*exec.Cmd, error) {
	var procs []string
	for _, d := range n.cgdirs {
		if err := os.Mkdir(d, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
			return nil, fmt.Errorf("node %s: cgroup: %w", n.NS, err)
		}
		procs = append(procs, filepath.Join(d, "cgroup.procs"))
	}
	args := append([]string{"-c", cgEnterScript, "sh"}, procs...)
	args = append(args, "--", "systemd-nspawn")
	args = append(args, n.nspawnArgs()...)
	cmd := exec.Command("/bin/sh", args...)
	cmd.Env = cleanEnv
	cmd.Stdout, cmd.Stderr = n.console, n.console
	// Its own process group: a Ctrl-C in the terminal (make demo) reaches
	// the harness, which shuts the nodes down in order, not nspawn itself.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("node %s: start systemd-nspawn: %w", n.NS, err)
	}
	return cmd, nil
}

// start boots the node; WaitRunning waits for it.
func (n *Node) start() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.up {
		return fmt.Errorf("node %s: already on", n.NS)
	}
	if n.lab.isClosing() {
		return fmt.Errorf("node %s: lab closed", n.NS)
	}
	if err := n.linksUp(); err != nil {
		return err
	}
	cmd, err := n.spawn()
	if err != nil {
		return err
	}
	n.cmd, n.up, n.stopping, n.pid1 = cmd, true, false, 0
	n.exited = make(chan struct{})
	n.boots++
	n.lab.wg.Add(1)
	go n.supervise(cmd, n.exited)
	return nil
}

// supervise owns one power cycle: it finds PID 1, waits for nspawn to exit,
// boots again after a reboot (status 133), and marks the node off.
func (n *Node) supervise(cmd *exec.Cmd, exited chan struct{}) {
	defer n.lab.wg.Done()
	for {
		stop := make(chan struct{})
		found := make(chan struct{})
		go func() {
			defer close(found)
			n.findPID1(cmd.Process.Pid, stop)
		}()
		err := cmd.Wait()
		close(stop)
		<-found
		n.mu.Lock()
		n.pid1 = 0
		reboot := exitStatus(err) == rebootStatus && !n.stopping && !n.lab.isClosing()
		n.mu.Unlock()
		// A machine without power answers nothing and forgets its addresses.
		if err := n.resetNet(); err != nil {
			n.lab.logf("cluster: %s: %v", n.NS, err)
		}
		// The payload is gone with nspawn; its cgroups may take a moment.
		if err := n.removeCgroups(); err != nil {
			n.lab.logf("cluster: %s: %v", n.NS, err)
		}
		n.mu.Lock()
		if reboot && !n.stopping && !n.lab.isClosing() {
			var c *exec.Cmd
			serr := n.linksUp()
			if serr == nil {
				c, serr = n.spawn()
			}
			if serr == nil {
				n.cmd = c
				n.boots++
				n.mu.Unlock()
				cmd = c
				continue
			}
			n.lab.logf("cluster: %s: boot after reboot: %v", n.NS, serr)
		}
		n.up, n.cmd = false, nil
		n.mu.Unlock()
		close(exited)
		return
	}
}

func exitStatus(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	if err == nil {
		return 0
	}
	return -1
}

// findPID1 polls for nspawn's child once it runs systemd: the node's PID 1.
func (n *Node) findPID1(nspawn int, stop <-chan struct{}) {
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		if pid := systemdChild(nspawn); pid > 0 {
			n.mu.Lock()
			select {
			case <-stop:
			default:
				n.pid1 = pid
			}
			n.mu.Unlock()
			return
		}
		select {
		case <-stop:
			return
		case <-tick.C:
		}
	}
}

func systemdChild(pid int) int {
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	for _, t := range tasks {
		data, err := os.ReadFile(t)
		if err != nil {
			continue
		}
		for f := range strings.FieldsSeq(string(data)) {
			c, err := strconv.Atoi(f)
			if err != nil {
				continue
			}
			comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", c))
			if err == nil && strings.TrimSpace(string(comm)) == "systemd" {
				return c
			}
		}
	}
	return 0
}

// PID1 is the host PID of the node's systemd, 0 while it is off or booting.
func (n *Node) PID1() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.pid1
}

// Running reports whether the node is powered on.
func (n *Node) Running() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.up
}

// Boots counts the node's boots, reboots included.
func (n *Node) Boots() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.boots
}

// WaitRunning waits until systemctl is-system-running says running, or
// degraded (then the failed units are logged).
func (n *Node) WaitRunning(ctx context.Context) error {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	last := "no PID 1 yet"
	for {
		if !n.Running() {
			return fmt.Errorf("node %s: powered off while booting: %s", n.NS, n.consoleTail(20))
		}
		if n.PID1() > 0 {
			// --wait blocks until the boot is done once the manager answers;
			// before that it fails at once and we come back.
			out, _ := n.Run(ctx, "systemctl", "is-system-running", "--wait")
			state := strings.TrimSpace(out)
			switch state {
			case "running":
				return nil
			case "degraded":
				failed, _ := n.Run(ctx, "systemctl", "--failed", "--no-legend", "--plain")
				n.lab.logf("cluster: %s is degraded; failed units:\n%s", n.NS, failed)
				return nil
			case "maintenance":
				return fmt.Errorf("node %s: system is %s", n.NS, state)
			}
			if state != "" {
				last = state
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("node %s: not running (last state %q): %w", n.NS, last, ctx.Err())
		case <-tick.C:
		}
	}
}

// PowerOff cuts the node's power: every process of it is killed at once
// (cgroup.kill), nothing shuts down. It returns when the node is off.
func (n *Node) PowerOff() error {
	n.mu.Lock()
	if !n.up {
		n.mu.Unlock()
		return nil
	}
	n.stopping = true
	exited, cmd := n.exited, n.cmd
	n.mu.Unlock()
	err := killCgroup(n.cgdirs)
	if cmd != nil && cmd.Process != nil {
		_ = cmd.Process.Kill()
	}
	select {
	case <-exited:
		return err
	case <-time.After(15 * time.Second):
		return fmt.Errorf("node %s: still running 15s after power off: %w", n.NS, errors.Join(err, errors.New("timeout")))
	}
}

// Stop shuts the node down cleanly (SIGTERM to systemd-nspawn, as the
// power button) and returns when it is off; after 20s it cuts the power.
func (n *Node) Stop() error {
	n.mu.Lock()
	if !n.up {
		n.mu.Unlock()
		return nil
	}
	n.stopping = true
	exited, cmd := n.exited, n.cmd
	n.mu.Unlock()
	// A node between two boots has no nspawn to signal: it stays off now.
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("node %s: stop: %w", n.NS, err)
	}
	select {
	case <-exited:
		return nil
	case <-time.After(20 * time.Second):
		return errors.Join(fmt.Errorf("node %s: no clean shutdown in 20s", n.NS), n.PowerOff())
	}
}

// Reboot reboots the node from inside (systemctl reboot: nspawn exits with
// status 133 and the harness boots it again, as a machine that reboots)
// and waits until it runs again.
func (n *Node) Reboot(ctx context.Context) error {
	before := n.Boots()
	// The command may die with the node; its error says nothing.
	_, _ = n.Run(ctx, "systemctl", "reboot")
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for n.Boots() == before || n.PID1() == 0 {
		if !n.Running() {
			return fmt.Errorf("node %s: off instead of rebooting", n.NS)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("node %s: reboot: %w", n.NS, ctx.Err())
		case <-tick.C:
		}
	}
	return n.WaitRunning(ctx)
}

// Start boots a node that was powered off or stopped (its disk, the
// overlay, is kept) and waits until it runs.
func (n *Node) Start(ctx context.Context) error {
	if err := n.start(); err != nil {
		return err
	}
	return n.WaitRunning(ctx)
}

// media is the number of segments the node is on.
func (n *Node) media() int {
	if n.lab.opts.SecondNet {
		return 2
	}
	return 1
}

// resetNet puts the node's interfaces back to their state before boot,
// down: the addresses the node added (VIPs) are gone, the base ones stay.
func (n *Node) resetNet() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for m := range n.media() {
		dev := fmt.Sprintf("eth%d", m)
		for _, args := range [][]string{
			{"link", "set", dev, "down"},
			{"addr", "flush", "dev", dev},
			{"addr", "add", subnetAddr(77+m, n.lab.ID, n.Index) + "/24", "brd", "+", "dev", dev},
		} {
			if err := ipCmd(ctx, n.NS, args...); err != nil {
				return fmt.Errorf("reset network: %w", err)
			}
		}
	}
	return nil
}

// linksUp brings the node's interfaces up, as at power on.
func (n *Node) linksUp() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for m := range n.media() {
		if err := ipCmd(ctx, n.NS, "link", "set", fmt.Sprintf("eth%d", m), "up"); err != nil {
			return fmt.Errorf("node %s: %w", n.NS, err)
		}
	}
	return nil
}

func (n *Node) removeCgroups() error {
	var errs []error
	for _, d := range n.cgdirs {
		errs = append(errs, removeCgroupTree(d))
	}
	return errors.Join(errs...)
}

// release unmounts the node's file systems once it is off.
func (n *Node) release() error {
	var errs []error
	errs = append(errs, n.removeCgroups())
	if n.console != nil {
		errs = append(errs, n.console.Close())
		n.console = nil
	}
	errs = append(errs, unmountUnder(n.base))
	return errors.Join(errs...)
}
