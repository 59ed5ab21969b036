package daemon

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestGenerationIncrements(t *testing.T) {
	dir := t.TempDir()
	now := time.Unix(1800000000, 0)
	g1, err := nextGeneration(dir, now)
	if err != nil {
		t.Fatal(err)
	}
	if g1 != 1800000000 {
		t.Errorf("first generation = %d, want the time", g1)
	}
	g2, err := nextGeneration(dir, now)
	if err != nil || g2 != g1+1 {
		t.Fatalf("second generation = %d, %v; want %d", g2, err, g1+1)
	}
	b, _ := os.ReadFile(filepath.Join(dir, "hb_generation"))
	if string(b) != "     1800000001\n" {
		t.Errorf("file = %q, want 3.0.6's %%15lu format", b)
	}
	os.WriteFile(filepath.Join(dir, "hb_generation"), []byte("garbage"), 0o644)
	if _, err := nextGeneration(dir, now); err == nil {
		t.Errorf("corrupt generation file accepted")
	}
}

func TestUUIDPersists(t *testing.T) {
	dir := t.TempDir()
	u1, err := loadUUID(dir)
	if err != nil {
		t.Fatal(err)
	}
	u2, err := loadUUID(dir)
	if err != nil || u1 != u2 {
		t.Fatalf("uuid changed across starts: %x %x %v", u1, u2, err)
	}
	if u1 == ([16]byte{}) {
		t.Errorf("zero uuid")
	}
	os.WriteFile(filepath.Join(dir, "hb_uuid"), []byte("short"), 0o644)
	if _, err := loadUUID(dir); err == nil {
		t.Errorf("short uuid file accepted")
	}
}
