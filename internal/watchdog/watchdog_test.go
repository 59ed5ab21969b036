package watchdog

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// A regular file stands in for /dev/watchdog: it records what was written.
func TestPetAndMagicClose(t *testing.T) {
	path := filepath.Join(t.TempDir(), "watchdog")
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	d, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if err := d.Pet(); err != nil {
			t.Fatal(err)
		}
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(path)
	if string(got) != "\x00\x00\x00V" {
		t.Errorf("device saw %q, want three keep-alives then the magic 'V'", got)
	}
}

func TestAbandonLeavesArmed(t *testing.T) {
	path := filepath.Join(t.TempDir(), "watchdog")
	os.WriteFile(path, nil, 0o600)
	d, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	d.Pet()
	d.Abandon()
	if got, _ := os.ReadFile(path); string(got) != "\x00" {
		t.Errorf("device saw %q, want no magic close", got)
	}
}

func TestMissingDevice(t *testing.T) {
	_, err := Open(filepath.Join(t.TempDir(), "nope"))
	if !errors.Is(err, ErrNoDevice) {
		t.Fatalf("err = %v, want ErrNoDevice", err)
	}
	if err := Check(t.TempDir()); err == nil {
		t.Errorf("a directory accepted as watchdog")
	}
}
