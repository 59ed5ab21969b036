package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The test binary doubles as the heartbeat binary: with HEARTBEAT_TEST_MAIN
// set it runs main with the arguments after "--".
func TestMain(m *testing.M) {
	if os.Getenv("HEARTBEAT_TEST_MAIN") == "1" {
		for i, a := range os.Args {
			if a == "--" {
				os.Args = append([]string{"heartbeat"}, os.Args[i+1:]...)
				break
			}
		}
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func runHeartbeat(t *testing.T, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(os.Args[0], append([]string{"-test.run=^$", "--"}, args...)...)
	cmd.Env = append(os.Environ(), "HEARTBEAT_TEST_MAIN=1", "JOURNAL_STREAM=", "NOTIFY_SOCKET=")
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return string(out), 0
	case errors.As(err, &ee):
		return string(out), ee.ExitCode()
	}
	t.Fatalf("run heartbeat: %v", err)
	return "", -1
}

// stage copies a config test case into a directory of its own, authkeys
// with mode 600 as heartbeat requires.
func stage(t *testing.T, name string) string {
	t.Helper()
	src := filepath.Join("..", "..", "internal", "config", "testdata", name)
	dir := t.TempDir()
	for _, f := range []string{"ha.cf", "haresources", "authkeys"} {
		b, err := os.ReadFile(filepath.Join(src, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestCheckConfigBinary(t *testing.T) {
	good := stage(t, "lab_hba")
	out, code := runHeartbeat(t, "--check-config", "--config-dir", good, "--node-name", "hba")
	if code != 0 || !strings.Contains(out, "configuration OK") {
		t.Errorf("good config: exit %d, output:\n%s", code, out)
	}

	// --node-name decides which node this is: an undeclared one is an error.
	out, code = runHeartbeat(t, "--check-config", "--config-dir", good, "--node-name", "nosuchnode")
	if code != 1 || !strings.Contains(out, "nosuchnode") {
		t.Errorf("undeclared node name: exit %d, output:\n%s", code, out)
	}

	bad := stage(t, "many_errors")
	out, code = runHeartbeat(t, "--check-config", "--config-dir", bad, "--node-name", "hba")
	if code != 1 {
		t.Errorf("broken config: exit %d, want 1", code)
	}
	// Every error at once, each as path:line: message.
	for _, want := range []string{
		filepath.Join(bad, "ha.cf") + `:3: unknown directive "deadtim"`,
		filepath.Join(bad, "ha.cf") + `:23: unknown directive "Keepalive"`,
		filepath.Join(bad, "haresources") + `:2: bad node name "hbc"`,
		filepath.Join(bad, "authkeys") + ":2: key 1: method md5 requires a key",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("broken config output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "configuration OK") || strings.Contains(out, "panic") {
		t.Errorf("broken config output:\n%s", out)
	}

	// authkeys readable by others is refused.
	if err := os.Chmod(filepath.Join(good, "authkeys"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, code = runHeartbeat(t, "--check-config", "--config-dir", good, "--node-name", "hba")
	if code != 1 || !strings.Contains(out, "600") {
		t.Errorf("authkeys 0644: exit %d, output:\n%s", code, out)
	}
}

func TestBadFlags(t *testing.T) {
	out, code := runHeartbeat(t, "--announce-count", "-1", "--config-dir", t.TempDir())
	if code != 1 || !strings.Contains(out, "--announce-count -1") {
		t.Errorf("--announce-count -1: exit %d, output:\n%s", code, out)
	}
	out, code = runHeartbeat(t, "stray")
	if code != 2 || !strings.Contains(out, `unexpected argument "stray"`) {
		t.Errorf("stray argument: exit %d, output:\n%s", code, out)
	}
	out, code = runHeartbeat(t, "--version")
	if code != 0 || !strings.HasPrefix(out, "heartbeat ") {
		t.Errorf("--version: exit %d, output %q", code, out)
	}
}
