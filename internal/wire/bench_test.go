package wire

import "testing"

func BenchmarkMarshalStatus(b *testing.B) {
	for _, w := range workedExample {
		b.Run(w.ring.Keys[1].Method.String(), func(b *testing.B) {
			m := statusMessage(w.seq, w.hg, w.ts, w.ld)
			buf := make([]byte, 0, 1024)
			b.ReportAllocs()
			var err error
			for i := 0; b.Loop(); i++ {
				m.SetHex("seq", uint64(i))
				if buf, err = AppendMarshal(buf[:0], m, w.ring); err != nil {
					b.Fatal(err)
				}
			}
			b.SetBytes(int64(len(buf)))
		})
	}
}

func BenchmarkUnmarshalStatus(b *testing.B) {
	for _, w := range workedExample {
		b.Run(w.ring.Keys[1].Method.String(), func(b *testing.B) {
			p := []byte(w.payload)
			b.SetBytes(int64(len(p)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Unmarshal(p, w.ring); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
