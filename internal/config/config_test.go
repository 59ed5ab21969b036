package config

import (
	"bytes"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/linuxha/heartbeat/internal/wire"
)

func TestLoadLab(t *testing.T) {
	dir := stageCase(t, filepath.Join("testdata", "lab_hba"))
	c, warns, err := Load(dir, Options{NodeName: "hbA"})
	if err != nil {
		t.Fatal(err)
	}
	if len(warns) != 0 {
		t.Errorf("warnings: %v", warns)
	}
	if c.LocalNode != "hba" || c.Keepalive != time.Second || c.Deadtime != 3*time.Second ||
		c.Warntime != 2*time.Second || c.Initdead != 10*time.Second || c.AutoFailback != AutoFailbackOn {
		t.Errorf("config = %+v", c.HaCf)
	}
	if len(c.Media) != 1 || c.Media[0].Type != Ucast || c.Media[0].Peer != netip.MustParseAddr("10.250.0.2") ||
		c.Media[0].Port != 694 || c.Media[0].Line != 10 {
		t.Errorf("media = %+v", c.Media)
	}
	if len(c.Groups) != 1 || c.Groups[0].Node != "hba" || c.Groups[0].Key() != "IPaddr::10.250.0.100/24/eth0" {
		t.Fatalf("groups = %+v", c.Groups)
	}
	vip := c.Groups[0].Resources[0].VIP
	if vip == nil || vip.Addr != netip.MustParseAddr("10.250.0.100") || vip.Bits != 24 || vip.Iface != "eth0" || vip.Broadcast.IsValid() {
		t.Errorf("vip = %+v", vip)
	}
	if c.Keys.Active != 1 || c.Keys.Keys[1].Method != wire.MethodMD5 || string(c.Keys.Keys[1].Secret) != "labsecret" {
		t.Errorf("keys = %+v", c.Keys)
	}
	if v, _ := c.Parameter("keepalive"); v != "1" {
		t.Errorf("hbparameter keepalive = %q", v)
	}
}

func TestLoadPermissions(t *testing.T) {
	dir := stageCase(t, filepath.Join("testdata", "lab_hba"))
	key := filepath.Join(dir, AuthkeysFile)
	if err := os.Chmod(key, 0o640); err != nil {
		t.Fatal(err)
	}
	_, _, err := Load(dir, Options{NodeName: "hba"})
	if err == nil || !strings.Contains(err.Error(), "600 required") {
		t.Fatalf("Load with a group-readable authkeys: %v", err)
	}
	var e *Error
	if !errors.As(err, &e) || e.Path != key {
		t.Errorf("error %v not positioned at %s", err, key)
	}
	if _, _, err := Load(dir, Options{NodeName: "hba", SkipPermCheck: true}); err != nil {
		t.Errorf("SkipPermCheck: %v", err)
	}
}

// validate builds a Config from ha.cf and haresources text.
func validate(t *testing.T, local, hacf, hares string) ([]Warning, error) {
	t.Helper()
	cf, _, err := ParseHaCf("ha.cf", []byte(hacf))
	if err != nil {
		t.Fatalf("ParseHaCf: %v", err)
	}
	groups, err := ParseHaresources("haresources", []byte(hares))
	if err != nil {
		t.Fatalf("ParseHaresources: %v", err)
	}
	c := &Config{HaCf: *cf, LocalNode: local, HaresourcesPath: "haresources", Groups: groups}
	return c.Validate()
}

func TestValidate(t *testing.T) {
	const base = "ucast eth0 10.0.0.2\nnode hba hbb\nauto_failback on\nlogfacility daemon\n"
	for _, tc := range []struct {
		name, hacf, hares string
		err, warn         string
	}{
		{"ok", base, "hba x", "", ""},
		{"deadtime", base + "keepalive 1\ndeadtime 2\ninitdead 20", "", "ha.cf:6: deadtime (2s) must be greater than twice keepalive (1s)", ""},
		{"deadtime ms", base + "keepalive 20ms\ndeadtime 40ms", "", "deadtime (40ms) must be greater than twice keepalive (20ms)", ""},
		{"fast ok", base + "keepalive 20ms\ndeadtime 80ms", "", "", ""},
		{"initdead", base + "deadtime 20\ninitdead 19", "", "ha.cf:6: initdead (19s) must not be less than deadtime (20s)", ""},
		{"initdead small", base + "deadtime 3\ninitdead 5", "", "", "ha.cf:6: initdead (5s) may be too small"},
		{"warntime", base + "deadtime 10\nwarntime 10", "", "", "ha.cf:6: warntime (10s) is not less than deadtime (10s)"},
		{"deadping", base + "keepalive 2\ndeadping 3.5", "", "ha.cf:6: deadping (3.5s) must be greater than twice keepalive (2s)", ""},
		{"legacy", "ucast eth0 10.0.0.2\nnode hba\nlogfacility daemon", "", "", "ha.cf: deprecated 'legacy' auto_failback"},
		{"legacy line", base + "auto_failback legacy", "", "", "ha.cf:5: deprecated 'legacy' auto_failback"},
		{"local node", base, "", `ha.cf:2: local node "hbz" is not declared`, ""},
		{"no media", "node hba\nauto_failback on\nlogfacility daemon", "", "ha.cf: no heartbeat media defined", ""},
		{"no nodes", "bcast eth0\nauto_failback on\nlogfacility daemon", "", "ha.cf: no nodes defined", ""},
		{"autojoin", base + "autojoin other", "", "ha.cf:5: autojoin other conflicts with haresources", ""},
		{"bad node", base, "hba x\n\nhbc y", `haresources:3: bad node name "hbc"`, ""},
		{"node case", strings.Replace(base, "hba", "HBA", 1), "HbA x", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			local := "hba"
			if tc.name == "local node" {
				local = "hbz"
			}
			warns, err := validate(t, local, tc.hacf, tc.hares)
			if tc.err == "" && err != nil {
				t.Errorf("unexpected error: %v", err)
			}
			if tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)) {
				t.Errorf("error = %v, want %q", err, tc.err)
			}
			var ws []string
			for _, w := range warns {
				ws = append(ws, w.String())
			}
			all := strings.Join(ws, "\n")
			if tc.warn != "" && !strings.Contains(all, tc.warn) {
				t.Errorf("warnings = %q, want %q", all, tc.warn)
			}
			if tc.warn == "" && len(warns) > 0 {
				t.Errorf("unexpected warnings %q", all)
			}
		})
	}
}

func TestCheckConfigExitStatus(t *testing.T) {
	var out bytes.Buffer
	if code := CheckConfig(&out, t.TempDir(), Options{NodeName: "hba"}); code != 1 {
		t.Errorf("empty dir: exit %d, want 1", code)
	}
	if n := strings.Count(out.String(), "cannot read"); n != 3 {
		t.Errorf("empty dir: %d unreadable files reported, want 3:\n%s", n, out.String())
	}
}
