package loadavg

import (
	"os"
	"path/filepath"
	"regexp"
	"testing"
)

var format = regexp.MustCompile(`^\d+\.\d\d \d+\.\d\d \d+\.\d\d \d+/\d+ \d+$`)

// Every read starts again at offset 0: a second read of a file read to its
// end must not come back empty.
func TestReadAgain(t *testing.T) {
	f, err := Open(Path)
	if err != nil {
		t.Skipf("no %s: %v", Path, err)
	}
	defer f.Close()
	for i := range 3 {
		s := f.Read()
		if !format.MatchString(s) {
			t.Fatalf("read %d: %q is not a loadavg line", i, s)
		}
	}
}

// A file that changes is read anew; an unchanged one gives the same string.
func TestReadChanges(t *testing.T) {
	p := filepath.Join(t.TempDir(), "loadavg")
	write := func(s string) {
		t.Helper()
		// Rewrite in place: the descriptor stays on the same file.
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("0.10 0.20 0.30 1/100 42\n")
	f, err := Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if got := f.Read(); got != "0.10 0.20 0.30 1/100 42" {
		t.Fatalf("first read %q", got)
	}
	write("1.50 0.20 0.30 2/101 43\n")
	if got := f.Read(); got != "1.50 0.20 0.30 2/101 43" {
		t.Fatalf("after a change %q", got)
	}
	if n := testing.AllocsPerRun(10, func() { f.Read() }); n != 0 {
		t.Fatalf("unchanged file: %v allocations per read, want 0", n)
	}
	write("")
	if got := f.Read(); got != "" {
		t.Fatalf("empty file: %q, want \"\"", got)
	}
}

func TestOpenMissing(t *testing.T) {
	if _, err := Open(filepath.Join(t.TempDir(), "none")); err == nil {
		t.Fatal("no error for a missing file")
	}
}
