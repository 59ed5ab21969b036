package media

import (
	"bytes"
	"slices"
	"strings"
	"testing"
)

// Real 3.0.6 datagram (wire-samples/auth_worked_example.txt, crc).
const sampleNetstring = "###\n11:(0)t=status,12:(0)st=active,10:(0)dt=1388,13:(0)protocol=1,10:(0)src=hba," +
	"27:(1)srcuuid=\xc9\xb2\x9e\xcd\x896I\xec\x88Z\xa2\xff\x1d\xd9o\xf0,8:(0)seq=7,14:(0)hg=6b070fef," +
	"14:(0)ts=6b0710cf,31:(0)ld=0.15 0.19 0.15 7/148 2448,8:(0)ttl=3,18:(0)auth=1 9c4d61d1,%%%\n10:1 d46e418a,"

// Its classic rendering: the inner auth's covered text plus the auth line.
const sampleClassic = ">>>\nt=status\nst=active\ndt=1388\nprotocol=1\nsrc=hba\n(1)srcuuid=ybKezYk2SeyIWqL/Hdlv8A==\n" +
	"seq=7\nhg=6b070fef\nts=6b0710cf\nld=0.15 0.19 0.15 7/148 2448\nttl=3\nauth=1 9c4d61d1\n<<<\n"

func feedAll(d *deframer, chunks ...string) []string {
	var got []string
	for _, c := range chunks {
		d.feed([]byte(c), func(f []byte) { got = append(got, string(f)) })
	}
	return got
}

func TestDeframer(t *testing.T) {
	ns, cl := sampleNetstring, sampleClassic
	small := "###\n7:(0)t=ab,%%%\n4:1 ab,"
	tests := []struct {
		name string
		in   []string
		want []string
	}{
		{"netstring", []string{ns}, []string{ns}},
		{"classic", []string{cl}, []string{cl}},
		{"two back to back", []string{ns + cl}, []string{ns, cl}},
		{"garbage around", []string{"\x00\xffnoise#\n##" + ns + "junk>>\n" + cl + "tail"}, []string{ns, cl}},
		{"half netstring then good", []string{ns[:57] + ns}, []string{ns}},
		{"half netstring cut in length", []string{ns[:5] + ns}, []string{ns}},
		{"half netstring cut in trailer", []string{ns[:len(ns)-5] + ns}, []string{ns}},
		{"half netstring cut after field", []string{ns[:strings.Index(ns, "st=")-4] + ns}, []string{ns}},
		{"half classic then good", []string{cl[:40] + cl}, []string{cl}},
		{"half classic then netstring", []string{cl[:40] + ns}, []string{ns}},
		{"half netstring then classic", []string{ns[:100] + cl}, []string{cl}},
		{"length too large", []string{"###\n99999999:(0)x=y," + small}, []string{small}},
		{"bad comma", []string{"###\n7:(0)t=abX" + small}, []string{small}},
		{"bad type tag", []string{"###\n5:t=abc," + small}, []string{small}},
		{"incomplete kept", []string{ns[:120]}, nil},
		{"empty classic", []string{">>>\n<<<\n"}, []string{">>>\n<<<\n"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := feedAll(newDeframer(MaxDatagram), tt.in...)
			if !slices.Equal(got, tt.want) {
				t.Fatalf("frames\n got %q\nwant %q", got, tt.want)
			}
			// Byte by byte must give the same frames.
			all := strings.Join(tt.in, "")
			var one []string
			for i := range len(all) {
				one = append(one, all[i:i+1])
			}
			got = feedAll(newDeframer(MaxDatagram), one...)
			if !slices.Equal(got, tt.want) {
				t.Fatalf("byte by byte frames\n got %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestDeframerBound(t *testing.T) {
	d := newDeframer(200)
	// A classic frame that never ends must not grow the buffer past the
	// bound, and a later good frame must still come through.
	got := feedAll(d, ">>>\n"+strings.Repeat("x=y\n", 100), "###\n7:(0)t=ab,%%%\n4:1 ab,")
	if want := []string{"###\n7:(0)t=ab,%%%\n4:1 ab,"}; !slices.Equal(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
	if got := feedAll(d, sampleNetstring); got != nil {
		t.Fatalf("frame over the bound delivered: %q", got)
	}
	if len(d.buf) > 200+4096 {
		t.Fatalf("buffer grew to %d", len(d.buf))
	}
}

func TestDeframerReset(t *testing.T) {
	d := newDeframer(MaxDatagram)
	// The cut frame here would swallow the next one (no marker check can
	// see it: the value is cut right where the next frame's fields begin),
	// so an idle reset is what drops it.
	feedAll(d, sampleNetstring[:60])
	if !d.pending() {
		t.Fatal("partial frame not pending")
	}
	d.reset()
	if got := feedAll(d, sampleNetstring); !slices.Equal(got, []string{sampleNetstring}) {
		t.Fatalf("after reset got %q", got)
	}
	if d.pending() {
		t.Fatalf("bytes left after a complete frame: %q", d.buf)
	}
}

func TestAppendClassic(t *testing.T) {
	got, err := appendClassic(nil, []byte(sampleNetstring))
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != sampleClassic {
		t.Fatalf("classic\n got %q\nwant %q", got, sampleClassic)
	}
	nl, err := appendClassic(nil, []byte("###\n8:(0)a=x\ny,%%%\n4:1 ab,"))
	if err != nil {
		t.Fatal(err)
	}
	if want := ">>>\na=x\x13y\n<<<\n"; string(nl) != want {
		t.Fatalf("newline escaping: got %q want %q", nl, want)
	}
	for _, bad := range []string{
		">>>\nt=x\n<<<\n",
		"###\n11:(2)s=###\n%%%\n,%%%\n4:1 ab,",
		"###\n7:(0)t=ab,",
		"###\n7:(0)t=ab,%%%\n",
	} {
		if _, err := appendClassic(nil, []byte(bad)); err == nil {
			t.Errorf("appendClassic(%q) succeeded", bad)
		}
	}
	// The classic rendering is itself a frame the deframer accepts.
	if f := feedAll(newDeframer(MaxDatagram), string(got)); len(f) != 1 || !bytes.Equal([]byte(f[0]), got) {
		t.Fatalf("classic rendering not deframed: %q", f)
	}
}

// FuzzDeframer feeds the serial deframer a byte stream (line noise, cut
// frames, frames of both forms) in chunks whose sizes the input chooses.
// Checked: the frames do not depend on how the stream was cut into reads
// (each read of the port is a chunk); what stays buffered never exceeds
// the frame bound (a noisy line cannot grow memory); every frame emitted
// is a whole frame on its own (fed alone to a fresh deframer it comes out
// as it is, once).
func FuzzDeframer(f *testing.F) {
	f.Add([]byte(sampleNetstring+sampleClassic), uint16(7))
	f.Add([]byte("\x00\xffnoise#\n##"+sampleNetstring[:57]+sampleNetstring+"junk>>\n"+sampleClassic[:40]+sampleClassic), uint16(1))
	f.Add([]byte("###\n99999999:(0)x=y,###\n7:(0)t=ab,%%%\n4:1 ab,"), uint16(3))
	f.Add([]byte("###\n30:(2)###\n7:(0)t=ab,%%%\n4:1 ab,,%%%\n4:1 ab,"), uint16(5))
	const max = 600
	f.Fuzz(func(t *testing.T, stream []byte, cut uint16) {
		whole := feedAll(newDeframer(max), string(stream))
		d := newDeframer(max)
		var chunked []string
		step := int(cut%64) + 1
		for i := 0; i < len(stream); i += step {
			d.feed(stream[i:min(i+step, len(stream))], func(f []byte) { chunked = append(chunked, string(f)) })
			if len(d.buf) > max {
				t.Fatalf("%d bytes buffered, bound %d", len(d.buf), max)
			}
		}
		if !slices.Equal(whole, chunked) {
			t.Fatalf("frames depend on the reads (%d bytes each)\n whole   %q\n chunked %q", step, whole, chunked)
		}
		for _, fr := range whole {
			if got := feedAll(newDeframer(max), fr); len(got) != 1 || got[0] != fr {
				t.Fatalf("emitted frame %q is not a frame on its own: %q", fr, got)
			}
		}
	})
}
