package config

import (
	"bytes"
	"errors"
	"io/fs"
	"reflect"
	"strings"
	"testing"

	"github.com/linuxha/heartbeat/internal/wire"
)

func TestParseAuthkeys(t *testing.T) {
	kr, err := ParseAuthkeys("authkeys", []byte("# keys\n  auth 2\n1 crc\n2 sha1 s3cret\n\n3 md5 older\n15 md5 x\n0 crc\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := &wire.Keyring{Active: 2, Keys: map[int]wire.Key{
		0:  {Index: 0, Method: wire.MethodCRC},
		1:  {Index: 1, Method: wire.MethodCRC},
		2:  {Index: 2, Method: wire.MethodSHA1, Secret: []byte("s3cret")},
		3:  {Index: 3, Method: wire.MethodMD5, Secret: []byte("older")},
		15: {Index: 15, Method: wire.MethodMD5, Secret: []byte("x")},
	}}
	if !reflect.DeepEqual(kr, want) {
		t.Errorf("keyring = %+v, want %+v", kr, want)
	}
	// the auth line may follow the keys; "auth1" is read like sscanf does
	kr, err = ParseAuthkeys("authkeys", []byte("1 md5 labsecret\nauth1\n"))
	if err != nil || kr.Active != 1 || !bytes.Equal(kr.Keys[1].Secret, []byte("labsecret")) {
		t.Errorf("keyring = %+v, %v", kr, err)
	}
}

func TestParseAuthkeysErrors(t *testing.T) {
	for _, tc := range []struct {
		text string
		line int
		msg  string
	}{
		{"", 0, "missing auth directive"},
		{"auth 3\n1 crc\n", 1, "key 3 not found"},
		{"auth\n", 1, "missing key index"},
		{"auth 16\n", 1, "out of range"},
		{"auth 1 2\n1 crc\n", 1, `unexpected "2"`},
		{"auth 1\n1 crc x\n", 2, "crc doesn't use a key"},
		{"auth 1\n1 md5\n", 2, "md5 requires a key"},
		{"auth 1\n1 sha1\n", 2, "sha1 requires a key"},
		{"auth 1\n1 sha256 k\n", 2, "invalid method"},
		{"auth 1\n1\n", 2, "missing method"},
		{"auth 1\n-1 crc\n1 crc\n", 2, "out of range"},
		{"auth 1\n1 crc\n1 md5 k\n", 3, "defined twice"},
		{"auth 1\n1 crc # comment\n", 2, "crc doesn't use a key"},
		{"auth 1\nkey 1 crc\n1 crc\n", 2, "invalid line"},
	} {
		kr, err := ParseAuthkeys("authkeys", []byte(tc.text))
		var e *Error
		if kr != nil || !errors.As(err, &e) {
			t.Errorf("%q: got %v, %v; want an *Error", tc.text, kr, err)
			continue
		}
		if e.Line != tc.line || !strings.Contains(e.Msg, tc.msg) {
			t.Errorf("%q: got %v, want line %d containing %q", tc.text, err, tc.line, tc.msg)
		}
	}
}

func TestCheckKeyfileMode(t *testing.T) {
	for mode, ok := range map[fs.FileMode]bool{0o600: true, 0o400: true, 0o700: true, 0o622: true, 0o640: false, 0o604: false, 0o644: false} {
		err := CheckKeyfileMode("/etc/ha.d/authkeys", mode)
		if (err == nil) != ok {
			t.Errorf("mode %04o: error %v, want ok=%v", mode, err, ok)
		}
		if err != nil && !strings.Contains(err.Error(), "600 required") {
			t.Errorf("mode %04o: error %q lacks \"600 required\"", mode, err)
		}
	}
}
