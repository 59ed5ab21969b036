package wire

import (
	"bytes"
	"testing"
)

func FuzzUnmarshal(f *testing.F) {
	for _, c := range captures {
		for i, p := range heartbeatPackets(f, c.pcap) {
			if i%4 != 0 {
				continue
			}
			f.Add(p.payload)
			if m, err := ParseUnverified(p.payload); err == nil && i%16 == 0 {
				f.Add(classicText(m))
			}
		}
	}
	f.Add([]byte(">>>\nt=x\n(1)u=AAE=\nauth=1 0\n<<<\n\x00"))
	f.Add([]byte("###\n6:(0)t=x,%%%\n10:1 00000000,"))
	rings := []*Keyring{crcRing(), hmacRing(MethodMD5, "labsecret")}

	f.Fuzz(func(t *testing.T, b []byte) {
		for _, ring := range rings {
			m, err := Unmarshal(b, ring)
			if err != nil {
				continue
			}
			out, err := Marshal(m, ring)
			if err != nil {
				t.Fatalf("accepted message does not re-encode: %v", err)
			}
			if bytes.HasPrefix(b, []byte(netStart)) {
				if !bytes.Equal(out, b) {
					t.Fatalf("re-encoding differs\n got %q\nwant %q", out, b)
				}
				continue
			}
			back, err := Unmarshal(out, ring)
			if err != nil || !back.Equal(m) {
				t.Fatalf("classic message does not round-trip: %v", err)
			}
		}
		m, err := ParseUnverified(b)
		if err != nil {
			return
		}
		if len(m.Fields) > MaxFields {
			t.Fatalf("%d fields", len(m.Fields))
		}
		if bytes.HasPrefix(b, []byte(netStart)) {
			_, bodyEnd, err := scanNetstring(b)
			if err != nil {
				t.Fatal(err)
			}
			out, err := MarshalNetstringOnly(m, rings[0])
			if err != nil {
				t.Fatalf("parsed message does not re-encode: %v", err)
			}
			if !bytes.Equal(out[:bodyEnd], b[:bodyEnd]) {
				t.Fatalf("body re-encoding differs\n got %q\nwant %q", out[:bodyEnd], b[:bodyEnd])
			}
		}
	})
}
