// Package journal is a log/slog handler that writes structured entries to
// the systemd journal: the message text keeps the key=value pairs (so that
// `journalctl -u heartbeat` reads well), and every attribute also becomes a
// journal field (node -> NODE, old_state -> OLD_STATE, ...), so that
// `journalctl -u heartbeat NODE=node2` selects entries. The attribute
// "message_id" becomes MESSAGE_ID. Levels map to syslog priorities.
package journal

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-systemd/v22/journal"
)

// Sender delivers one entry; journal.Send is the real one.
type Sender func(message string, priority journal.Priority, vars map[string]string) error

// MessageIDKey is the attribute that becomes MESSAGE_ID.
const MessageIDKey = "message_id"

// Handler is a slog.Handler writing to the journal.
type Handler struct {
	send     Sender
	level    slog.Leveler
	facility string // SYSLOG_FACILITY, "" = none
	ident    string
	attrs    []slog.Attr
	groups   []string
	mu       *sync.Mutex
}

// Options configure a Handler.
type Options struct {
	Level    slog.Leveler // default Info
	Facility int          // syslog facility number, -1 = none
	Ident    string       // SYSLOG_IDENTIFIER
	Send     Sender       // default journal.Send
}

// New returns a journal handler.
func New(o Options) *Handler {
	if o.Send == nil {
		o.Send = journal.Send
	}
	if o.Level == nil {
		o.Level = slog.LevelInfo
	}
	h := &Handler{send: o.Send, level: o.Level, ident: o.Ident, mu: &sync.Mutex{}}
	if o.Facility >= 0 {
		h.facility = fmt.Sprint(o.Facility)
	}
	return h
}

// Available reports whether stderr is connected to the journal (we run
// under systemd) and the journal socket answers.
func Available() bool {
	ok, err := journal.StderrIsJournalStream()
	return err == nil && ok && journal.Enabled()
}

// Enabled implements slog.Handler.
func (h *Handler) Enabled(_ context.Context, l slog.Level) bool { return l >= h.level.Level() }

// WithAttrs implements slog.Handler.
func (h *Handler) WithAttrs(as []slog.Attr) slog.Handler {
	n := *h
	n.attrs = append(append([]slog.Attr(nil), h.attrs...), as...)
	return &n
}

// WithGroup implements slog.Handler.
func (h *Handler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	n := *h
	n.groups = append(append([]string(nil), h.groups...), name)
	return &n
}

// Handle implements slog.Handler.
func (h *Handler) Handle(_ context.Context, r slog.Record) error {
	var text strings.Builder
	text.WriteString(r.Message)
	vars := map[string]string{}
	if h.ident != "" {
		vars["SYSLOG_IDENTIFIER"] = h.ident
	}
	if h.facility != "" {
		vars["SYSLOG_FACILITY"] = h.facility
	}
	add := func(a slog.Attr) bool {
		h.addAttr(&text, vars, h.groups, a)
		return true
	}
	for _, a := range h.attrs {
		add(a)
	}
	r.Attrs(add)
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.send(text.String(), priority(r.Level), vars)
}

func (h *Handler) addAttr(text *strings.Builder, vars map[string]string, groups []string, a slog.Attr) {
	a.Value = a.Value.Resolve()
	if a.Equal(slog.Attr{}) {
		return
	}
	if a.Value.Kind() == slog.KindGroup {
		g := append(append([]string(nil), groups...), a.Key)
		for _, sub := range a.Value.Group() {
			h.addAttr(text, vars, g, sub)
		}
		return
	}
	key := strings.Join(append(append([]string(nil), groups...), a.Key), ".")
	val := valueString(a.Value)
	if key == MessageIDKey {
		vars["MESSAGE_ID"] = val
		return
	}
	text.WriteByte(' ')
	text.WriteString(key)
	text.WriteByte('=')
	if strings.ContainsAny(val, " \t\"=") || val == "" {
		fmt.Fprintf(text, "%q", val)
	} else {
		text.WriteString(val)
	}
	if f := fieldName(key); f != "" {
		vars[f] = val
	}
}

func valueString(v slog.Value) string {
	switch v.Kind() {
	case slog.KindTime:
		return v.Time().Format(time.RFC3339Nano)
	case slog.KindDuration:
		return v.Duration().String()
	}
	return v.String()
}

// fieldName maps an attribute key to a journal field name: upper case,
// [A-Z0-9_] only, not starting with "_" or a digit, at most 64 bytes.
func fieldName(key string) string {
	var b strings.Builder
	for _, c := range strings.ToUpper(key) {
		switch {
		case c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
			b.WriteRune(c)
		default:
			b.WriteByte('_')
		}
	}
	s := strings.TrimLeft(b.String(), "_0123456789")
	if len(s) > 64 {
		s = s[:64]
	}
	switch s {
	case "", "MESSAGE", "PRIORITY", "MESSAGE_ID", "SYSLOG_IDENTIFIER", "SYSLOG_FACILITY", "CODE_FILE", "CODE_LINE", "CODE_FUNC":
		return ""
	}
	return s
}

func priority(l slog.Level) journal.Priority {
	switch {
	case l >= slog.LevelError:
		return journal.PriErr
	case l >= slog.LevelWarn:
		return journal.PriWarning
	case l >= slog.LevelInfo:
		return journal.PriInfo
	}
	return journal.PriDebug
}
