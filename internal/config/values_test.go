package config

import (
	"testing"
	"time"
)

func TestParseTime(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"2", 2 * time.Second, true},
		{"1.5", 1500 * time.Millisecond, true},
		{"1.7", 1700 * time.Millisecond, true},
		{"0.02", 20 * time.Millisecond, true},
		{"0.08", 80 * time.Millisecond, true},
		{".5", 500 * time.Millisecond, true},
		{"500ms", 500 * time.Millisecond, true},
		{"20ms", 20 * time.Millisecond, true},
		{"80MS", 80 * time.Millisecond, true},
		{"250msec", 250 * time.Millisecond, true},
		{"1500us", 2 * time.Millisecond, true}, // rounded like cl_get_msec
		{"1499usec", 1 * time.Millisecond, true},
		{"0.0004", 0, true},
		{"0.0005", 1 * time.Millisecond, true},
		{"1.23456789", 1235 * time.Millisecond, true},
		{"0", 0, true},
		{"007", 7 * time.Second, true},
		{"2147483", 2147483 * time.Second, true},
		{"2147484", 0, false},
		{"99999999999999999999", 0, false},
		{"", 0, false},
		{".", 0, false},
		{"1.2.3", 0, false},
		{"2s", 0, false},
		{"-1", 0, false},
		{"1e3", 0, false},
		{"ms", 0, false},
		{"1 ms", 0, false},
	} {
		got, err := ParseTime(tc.in)
		if (err == nil) != tc.ok {
			t.Errorf("ParseTime(%q) error = %v, want ok=%v", tc.in, err, tc.ok)
			continue
		}
		if tc.ok && got != tc.want {
			t.Errorf("ParseTime(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func TestParseBool(t *testing.T) {
	for _, s := range []string{"true", "on", "yes", "y", "1", "TRUE", "On", "YES", "Y"} {
		if v, err := ParseBool(s); err != nil || !v {
			t.Errorf("ParseBool(%q) = %v, %v; want true", s, v, err)
		}
	}
	for _, s := range []string{"false", "off", "no", "n", "0", "FALSE", "Off", "NO", "N"} {
		if v, err := ParseBool(s); err != nil || v {
			t.Errorf("ParseBool(%q) = %v, %v; want false", s, v, err)
		}
	}
	for _, s := range []string{"", "2", "ja", "yess", "enable"} {
		if _, err := ParseBool(s); err == nil {
			t.Errorf("ParseBool(%q) accepted", s)
		}
	}
}
