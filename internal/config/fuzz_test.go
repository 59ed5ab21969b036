package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// seed adds every testdata file called name to the corpus.
func seed(f *testing.F, name string, extra ...string) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*", name))
	for _, p := range files {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	for _, s := range extra {
		f.Add([]byte(s))
	}
}

// checkErrors verifies that every reported problem is a positioned *Error.
func checkErrors(t *testing.T, path string, err error) {
	for _, e := range Errors(err) {
		var ce *Error
		if !errors.As(e, &ce) || ce.Path != path || ce.Line < 0 || ce.Msg == "" {
			t.Fatalf("bad error %#v", e)
		}
	}
}

func FuzzParseHaCf(f *testing.F) {
	seed(f, HaCfFile, "udp eth0\n", "mcast6 eth0 ff12::1 694 1 0\n", "keepalive 0.0005\n", "respawn a /b c\n")
	f.Fuzz(func(t *testing.T, data []byte) {
		cf, warns, err := ParseHaCf("ha.cf", data)
		checkErrors(t, "ha.cf", err)
		if cf == nil {
			t.Fatal("nil HaCf")
		}
		for _, w := range warns {
			if w.Path != "ha.cf" || w.Line < 0 {
				t.Fatalf("bad warning %#v", w)
			}
		}
		if cf.Keepalive <= 0 || cf.Warntime <= 0 && cf.Deadtime >= 2*time.Millisecond {
			t.Fatalf("keepalive %v warntime %v", cf.Keepalive, cf.Warntime)
		}
		for _, n := range cf.Nodes {
			if n != strings.ToLower(n) {
				t.Fatalf("node %q not lower-cased", n)
			}
		}
		c := &Config{HaCf: *cf, LocalNode: "hba"}
		_, err = c.Validate()
		checkErrors(t, "ha.cf", err)
	})
}

func FuzzParseHaresources(f *testing.F) {
	seed(f, HaresourcesFile, "a b\\\n", "a 1.2.3.4/\n", "x IPv6addr::::1\n")
	f.Fuzz(func(t *testing.T, data []byte) {
		groups, err := ParseHaresources("haresources", data)
		checkErrors(t, "haresources", err)
		keys := map[string]bool{}
		for _, g := range groups {
			if len(g.Resources) == 0 || g.Line < 1 || g.Node != strings.ToLower(g.Node) {
				t.Fatalf("bad group %+v", g)
			}
			if keys[g.Key()] {
				t.Fatalf("duplicate key %q", g.Key())
			}
			keys[g.Key()] = true
			for _, r := range g.Resources {
				if r.VIP != nil && !r.VIP.Addr.IsValid() {
					t.Fatalf("VIP without address: %+v", r)
				}
			}
		}
	})
}

func FuzzParseAuthkeys(f *testing.F) {
	seed(f, AuthkeysFile, "auth 0\n0 crc\n", "auth15\n15 sha1 k\n")
	f.Fuzz(func(t *testing.T, data []byte) {
		kr, err := ParseAuthkeys("authkeys", data)
		checkErrors(t, "authkeys", err)
		if (kr == nil) == (err == nil) {
			t.Fatalf("keyring %v with error %v", kr, err)
		}
		if kr == nil {
			return
		}
		if _, ok := kr.Keys[kr.Active]; !ok {
			t.Fatalf("active key %d missing", kr.Active)
		}
		for i, k := range kr.Keys {
			if k.Index != i || i < 0 || i > 15 || (k.Method == 1) != (len(k.Secret) == 0) {
				t.Fatalf("bad key %d: %+v", i, k)
			}
		}
	})
}
