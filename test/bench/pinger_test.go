//go:build clustertest && clusterbench

package bench

import (
	"testing"
	"time"
)

func TestParseReply(t *testing.T) {
	at, ok := parseReply("[1700000000.250000] 64 bytes from 10.77.1.100: icmp_seq=1 ttl=64 time=0.101 ms")
	if !ok || at.UnixMilli() != 1700000000250 {
		t.Errorf("reply line: got %v %v", at, ok)
	}
	for _, l := range []string{
		"[1700000000.250000] no answer yet for icmp_seq=2",
		"PING 10.77.1.100 (10.77.1.100) 56(84) bytes of data.",
		"[x] 64 bytes from 10.77.1.100: icmp_seq=1",
	} {
		if _, ok := parseReply(l); ok {
			t.Errorf("%q: parsed as a reply", l)
		}
	}
}

func TestMaxGap(t *testing.T) {
	base := time.Unix(1000, 0)
	at := func(ms ...int) []time.Time {
		var out []time.Time
		for _, m := range ms {
			out = append(out, base.Add(time.Duration(m)*time.Millisecond))
		}
		return out
	}
	ms := func(m int) time.Time { return base.Add(time.Duration(m) * time.Millisecond) }
	cases := []struct {
		name      string
		replies   []time.Time
		from, to  time.Time
		gap       time.Duration
		recovered bool
	}{
		{"steady", at(0, 20, 40, 60, 80, 100, 120), ms(30), ms(100), 20 * time.Millisecond, true},
		{"outage inside", at(0, 20, 40, 300, 320, 340), ms(30), ms(330), 260 * time.Millisecond, true},
		{"outage straddles the end", at(0, 20, 40, 500), ms(30), ms(300), 460 * time.Millisecond, true},
		{"never served again", at(0, 20, 40), ms(30), ms(300), 260 * time.Millisecond, false},
		{"no reply before from", at(100, 120), ms(30), ms(110), 70 * time.Millisecond, true},
		{"quiet at the end", at(100, 120), ms(30), ms(200), 80 * time.Millisecond, false},
	}
	for _, c := range cases {
		gap, rec := maxGap(c.replies, c.from, c.to)
		if gap != c.gap || rec != c.recovered {
			t.Errorf("%s: got %v %v, want %v %v", c.name, gap, rec, c.gap, c.recovered)
		}
	}
}

func TestMedian(t *testing.T) {
	if m := median([]float64{5, 1, 3}); m != 3 {
		t.Errorf("odd: %v", m)
	}
	if m := median([]float64{4, 1, 3, 2}); m != 2.5 {
		t.Errorf("even: %v", m)
	}
}
