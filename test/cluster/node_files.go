//go:build clustertest

package cluster

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// hostPath maps an absolute path in the node to the host. Symlinks in the
// directories on the way are followed inside the node's root, so that an
// absolute link (/var/run -> /run) cannot lead a write to the host; the
// last element is not followed. While the node runs the path goes through
// /proc/<pid1>/root and so sees the node's own mounts (/run, /tmp are
// tmpfs there); while it is off it is in the overlay, its disk.
func (n *Node) hostPath(p string) (string, error) {
	if !filepath.IsAbs(p) {
		return "", fmt.Errorf("node %s: path %q is not absolute", n.NS, p)
	}
	root := n.root
	if pid := n.PID1(); pid > 0 {
		root = fmt.Sprintf("/proc/%d/root", pid)
	}
	dir, err := resolveInRoot(root, filepath.Dir(filepath.Clean(p)))
	if err != nil {
		return "", fmt.Errorf("node %s: %w", n.NS, err)
	}
	return filepath.Join(dir, filepath.Base(p)), nil
}

// resolveInRoot resolves the node path p under root as the node would see
// it, following symlinks with root as "/". Missing elements are kept as
// they are (MkdirAll makes them).
func resolveInRoot(root, p string) (string, error) {
	todo := strings.Split(strings.TrimPrefix(filepath.Clean(p), "/"), "/")
	var done []string // resolved elements below root
	for hops := 0; len(todo) > 0; {
		e := todo[0]
		todo = todo[1:]
		switch e {
		case "", ".":
			continue
		case "..":
			if len(done) > 0 {
				done = done[:len(done)-1]
			}
			continue
		}
		cur := filepath.Join(append([]string{root}, append(done, e)...)...)
		fi, err := os.Lstat(cur)
		if err != nil || fi.Mode()&os.ModeSymlink == 0 {
			done = append(done, e)
			continue
		}
		if hops++; hops > 40 {
			return "", fmt.Errorf("resolve %s: too many links", p)
		}
		target, err := os.Readlink(cur)
		if err != nil {
			return "", fmt.Errorf("resolve %s: %w", p, err)
		}
		if filepath.IsAbs(target) {
			done = nil
		}
		todo = append(strings.Split(strings.TrimPrefix(target, "/"), "/"), todo...)
	}
	return filepath.Join(append([]string{root}, done...)...), nil
}

// WriteFile writes a file into the node (via a rename, so a running
// program keeps its old binary), creating parent directories. See hostPath
// for what a path means while the node runs or is off.
func (n *Node) WriteFile(path string, data []byte, mode os.FileMode) error {
	hp, err := n.hostPath(path)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(hp), 0o755); err != nil {
		return fmt.Errorf("node %s: %w", n.NS, err)
	}
	tmp := filepath.Join(filepath.Dir(hp), "."+filepath.Base(hp)+".hbtmp")
	if err := os.WriteFile(tmp, data, mode); err != nil {
		return fmt.Errorf("node %s: %w", n.NS, err)
	}
	if err := os.Chmod(tmp, mode); err != nil {
		return fmt.Errorf("node %s: %w", n.NS, err)
	}
	if err := os.Rename(tmp, hp); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("node %s: %w", n.NS, err)
	}
	return nil
}

// ReadFile reads a file from the node (see hostPath).
func (n *Node) ReadFile(path string) ([]byte, error) {
	hp, err := n.hostPath(path)
	if err != nil {
		return nil, err
	}
	data, err := os.ReadFile(hp)
	if err != nil {
		return nil, fmt.Errorf("node %s: %w", n.NS, err)
	}
	return data, nil
}

// RemoveFile removes a file (or symlink) from the node; a missing
// file is no error.
func (n *Node) RemoveFile(path string) error {
	hp, err := n.hostPath(path)
	if err != nil {
		return err
	}
	if err := os.Remove(hp); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("node %s: %w", n.NS, err)
	}
	return nil
}

// WriteHaConfig writes /etc/ha.d/ha.cf, haresources (0644) and authkeys (0600).
func (n *Node) WriteHaConfig(hacf, haresources, authkeys string) error {
	return errors.Join(
		n.WriteFile("/etc/ha.d/ha.cf", []byte(hacf), 0o644),
		n.WriteFile("/etc/ha.d/haresources", []byte(haresources), 0o644),
		n.WriteFile("/etc/ha.d/authkeys", []byte(authkeys), 0o600),
	)
}

// InstallBinaries copies the built bin/heartbeat and bin/hbctl into the
// node's /usr/local/sbin (and wherever the installed units' Exec lines want
// them), the unit files of systemd/ (or testdata/heartbeat.service while that
// does not exist) into /etc/systemd/system, the D-Bus policies of dbus/ into
// /etc/dbus-1/system.d, then reloads systemd (and dbus) if the node runs.
func (n *Node) InstallBinaries() error {
	repo, err := n.lab.RepoRoot()
	if err != nil {
		return err
	}
	bins := map[string][]byte{}
	for _, b := range []string{"heartbeat", "hbctl"} {
		data, err := os.ReadFile(filepath.Join(repo, "bin", b))
		if err != nil {
			return fmt.Errorf("install: %w (run make build first)", err)
		}
		bins[b] = data
	}
	units, err := unitFiles(repo)
	if err != nil {
		return err
	}
	dirs := map[string]map[string]bool{"/usr/local/sbin": {"heartbeat": true, "hbctl": true}}
	for _, u := range units {
		data, err := os.ReadFile(u)
		if err != nil {
			return fmt.Errorf("install: %w", err)
		}
		if err := n.RemoveFile("/etc/systemd/system/" + filepath.Base(u)); err != nil {
			return err
		}
		if err := n.WriteFile("/etc/systemd/system/"+filepath.Base(u), data, 0o644); err != nil {
			return err
		}
		for _, p := range execPaths(string(data)) {
			if b := filepath.Base(p); bins[b] != nil {
				if dirs[filepath.Dir(p)] == nil {
					dirs[filepath.Dir(p)] = map[string]bool{}
				}
				dirs[filepath.Dir(p)][b] = true
			}
		}
	}
	for d, names := range dirs {
		for b := range names {
			if err := n.WriteFile(d+"/"+b, bins[b], 0o755); err != nil {
				return err
			}
		}
	}
	policies, _ := filepath.Glob(filepath.Join(repo, "dbus", "*.conf"))
	for _, p := range policies {
		data, err := os.ReadFile(p)
		if err != nil {
			return fmt.Errorf("install: %w", err)
		}
		if err := n.WriteFile("/etc/dbus-1/system.d/"+filepath.Base(p), data, 0o644); err != nil {
			return err
		}
	}
	if !n.Running() {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := n.Run(ctx, "systemctl", "daemon-reload"); err != nil {
		return err
	}
	if len(policies) > 0 {
		if _, err := n.Run(ctx, "systemctl", "reload", "dbus.service"); err != nil {
			return err
		}
	}
	return nil
}

// unitFiles are the project's unit files, or the test unit while the
// project has no systemd/heartbeat.service yet.
func unitFiles(repo string) ([]string, error) {
	if _, err := os.Stat(filepath.Join(repo, "systemd", "heartbeat.service")); err != nil {
		p, err := filepath.Abs(filepath.Join("testdata", "heartbeat.service"))
		if err != nil {
			return nil, fmt.Errorf("install: %w", err)
		}
		return []string{p}, nil
	}
	var out []string
	for _, ext := range []string{"service", "socket", "target", "timer", "path"} {
		m, _ := filepath.Glob(filepath.Join(repo, "systemd", "*."+ext))
		out = append(out, m...)
	}
	return out, nil
}

// execPaths returns the absolute program paths of a unit's Exec*= lines.
func execPaths(unit string) []string {
	var out []string
	sc := bufio.NewScanner(strings.NewReader(unit))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		k, v, ok := strings.Cut(line, "=")
		if !ok || !strings.HasPrefix(k, "Exec") {
			continue
		}
		v = strings.TrimLeft(strings.TrimSpace(v), "-@:+!")
		if f := strings.Fields(v); len(f) > 0 && filepath.IsAbs(f[0]) {
			out = append(out, f[0])
		}
	}
	return out
}
