package daemon

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/linuxha/heartbeat/internal/config"
)

// Outside the journal the daemon logs text to stderr; ha.cf's logfile gets
// info and up, debugfile everything, and journal-only fields stay out.
func TestNewLoggerFiles(t *testing.T) {
	t.Setenv("JOURNAL_STREAM", "")
	dir := t.TempDir()
	cfg := &config.Config{}
	cfg.Logfile, cfg.Debugfile = filepath.Join(dir, "ha-log"), filepath.Join(dir, "ha-debug")
	var stderr bytes.Buffer
	log, closeLogs := newLogger(&stderr, cfg)
	log.Debug("probe detail", "node", "node2")
	log.Info("node status changed", "node", "node2", "state", "dead", "message_id", "5e7cb3a0c6d34c1b8a0f0b5a4b5d2c11")
	closeLogs()

	read := func(p string) string {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	logfile, debugfile := read(cfg.Logfile), read(cfg.Debugfile)
	for name, out := range map[string]string{"stderr": stderr.String(), "logfile": logfile, "debugfile": debugfile} {
		if !strings.Contains(out, "node status changed") || !strings.Contains(out, "node=node2") || !strings.Contains(out, "state=dead") {
			t.Errorf("%s lacks the info entry with its keys:\n%s", name, out)
		}
		if strings.Contains(out, "message_id") {
			t.Errorf("%s carries the journal-only message_id:\n%s", name, out)
		}
	}
	if strings.Contains(logfile, "probe detail") || strings.Contains(stderr.String(), "probe detail") {
		t.Errorf("debug entry logged without the debug directive")
	}
	if !strings.Contains(debugfile, "probe detail") {
		t.Errorf("debugfile lacks the debug entry:\n%s", debugfile)
	}

	// With `debug 1` stderr gets debug entries too; a log file that cannot
	// be opened is reported and skipped, never fatal.
	stderr.Reset()
	cfg2 := &config.Config{}
	cfg2.Debug, cfg2.Logfile = 1, filepath.Join(dir, "missing", "ha-log")
	log2, close2 := newLogger(&stderr, cfg2)
	log2.Debug("probe detail")
	close2()
	if out := stderr.String(); !strings.Contains(out, "cannot open log file") || !strings.Contains(out, "probe detail") {
		t.Errorf("stderr with debug 1 and a bad logfile:\n%s", out)
	}
}
