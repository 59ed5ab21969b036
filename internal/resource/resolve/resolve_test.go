package resolve

import (
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/linuxha/heartbeat/internal/config"
	"github.com/linuxha/heartbeat/internal/resource"
	"github.com/linuxha/heartbeat/internal/resource/script"
	"github.com/linuxha/heartbeat/internal/resource/unit"
	"github.com/linuxha/heartbeat/internal/resource/vip"
)

// fakeUnits answers Lookup from a map; agents come from a manager that
// is never connected (resolving does not start anything).
type fakeUnits struct {
	infos   map[string]unit.Info
	err     error
	m       *unit.Manager
	lookups []string
}

func (f *fakeUnits) Lookup(_ context.Context, name string) (unit.Info, error) {
	f.lookups = append(f.lookups, name)
	if f.err != nil {
		return unit.Info{}, f.err
	}
	if i, ok := f.infos[name]; ok {
		return i, nil
	}
	return unit.Info{Name: name, LoadState: "not-found"}, nil
}

func (f *fakeUnits) Agent(token, u string, opts unit.Options) *unit.Agent {
	return f.m.Agent(token, u, opts)
}

func mkexec(t *testing.T, dir, name string, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), []byte("#!/bin/sh\n"), mode); err != nil {
		t.Fatal(err)
	}
}

func TestResolve(t *testing.T) {
	root := t.TempDir()
	rd, id := filepath.Join(root, "resource.d"), filepath.Join(root, "init.d")
	mkexec(t, rd, "both", 0o755)       // resource.d script and native unit
	mkexec(t, id, "lsb", 0o755)        // init script with generated unit
	mkexec(t, id, "nativeinit", 0o755) // init script and native unit
	mkexec(t, rd, "noexec", 0o644)
	mkexec(t, id, "noexec", 0o755)
	mkexec(t, id, "argsd", 0o755)
	if err := os.MkdirAll(filepath.Join(rd, "adir"), 0o755); err != nil {
		t.Fatal(err)
	}

	units := &fakeUnits{m: unit.NewManager(nil), infos: map[string]unit.Info{
		"both.service":       {LoadState: "loaded", FragmentPath: "/lib/systemd/system/both.service"},
		"lsb.service":        {LoadState: "loaded", SourcePath: id + "/lsb"},
		"nativeinit.service": {LoadState: "loaded", FragmentPath: "/lib/systemd/system/nativeinit.service"},
		"httpd.service":      {LoadState: "loaded", FragmentPath: "/lib/systemd/system/httpd.service"},
		"orphan.service":     {LoadState: "loaded", SourcePath: id + "/orphan"},
		"data.mount":         {LoadState: "loaded", FragmentPath: "/etc/systemd/system/data.mount"},
		"argsd.service":      {LoadState: "loaded", FragmentPath: "/lib/systemd/system/argsd.service"},
	}}
	r := New(Config{ResourceDir: rd, InitDir: id, Units: units,
		Logger: slog.New(slog.NewTextHandler(t.Output(), nil))})

	tests := []struct {
		name, args string
		script     string // expected script path
		unit       string // or expected unit
	}{
		{name: "both", script: rd + "/both"},
		{name: "lsb", script: id + "/lsb"},
		{name: "nativeinit", unit: "nativeinit.service"},
		{name: "httpd", unit: "httpd.service"},
		{name: "httpd.service", unit: "httpd.service"},
		{name: "data.mount", unit: "data.mount"},
		{name: "orphan", unit: "orphan.service"},
		{name: "noexec", script: id + "/noexec"},
		{name: "argsd", args: "x", script: id + "/argsd"}, // arguments: never a unit
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := config.Resource{Token: tt.name, Name: tt.name}
			if tt.args != "" {
				res.Args = []string{tt.args}
				res.Token += "::" + tt.args
			}
			a, err := r.Resolve(context.Background(), res)
			if err != nil {
				t.Fatal(err)
			}
			if a.Token() != res.Token {
				t.Errorf("token %q, want %q", a.Token(), res.Token)
			}
			switch a := a.(type) {
			case *script.Agent:
				if tt.script == "" || a.Path() != tt.script {
					t.Errorf("got script %s, want script %q unit %q", a.Path(), tt.script, tt.unit)
				}
			case *unit.Agent:
				if tt.unit == "" || a.Unit() != tt.unit {
					t.Errorf("got unit %s, want script %q unit %q", a.Unit(), tt.script, tt.unit)
				}
			default:
				t.Errorf("got %T", a)
			}
		})
	}

	for _, name := range []string{"missing", "adir", "../init.d/lsb", ""} {
		_, err := r.Resolve(context.Background(), config.Resource{Token: name, Name: name})
		if err == nil {
			t.Errorf("%q resolved", name)
		}
		if name == "missing" && (!errors.Is(err, resource.ErrNotFound) || err.Error() != "cannot locate resource script missing") {
			t.Errorf("missing: %v", err)
		}
	}
	for _, l := range units.lookups {
		if strings.HasPrefix(l, "argsd") {
			t.Errorf("systemd asked about %s although the token has arguments", l)
		}
	}
}

func TestResolveWithoutSystemd(t *testing.T) {
	root := t.TempDir()
	mkexec(t, filepath.Join(root, "init.d"), "lsb", 0o755)
	for _, u := range []Units{nil, &fakeUnits{err: errors.New("no bus")}} {
		r := New(Config{ResourceDir: filepath.Join(root, "rd"), InitDir: filepath.Join(root, "init.d"), Units: u})
		a, err := r.Resolve(context.Background(), config.Resource{Token: "lsb", Name: "lsb"})
		if s, ok := a.(*script.Agent); err != nil || !ok || s.Path() != root+"/init.d/lsb" {
			t.Errorf("units %v: %T %v", u, a, err)
		}
		if _, err := r.Resolve(context.Background(), config.Resource{Token: "httpd", Name: "httpd"}); !errors.Is(err, resource.ErrNotFound) {
			t.Errorf("units %v: httpd: %v", u, err)
		}
	}
}

func TestResolveVIP(t *testing.T) {
	r := New(Config{ResourceDir: t.TempDir(), InitDir: t.TempDir()})
	res := config.Resource{Token: "10.98.1.5/24/eth0", Name: "IPaddr", Args: []string{"10.98.1.5/24/eth0"},
		VIP: &config.VIP{Agent: "IPaddr", Addr: netip.MustParseAddr("10.98.1.5"), Bits: 24, Iface: "eth0"}}
	a, err := r.Resolve(context.Background(), res)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := a.(*vip.Agent); !ok || a.Token() != res.Token {
		t.Errorf("got %T %q", a, a.Token())
	}
	res.VIP.Bits = 40
	if _, err := r.Resolve(context.Background(), res); err == nil {
		t.Error("invalid prefix length accepted")
	}
}

// TestResolveIPaddr2IPv6 resolves IPaddr2::/IPaddr:: tokens with an IPv6
// address, parsed by config, into VIP agents for that address.
func TestResolveIPaddr2IPv6(t *testing.T) {
	r := New(Config{ResourceDir: t.TempDir(), InitDir: t.TempDir()})
	for _, tc := range []struct {
		tok  string
		want vip.Spec
	}{
		{"IPaddr2::fd00::10/64/eth0", vip.Spec{Addr: netip.MustParseAddr("fd00::10"), Bits: 64, Iface: "eth0"}},
		{"IPaddr2::fd00::10", vip.Spec{Addr: netip.MustParseAddr("fd00::10")}},
		{"IPaddr::2001:db8::7/80", vip.Spec{Addr: netip.MustParseAddr("2001:db8::7"), Bits: 80}},
	} {
		res, err := config.ParseResource(tc.tok)
		if err != nil {
			t.Fatalf("%s: %v", tc.tok, err)
		}
		a, err := r.Resolve(context.Background(), res)
		if err != nil {
			t.Fatalf("%s: %v", tc.tok, err)
		}
		v, ok := a.(*vip.Agent)
		if !ok {
			t.Fatalf("%s: got %T, want *vip.Agent", tc.tok, a)
		}
		if got := v.Spec(); got != tc.want || !got.Addr.Is6() || v.Token() != tc.tok {
			t.Errorf("%s: spec %+v token %q, want %+v", tc.tok, got, v.Token(), tc.want)
		}
	}
}
