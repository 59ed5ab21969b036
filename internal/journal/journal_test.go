package journal

import (
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/coreos/go-systemd/v22/journal"
)

type entry struct {
	msg  string
	prio journal.Priority
	vars map[string]string
}

func capture() (*[]entry, Sender) {
	var got []entry
	return &got, func(m string, p journal.Priority, v map[string]string) error {
		got = append(got, entry{m, p, v})
		return nil
	}
}

func TestFieldsAndText(t *testing.T) {
	got, send := capture()
	log := slog.New(New(Options{Send: send, Ident: "heartbeat", Facility: 16, Level: slog.LevelDebug}))
	log.With("node", "node1").Warn("node status changed", "node", "node2", "state", "dead", "old_state", "active",
		MessageIDKey, "5c1e7a3b9d2f4e6a8b0c1d2e3f405161", "silence", 1500*time.Millisecond, "err", errors.New("x y"))
	if len(*got) != 1 {
		t.Fatalf("entries = %d", len(*got))
	}
	e := (*got)[0]
	if e.prio != journal.PriWarning {
		t.Errorf("priority = %d, want warning", e.prio)
	}
	wantText := `node status changed node=node1 node=node2 state=dead old_state=active silence=1.5s err="x y"`
	if e.msg != wantText {
		t.Errorf("message = %q\nwant      %q", e.msg, wantText)
	}
	for k, v := range map[string]string{"NODE": "node2", "STATE": "dead", "OLD_STATE": "active", "MESSAGE_ID": "5c1e7a3b9d2f4e6a8b0c1d2e3f405161",
		"SYSLOG_IDENTIFIER": "heartbeat", "SYSLOG_FACILITY": "16", "ERR": "x y", "SILENCE": "1.5s"} {
		if e.vars[k] != v {
			t.Errorf("%s = %q, want %q", k, e.vars[k], v)
		}
	}
}

func TestLevels(t *testing.T) {
	got, send := capture()
	log := slog.New(New(Options{Send: send, Facility: -1}))
	log.Debug("hidden")
	log.Info("i")
	log.Error("e")
	if len(*got) != 2 || (*got)[0].prio != journal.PriInfo || (*got)[1].prio != journal.PriErr {
		t.Fatalf("entries = %+v", *got)
	}
	if _, ok := (*got)[0].vars["SYSLOG_FACILITY"]; ok {
		t.Errorf("facility set although none configured")
	}
}

func TestFieldNames(t *testing.T) {
	for in, want := range map[string]string{"node": "NODE", "old_state": "OLD_STATE", "last-heard": "LAST_HEARD", "_x": "X", "9lives": "LIVES", "message": "", "grp.key": "GRP_KEY"} {
		if got := fieldName(in); got != want {
			t.Errorf("fieldName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestGroups(t *testing.T) {
	got, send := capture()
	slog.New(New(Options{Send: send, Facility: -1})).WithGroup("media").Info("m", "dev", "eth0")
	if e := (*got)[0]; e.msg != "m media.dev=eth0" || e.vars["MEDIA_DEV"] != "eth0" {
		t.Errorf("entry = %+v", e)
	}
}
