//go:build clustertest

package cluster

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"time"
)

var (
	staleNetns  = regexp.MustCompile(`^hb([0-9]{1,3})(net|cl|n[0-9]+)$`)
	staleCgroup = regexp.MustCompile(`^hbnode-([0-9]{1,3})-[0-9]+$`)
	staleRunDir = regexp.MustCompile(`^hbnodes-([0-9]{1,3})$`)
)

// CleanStale removes what crashed earlier runs of this harness left behind:
// their node processes and cgroups, mounts, run directories and network
// namespaces. It only touches names the harness makes (/run/hbnodes-<id>,
// netns hb<id>net|cl|n<i>, cgroups hbnode-<id>-<i>) and skips every run
// whose owning process still lives, so parallel runs are safe. TestMain
// calls it before the tests.
func CleanStale(logf func(format string, args ...any)) error {
	live := map[int]bool{}
	stale := map[int]bool{}
	ents, _ := os.ReadDir("/run")
	for _, e := range ents {
		m := staleRunDir.FindStringSubmatch(e.Name())
		if m == nil {
			continue
		}
		id, _ := strconv.Atoi(m[1])
		if ownerAlive(filepath.Join("/run", e.Name())) {
			live[id] = true
		} else {
			stale[id] = true
		}
	}
	// Cgroups of a run without run directory are stale too.
	var cgdirs []string
	roots, _ := cgroupRoots()
	for _, r := range roots {
		ents, _ := os.ReadDir(r)
		for _, e := range ents {
			if m := staleCgroup.FindStringSubmatch(e.Name()); m != nil {
				id, _ := strconv.Atoi(m[1])
				if !live[id] {
					stale[id] = true
					cgdirs = append(cgdirs, filepath.Join(r, e.Name()))
				}
			}
		}
	}
	var netns []string
	ents, _ = os.ReadDir("/run/netns")
	for _, e := range ents {
		if m := staleNetns.FindStringSubmatch(e.Name()); m != nil {
			// Only of runs known dead by their run directory or cgroups:
			// the harness makes both before its namespaces.
			id, _ := strconv.Atoi(m[1])
			if stale[id] {
				netns = append(netns, e.Name())
			}
		}
	}
	if len(stale) == 0 {
		return nil
	}
	var errs []error
	// Processes first: a node still running holds its mounts and namespace.
	if len(cgdirs) > 0 {
		errs = append(errs, killCgroup(cgdirs))
		deadline := time.Now().Add(10 * time.Second)
		for len(cgroupPIDs(cgdirs)) > 0 && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		for _, d := range cgdirs {
			errs = append(errs, removeCgroupTree(d))
		}
	}
	for id := range stale {
		dir := runBase + strconv.Itoa(id)
		if _, err := os.Stat(dir); err != nil {
			continue
		}
		if err := unmountUnder(dir); err != nil {
			errs = append(errs, err)
			continue
		}
		errs = append(errs, removeRunDir(dir))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, ns := range netns {
		if _, err := run(ctx, "ip", "netns", "del", ns); err != nil {
			errs = append(errs, err)
		}
	}
	ids := make([]int, 0, len(stale))
	for id := range stale {
		ids = append(ids, id)
	}
	logf("cluster: removed leftovers of earlier runs %v (%d cgroups, %d namespaces)", ids, len(cgdirs), len(netns))
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("clean stale runs: %w", err)
	}
	return nil
}
