package config

import (
	"bytes"
	"fmt"
	"io/fs"
	"strconv"
	"strings"

	"github.com/linuxha/heartbeat/internal/wire"
)

// maxAuth is MAXAUTH of heartbeat: key indexes are 0..15.
const maxAuth = 16

var methods = map[string]wire.Method{
	"crc":  wire.MethodCRC,
	"md5":  wire.MethodMD5,
	"sha1": wire.MethodSHA1,
}

// ParseAuthkeys parses the content of an authkeys file: one "auth N" line
// choosing the key that signs outgoing packets, and "N method [secret]" lines
// (crc takes no secret, md5 and sha1 require one). Lines starting with "#"
// are comments. The error joins one *Error per problem.
func ParseAuthkeys(path string, data []byte) (*wire.Keyring, error) {
	d := diag{path: path}
	kr := &wire.Keyring{Active: -1, Keys: map[int]wire.Key{}}
	authLine := 0
	keyLines := map[int]int{}
	badKeys := map[int]bool{} // keys whose line has an error already reported
	for i, raw := range bytes.Split(data, []byte("\n")) {
		line := i + 1
		s := trimLeft(string(raw), whitespace)
		if s == "" || s[0] == '#' {
			continue
		}
		toks := fields(s, whitespace)
		if toks[0] == "auth" || strings.HasPrefix(toks[0], "auth") && len(toks[0]) > 4 && isDigits(toks[0][4:]) {
			arg := strings.TrimPrefix(toks[0], "auth")
			rest := toks[1:]
			if arg == "" {
				if len(rest) == 0 {
					d.errorf(line, "auth: missing key index")
					continue
				}
				arg, rest = rest[0], rest[1:]
			}
			if len(rest) > 0 {
				d.errorf(line, "auth: unexpected %q (syntax: auth N)", rest[0])
				continue
			}
			n, err := parseInt(arg, 0, maxAuth-1)
			if err != nil {
				d.errorf(line, "auth: bad key index: %v", err)
				continue
			}
			if authLine > 0 {
				d.errorf(line, "auth specified twice (first at line %d)", authLine)
				continue
			}
			authLine, kr.Active = line, n
			continue
		}
		n, err := parseInt(toks[0], 0, maxAuth-1)
		if err != nil {
			if _, numErr := strconv.Atoi(toks[0]); numErr == nil {
				d.errorf(line, "bad key index: %v", err)
			} else {
				d.errorf(line, "invalid line (want \"auth N\" or \"N method [secret]\")")
			}
			continue
		}
		if len(toks) < 2 {
			d.errorf(line, "key %d: missing method (crc, md5 or sha1)", n)
			badKeys[n] = true
			continue
		}
		m, ok := methods[toks[1]]
		if !ok {
			d.errorf(line, "key %d: invalid method %q (want crc, md5 or sha1)", n, toks[1])
			badKeys[n] = true
			continue
		}
		k := wire.Key{Index: n, Method: m}
		switch {
		case m == wire.MethodCRC && len(toks) >= 3:
			d.errorf(line, "key %d: method crc doesn't use a key", n)
			badKeys[n] = true
			continue
		case len(toks) > 3:
			d.errorf(line, "key %d: the secret must be a single word", n)
			badKeys[n] = true
			continue
		case m != wire.MethodCRC && len(toks) == 2:
			d.errorf(line, "key %d: method %s requires a key", n, toks[1])
			badKeys[n] = true
			continue
		case len(toks) == 3:
			k.Secret = []byte(toks[2])
		}
		if first, dup := keyLines[n]; dup {
			d.errorf(line, "key %d defined twice (first at line %d)", n, first)
			continue
		}
		keyLines[n] = line
		kr.Keys[n] = k
	}
	switch {
	case authLine == 0:
		d.errorf(0, "missing auth directive (add a line \"auth N\")")
	case keyLines[kr.Active] == 0 && !badKeys[kr.Active]:
		d.errorf(authLine, "auth %d: key %d not found", kr.Active, kr.Active)
	}
	sortErrors(d.errs)
	if err := join(d.errs); err != nil {
		return nil, err
	}
	return kr, nil
}

func isDigits(s string) bool {
	return s != "" && strings.Trim(s, "0123456789") == ""
}

// CheckKeyfileMode refuses an authkeys file that group or others may read, as
// heartbeat does.
func CheckKeyfileMode(path string, mode fs.FileMode) error {
	if mode.Perm()&0o044 != 0 {
		return &Error{Path: path, Msg: fmt.Sprintf("bad permissions %04o on the key file: it must not be readable by group or others (600 required)", mode.Perm())}
	}
	return nil
}
