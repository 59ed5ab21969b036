package daemon

import (
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/linuxha/heartbeat/internal/config"
	"github.com/linuxha/heartbeat/internal/journal"
)

// syslog facility numbers (RFC 5424) for the logfacility directive.
var facilities = map[string]int{
	"kern": 0, "user": 1, "mail": 2, "daemon": 3, "auth": 4, "syslog": 5, "lpr": 6, "news": 7,
	"uucp": 8, "cron": 9, "authpriv": 10, "ftp": 11,
	"local0": 16, "local1": 17, "local2": 18, "local3": 19, "local4": 20, "local5": 21, "local6": 22, "local7": 23,
}

// newLogger builds the daemon's logger: structured journal entries when
// running under systemd, plain text on stderr otherwise; plus the logfile
// (info and up) and debugfile (everything) of ha.cf when set. The returned
// closer closes those files.
func newLogger(stderr io.Writer, cfg *config.Config) (*slog.Logger, func()) {
	if stderr == nil {
		stderr = os.Stderr
	}
	level := slog.LevelInfo
	if cfg != nil && cfg.Debug > 0 {
		level = slog.LevelDebug
	}
	var handlers []slog.Handler
	var files []*os.File
	if journal.Available() {
		fac := -1
		if cfg != nil {
			if f, ok := facilities[cfg.Logfacility]; ok {
				fac = f
			}
		}
		handlers = append(handlers, journal.New(journal.Options{Level: level, Facility: fac, Ident: "heartbeat"}))
	} else {
		handlers = append(handlers, slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level, ReplaceAttr: dropMessageID}))
	}
	if cfg != nil {
		for _, lf := range []struct {
			path  string
			level slog.Level
		}{{cfg.Logfile, slog.LevelInfo}, {cfg.Debugfile, slog.LevelDebug}} {
			if lf.path == "" || lf.path == "/dev/null" {
				continue
			}
			f, err := os.OpenFile(lf.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
			if err != nil {
				fmt.Fprintf(stderr, "heartbeat: cannot open log file: %v\n", err)
				continue
			}
			files = append(files, f)
			handlers = append(handlers, slog.NewTextHandler(f, &slog.HandlerOptions{Level: lf.level, ReplaceAttr: dropMessageID}))
		}
	}
	closer := func() {
		for _, f := range files {
			f.Close()
		}
	}
	if len(handlers) == 1 {
		return slog.New(handlers[0]), closer
	}
	return slog.New(slog.NewMultiHandler(handlers...)), closer
}

func dropMessageID(groups []string, a slog.Attr) slog.Attr {
	if len(groups) == 0 && a.Key == journal.MessageIDKey {
		return slog.Attr{}
	}
	return a
}
