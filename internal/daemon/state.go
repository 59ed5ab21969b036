package daemon

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// loadUUID returns the node's uuid, kept raw in dir/hb_uuid as 3.0.6 does,
// creating it on first start.
func loadUUID(dir string) ([16]byte, error) {
	var u [16]byte
	path := filepath.Join(dir, "hb_uuid")
	b, err := os.ReadFile(path)
	switch {
	case err == nil && len(b) == 16:
		copy(u[:], b)
		return u, nil
	case err == nil:
		return u, fmt.Errorf("%s: %d bytes, want 16", path, len(b))
	case !errors.Is(err, fs.ErrNotExist):
		return u, fmt.Errorf("read uuid: %w", err)
	}
	if _, err := rand.Read(u[:]); err != nil {
		return u, fmt.Errorf("new uuid: %w", err)
	}
	u[6] = u[6]&0x0f | 0x40 // version 4
	u[8] = u[8]&0x3f | 0x80
	if err := writeFileSync(path, u[:], 0o644); err != nil {
		return u, fmt.Errorf("write uuid: %w", err)
	}
	return u, nil
}

// nextGeneration increments the generation kept in dir/hb_generation (the
// 3.0.6 format, "%15lu\n") and returns the new value. The first value is
// the current time, so a node whose state directory was lost still comes
// back with a generation higher than before.
func nextGeneration(dir string, now time.Time) (uint64, error) {
	path := filepath.Join(dir, "hb_generation")
	var gen uint64
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		gen, err = strconv.ParseUint(string(bytes.TrimSpace(b)), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%s: %w", path, err)
		}
	case !errors.Is(err, fs.ErrNotExist):
		return 0, fmt.Errorf("read generation: %w", err)
	}
	gen++
	if t := uint64(now.Unix()); gen < t && gen == 1 {
		gen = t
	}
	if err := writeFileSync(path, fmt.Appendf(nil, "%15d\n", gen), 0o644); err != nil {
		return 0, fmt.Errorf("write generation: %w", err)
	}
	return gen, nil
}

// writeFileSync replaces path atomically and durably.
func writeFileSync(path string, data []byte, mode os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
