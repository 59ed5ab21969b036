package config

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/*/expected from the current output")

// stageCase copies a testdata case into a temporary directory, giving
// authkeys mode 0600 (or the mode in authkeys.mode), since git does not keep
// file modes.
func stageCase(t *testing.T, src string) string {
	t.Helper()
	dir := t.TempDir()
	for _, name := range []string{HaCfFile, HaresourcesFile, AuthkeysFile} {
		data, err := os.ReadFile(filepath.Join(src, name))
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		mode := os.FileMode(0o644)
		if name == AuthkeysFile {
			mode = 0o600
			if m, err := os.ReadFile(filepath.Join(src, "authkeys.mode")); err == nil {
				v, err := strconv.ParseUint(strings.TrimSpace(string(m)), 8, 32)
				if err != nil {
					t.Fatal(err)
				}
				mode = os.FileMode(v)
			}
		}
		dst := filepath.Join(dir, name)
		if err := os.WriteFile(dst, data, mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(dst, mode); err != nil { // umask
			t.Fatal(err)
		}
	}
	return dir
}

func TestGolden(t *testing.T) {
	cases, err := filepath.Glob("testdata/*")
	if err != nil {
		t.Fatal(err)
	}
	if len(cases) < 10 {
		t.Fatalf("only %d golden cases found", len(cases))
	}
	for _, src := range cases {
		if fi, err := os.Stat(src); err != nil || !fi.IsDir() || filepath.Base(src) == "fuzz" {
			continue
		}
		t.Run(filepath.Base(src), func(t *testing.T) {
			dir := stageCase(t, src)
			node := "hba"
			if b, err := os.ReadFile(filepath.Join(src, "nodename")); err == nil {
				node = strings.TrimSpace(string(b))
			}
			var out bytes.Buffer
			code := CheckConfig(&out, dir, Options{NodeName: node})
			got := strings.ReplaceAll(out.String(), dir, "/etc/ha.d")
			got += "exit " + strconv.Itoa(code) + "\n"
			golden := filepath.Join(src, "expected")
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update)", err)
			}
			if got != string(want) {
				t.Errorf("check-config output differs from %s\n--- got\n%s--- want\n%s", golden, got, want)
			}
			// the exit status must agree with the verdict line
			ok := strings.HasSuffix(strings.TrimSuffix(got, "exit 0\n"), "configuration OK\n")
			if ok != (code == 0) {
				t.Errorf("exit status %d does not match output", code)
			}
		})
	}
}
