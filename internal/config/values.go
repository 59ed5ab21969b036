package config

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Separators of Heartbeat's config parser (include/heartbeat.h).
const (
	whitespace = " \t\n\r\f"
	delims     = ", \t\n\r\f"
)

// maxTimeMs bounds time values (cl_get_msec returns a C long; 2^31 ms is
// about 24 days, far above any sensible heartbeat timer).
const maxTimeMs = 1 << 31

// ParseTime parses a Heartbeat time value the way cl_get_msec does: a decimal
// number of seconds ("2", "1.5"), or a number followed by "ms"/"msec"
// (milliseconds) or "us"/"usec" (microseconds). The result is rounded to the
// nearest millisecond; decimal arithmetic keeps "0.02" exactly 20ms.
func ParseTime(s string) (time.Duration, error) {
	num := s
	unit := ""
	if i := strings.IndexFunc(s, func(r rune) bool { return (r < '0' || r > '9') && r != '.' }); i >= 0 {
		num, unit = s[:i], s[i:]
	}
	var usPerUnit int64 // microseconds per unit of the number
	switch strings.ToLower(unit) {
	case "":
		usPerUnit = 1_000_000
	case "ms", "msec":
		usPerUnit = 1000
	case "us", "usec":
		usPerUnit = 1
	default:
		return 0, fmt.Errorf("invalid time %q (want seconds such as 2 or 1.5, or milliseconds such as 500ms)", s)
	}
	intPart, frac, _ := strings.Cut(num, ".")
	if intPart == "" && frac == "" || strings.Contains(frac, ".") {
		return 0, fmt.Errorf("invalid time %q", s)
	}
	intPart = strings.TrimLeft(intPart, "0")
	if len(intPart) > 12 {
		return 0, fmt.Errorf("time %q is too large", s)
	}
	var whole int64
	if intPart != "" {
		v, err := strconv.ParseInt(intPart, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("invalid time %q", s)
		}
		whole = v
	}
	// Value in units of 1e-6 microseconds (picoseconds) keeps 6 fraction
	// digits of seconds exact; further digits only matter for rounding.
	const scale = 1_000_000
	frac = (frac + "000000")[:6]
	fv, err := strconv.ParseInt(frac, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("invalid time %q", s)
	}
	if whole > (maxTimeMs+1)*1000/usPerUnit {
		return 0, fmt.Errorf("time %q is too large", s)
	}
	ps := (whole*scale + fv) * usPerUnit // picoseconds
	const psPerMs = scale * 1000
	ms := (ps + psPerMs/2) / psPerMs
	if ms > maxTimeMs {
		return 0, fmt.Errorf("time %q is too large", s)
	}
	return time.Duration(ms) * time.Millisecond, nil
}

// ParseBool parses a Heartbeat boolean like cl_str_to_boolean:
// true/on/yes/y/1 and false/off/no/n/0, case-insensitive.
func ParseBool(s string) (bool, error) {
	switch strings.ToLower(s) {
	case "true", "on", "yes", "y", "1":
		return true, nil
	case "false", "off", "no", "n", "0":
		return false, nil
	}
	return false, fmt.Errorf("invalid boolean %q (want on/off, yes/no, true/false, y/n, 1/0)", s)
}

var errRange = errors.New("out of range")

// parseInt parses a decimal integer in [lo, hi].
func parseInt(s string, lo, hi int) (int, error) {
	v, err := strconv.Atoi(s)
	if err != nil {
		return 0, fmt.Errorf("invalid number %q", s)
	}
	if v < lo || v > hi {
		return 0, fmt.Errorf("%d is %w (%d..%d)", v, errRange, lo, hi)
	}
	return v, nil
}

// fields splits s at any of the separator bytes in seps, dropping empties.
func fields(s, seps string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r < 0x80 && strings.ContainsRune(seps, r) })
}

// trimLeft drops leading separators.
func trimLeft(s, seps string) string {
	return strings.TrimLeft(s, seps)
}

// formatMs renders a duration the way config.c records derived times: "%ldms".
func formatMs(d time.Duration) string {
	return strconv.FormatInt(d.Milliseconds(), 10) + "ms"
}

// validHostname reports whether s looks like a host name (RFC 1123 letters,
// digits, '-', '.', plus '_' which resolvers tolerate).
func validHostname(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '.', r == '_':
		default:
			return false
		}
	}
	return s[0] != '-' && s[0] != '.'
}

// validIfname reports whether s can be a Linux interface name.
func validIfname(s string) bool {
	if s == "" || len(s) > 15 || s == "." || s == ".." {
		return false
	}
	for _, r := range s {
		if r <= ' ' || r == '/' || r >= 0x7f {
			return false
		}
	}
	return true
}
