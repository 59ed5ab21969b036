package wire

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
)

// workedExample is wire-samples/auth_worked_example.txt: one hbA status
// packet per method, its inner text, both digests and the datagram.
var workedExample = []struct {
	ring          *Keyring
	seq, hg, ts   string
	ld            string
	inner, outer  string
	innerText     string
	payload       string
	coveredLength int
}{
	{
		ring: crcRing(), seq: "7", hg: "6b070fef", ts: "6b0710cf", ld: "0.15 0.19 0.15 7/148 2448",
		inner: "9c4d61d1", outer: "d46e418a", coveredLength: 230,
		innerText: "t=status\nst=active\ndt=1388\nprotocol=1\nsrc=hba\n(1)srcuuid=ybKezYk2SeyIWqL/Hdlv8A==\n" +
			"seq=7\nhg=6b070fef\nts=6b0710cf\nld=0.15 0.19 0.15 7/148 2448\nttl=3\n",
		payload: "###\n11:(0)t=status,12:(0)st=active,10:(0)dt=1388,13:(0)protocol=1,10:(0)src=hba," +
			"27:(1)srcuuid=\xc9\xb2\x9e\xcd\x896I\xec\x88Z\xa2\xff\x1d\xd9o\xf0,8:(0)seq=7,14:(0)hg=6b070fef," +
			"14:(0)ts=6b0710cf,31:(0)ld=0.15 0.19 0.15 7/148 2448,8:(0)ttl=3,18:(0)auth=1 9c4d61d1,%%%\n10:1 d46e418a,",
	},
	{
		ring: hmacRing(MethodMD5, "labsecret"), seq: "6", hg: "6b070ff0", ts: "6b071106", ld: "0.38 0.26 0.18 5/145 3602",
		inner: "add8aff5ad1f0172837e1fdfd4de9b83", outer: "f93c291598fcdc204b18cac9cfcb7f34", coveredLength: 254,
		innerText: "t=status\nst=active\ndt=1388\nprotocol=1\nsrc=hba\n(1)srcuuid=ybKezYk2SeyIWqL/Hdlv8A==\n" +
			"seq=6\nhg=6b070ff0\nts=6b071106\nld=0.38 0.26 0.18 5/145 3602\nttl=3\n",
		payload: "###\n11:(0)t=status,12:(0)st=active,10:(0)dt=1388,13:(0)protocol=1,10:(0)src=hba," +
			"27:(1)srcuuid=\xc9\xb2\x9e\xcd\x896I\xec\x88Z\xa2\xff\x1d\xd9o\xf0,8:(0)seq=6,14:(0)hg=6b070ff0," +
			"14:(0)ts=6b071106,31:(0)ld=0.38 0.26 0.18 5/145 3602,8:(0)ttl=3,42:(0)auth=1 add8aff5ad1f0172837e1fdfd4de9b83," +
			"%%%\n34:1 f93c291598fcdc204b18cac9cfcb7f34,",
	},
	{
		ring: hmacRing(MethodSHA1, "labsecret"), seq: "5", hg: "6b070ff1", ts: "6b07113d", ld: "0.27 0.26 0.18 3/144 4748",
		inner: "4c0241d72f131a7abd9f115a135cbe95029aa23e", outer: "1def75de93e371bf70420fb3b56d7b54889d35b4", coveredLength: 262,
		innerText: "t=status\nst=active\ndt=1388\nprotocol=1\nsrc=hba\n(1)srcuuid=ybKezYk2SeyIWqL/Hdlv8A==\n" +
			"seq=5\nhg=6b070ff1\nts=6b07113d\nld=0.27 0.26 0.18 3/144 4748\nttl=3\n",
		payload: "###\n11:(0)t=status,12:(0)st=active,10:(0)dt=1388,13:(0)protocol=1,10:(0)src=hba," +
			"27:(1)srcuuid=\xc9\xb2\x9e\xcd\x896I\xec\x88Z\xa2\xff\x1d\xd9o\xf0,8:(0)seq=5,14:(0)hg=6b070ff1," +
			"14:(0)ts=6b07113d,31:(0)ld=0.27 0.26 0.18 3/144 4748,8:(0)ttl=3,50:(0)auth=1 4c0241d72f131a7abd9f115a135cbe95029aa23e," +
			"%%%\n42:1 1def75de93e371bf70420fb3b56d7b54889d35b4,",
	},
}

var hbaUUID = []byte("\xc9\xb2\x9e\xcd\x896I\xec\x88Z\xa2\xff\x1d\xd9o\xf0")

// statusMessage builds hbA's status message the way the engine will.
func statusMessage(seq, hg, ts, ld string) *Message {
	m := &Message{}
	m.Add("t", "status")
	m.Add("st", "active")
	m.Add("dt", "1388")
	m.Add("protocol", "1")
	m.Add("src", "hba")
	m.AddBinary("srcuuid", hbaUUID)
	m.Add("seq", seq)
	m.Add("hg", hg)
	m.Add("ts", ts)
	m.Add("ld", ld)
	m.Add("ttl", "3")
	return m
}

func TestWorkedExampleGolden(t *testing.T) {
	file, err := os.ReadFile("testdata/auth_worked_example.txt")
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range workedExample {
		for _, line := range []string{
			fmt.Sprintf("OUTER trailer = b'1 %s'", w.outer),
			fmt.Sprintf("INNER field auth = b'1 %s'", w.inner),
			fmt.Sprintf("covered bytes = payload[0:%d]", w.coveredLength),
			fmt.Sprintf("UDP payload %d bytes", len(w.payload)),
		} {
			if !bytes.Contains(file, []byte(line)) {
				t.Fatalf("auth_worked_example.txt does not say %q", line)
			}
		}
	}
	for _, w := range workedExample {
		k := w.ring.Keys[1]
		t.Run(k.Method.String(), func(t *testing.T) {
			m := statusMessage(w.seq, w.hg, w.ts, w.ld)
			text, err := appendClassic(nil, m.Fields)
			if err != nil || string(text) != w.innerText {
				t.Fatalf("inner text (%v)\n got %q\nwant %q", err, text, w.innerText)
			}
			if d, err := Digest(k, text); err != nil || d != w.inner {
				t.Errorf("inner digest %q (%v), want %q", d, err, w.inner)
			}
			if d, err := Digest(k, []byte(w.payload[:w.coveredLength])); err != nil || d != w.outer {
				t.Errorf("outer digest %q (%v), want %q", d, err, w.outer)
			}
			if !strings.HasSuffix(w.payload[:w.coveredLength], netEnd) {
				t.Fatalf("covered bytes do not end with the end marker")
			}
			out, err := Marshal(m, w.ring)
			if err != nil {
				t.Fatal(err)
			}
			if string(out) != w.payload {
				t.Fatalf("Marshal\n got %q\nwant %q", out, w.payload)
			}
			if m.Has("auth") {
				t.Fatal("Marshal modified the message")
			}
			back, err := Unmarshal(out, w.ring)
			if err != nil {
				t.Fatal(err)
			}
			if got := back.Get("auth"); got != "1 "+w.inner {
				t.Fatalf("auth field %q", got)
			}
		})
	}
}

func TestCRCAndHMACVectors(t *testing.T) {
	// CRC-32/CKSUM catalogue check value (no length appended).
	if got := CRC([]byte("123456789")); got != 0x765e7680 {
		t.Errorf("CRC(123456789) = %08x, want 765e7680", got)
	}
	if got := CRC(nil); got != 0xffffffff {
		t.Errorf("CRC(empty) = %08x, want ffffffff", got)
	}
	// %lx: no leading zeros.
	var small []byte
	for i := 0; i < 1<<20; i++ {
		b := []byte(fmt.Sprint(i))
		if CRC(b) < 1<<28 {
			small = b
			break
		}
	}
	d, _ := Digest(Key{Method: MethodCRC}, small)
	if d != fmt.Sprintf("%x", CRC(small)) || len(d) >= 8 {
		t.Errorf("crc digest %q of %q has leading zeros or wrong form", d, small)
	}
	// RFC 2202 test case 2.
	for _, c := range []struct {
		m    Method
		want string
	}{
		{MethodMD5, "750c783e6ab0b503eaa86e310a5db738"},
		{MethodSHA1, "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79"},
	} {
		got, err := Digest(Key{Method: c.m, Secret: []byte("Jefe")}, []byte("what do ya want for nothing?"))
		if err != nil || got != c.want {
			t.Errorf("%v: %q (%v), want %q", c.m, got, err, c.want)
		}
	}
	// Alternating keys through the pooled signers must not mix state.
	for range 3 {
		a, _ := Digest(Key{Method: MethodMD5, Secret: []byte("a")}, []byte("x"))
		b, _ := Digest(Key{Method: MethodMD5, Secret: []byte("b")}, []byte("x"))
		if a == b {
			t.Fatal("different keys gave the same digest")
		}
	}
	if _, err := Digest(Key{Method: 9}, nil); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("unknown method: %v", err)
	}
}

func TestRoundTripBuiltMessages(t *testing.T) {
	rings := []*Keyring{crcRing(), hmacRing(MethodMD5, "s3cret"), hmacRing(MethodSHA1, "s3cret"),
		{Active: 7, Keys: map[int]Key{7: {Index: 7, Method: MethodSHA1, Secret: []byte("k7")}, 1: {Index: 1, Method: MethodCRC}}}}
	build := func() *Message {
		m := &Message{}
		m.Add("t", "repnodes")
		m.Add("dest", "hbb")
		m.Add("nodelist", "hba hbb ")
		m.Add("delnodelist", "")
		m.Add("info", "line one\nline two = with equals, and comma %%%\n")
		m.AddBinary("destuuid", []byte("\x00\n,=%%%\n\xff"))
		m.AddBinary("empty", nil)
		m.AddHex("seq", 0x1e)
		m.AddUint("firstseq", 53, 10)
		m.Fields = append(m.Fields, Field{Name: "lst", Type: TypeList, Value: []byte("3:abc,4:defg,")})
		return m
	}
	for _, ring := range rings {
		m := build()
		out, err := Marshal(m, ring)
		if err != nil {
			t.Fatal(err)
		}
		got, err := Unmarshal(out, ring)
		if err != nil {
			t.Fatalf("%v: %v\n%q", ring.Keys[ring.Active].Method, err, out)
		}
		if err := VerifyInner(got, ring); err != nil {
			t.Errorf("inner: %v", err)
		}
		if got.Fields[len(got.Fields)-1].Name != "auth" || !strings.HasPrefix(got.Get("auth"), fmt.Sprint(ring.Active, " ")) {
			t.Errorf("auth field %q not last or wrong index", got.Get("auth"))
		}
		got.Del("auth")
		if !got.Equal(m) {
			t.Fatalf("round trip\n got %s\nwant %s", listingFields(got), listingFields(m))
		}
		if seq, err := got.GetHex("seq"); err != nil || seq != 0x1e {
			t.Errorf("seq %x %v", seq, err)
		}
		if fs, err := got.GetDec("firstseq"); err != nil || fs != 53 {
			t.Errorf("firstseq %d %v", fs, err)
		}
		// And through the classic form built from the encoded message.
		full, _ := Unmarshal(out, ring)
		full.Del("lst") // classicText renders types 0 and 1 only
		full.Set("auth", "")
		full.Del("auth")
		out2, err := Marshal(full, ring)
		if err != nil {
			t.Fatal(err)
		}
		withAuth, _ := Unmarshal(out2, ring)
		c, err := Unmarshal(classicText(withAuth), ring)
		if err != nil || !c.Equal(withAuth) {
			t.Fatalf("classic form: %v\n got %v\nwant %s", err, c, listingFields(withAuth))
		}
	}
}

func TestStructFieldsKeptRaw(t *testing.T) {
	ring := crcRing()
	inner := &Message{}
	inner.Add("a", "b")
	nested, err := MarshalNetstringOnly(inner, ring)
	if err != nil {
		t.Fatal(err)
	}
	nestedBody := nested[:bytes.Index(nested, []byte(netEnd))+len(netEnd)]
	m := &Message{}
	m.Add("t", "x")
	m.Fields = append(m.Fields, Field{Name: "child", Type: TypeStruct, Value: nestedBody})
	if _, err := Marshal(m, ring); !errors.Is(err, ErrMalformed) {
		t.Fatalf("classic inner auth of a struct field: %v, want ErrMalformed", err)
	}
	out, err := MarshalNetstringOnly(m, ring)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Unmarshal(out, ring)
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := got.Lookup("child"); !bytes.Equal(v, nestedBody) || got.Fields[1].Type != TypeStruct {
		t.Fatalf("struct field %q", v)
	}
}

func TestMessageHelpers(t *testing.T) {
	m := &Message{}
	m.Add("a", "1")
	m.Add("b", "2")
	m.Add("a", "3")
	if m.Get("a") != "1" || m.Get("zz") != "" {
		t.Fatalf("Get: %q", m.Get("a"))
	}
	if _, ok := m.Lookup("zz"); ok {
		t.Fatal("Lookup of a missing field")
	}
	c := m.Clone()
	m.Set("b", "22222222")
	m.Set("new", "n")
	if c.Get("b") != "2" || c.Has("new") {
		t.Fatal("Clone shares storage with the original")
	}
	if m.Get("b") != "22222222" || m.Fields[3].Name != "new" {
		t.Fatalf("Set: %+v", m.Fields)
	}
	m.Del("a")
	if m.Has("a") || len(m.Fields) != 2 {
		t.Fatalf("Del: %+v", m.Fields)
	}
	uuid := []byte{1, 2, 3}
	m.AddBinary("u", uuid)
	uuid[0] = 9
	if v, _ := m.Lookup("u"); v[0] != 1 {
		t.Fatal("AddBinary does not copy")
	}
	m.SetHex("seq", 0xabc)
	m.SetHex("seq", 0x1f)
	if m.Get("seq") != "1f" {
		t.Fatalf("SetHex: %q", m.Get("seq"))
	}
	if _, err := m.GetHex("b"); err != nil {
		t.Fatalf("GetHex of 22222222: %v", err)
	}
	m.Set("x", "12g")
	if _, err := m.GetHex("x"); err == nil {
		t.Fatal("GetHex accepted 12g")
	}
	if _, err := m.GetDec("seq"); err == nil {
		t.Fatal("GetDec accepted 1f")
	}
	m.Set("big", "1ffffffffffffffff")
	if _, err := m.GetHex("big"); err == nil {
		t.Fatal("GetHex accepted an overflowing number")
	}
	if _, err := m.GetHex("missing"); err == nil {
		t.Fatal("GetHex of a missing field")
	}

	// Set on a decoded message must not clobber the neighbouring fields.
	ring := crcRing()
	out, _ := Marshal(statusMessage("7", "6b070fef", "6b0710cf", "0.15"), ring)
	d, err := Unmarshal(out, ring)
	if err != nil {
		t.Fatal(err)
	}
	d.Set("seq", "123456789abcdef")
	d.SetHex("hg", 1)
	if d.Get("seq") != "123456789abcdef" || d.Get("hg") != "1" || d.Get("ts") != "6b0710cf" || d.Get("src") != "hba" {
		t.Fatalf("Set on a decoded message: %s", listingFields(d))
	}
}

func TestMethodAndKeyring(t *testing.T) {
	for _, m := range []Method{MethodCRC, MethodMD5, MethodSHA1} {
		got, err := ParseMethod(m.String())
		if err != nil || got != m {
			t.Errorf("ParseMethod(%q) = %v, %v", m.String(), got, err)
		}
	}
	if _, err := ParseMethod("sha256"); err == nil {
		t.Error("ParseMethod accepted sha256")
	}
	var nilRing *Keyring
	if _, err := Marshal(&Message{}, nilRing); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("nil ring: %v", err)
	}
	if _, err := Marshal(&Message{}, &Keyring{Active: 3, Keys: map[int]Key{1: {Index: 1, Method: MethodCRC}}}); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("missing active key: %v", err)
	}
	if _, err := Unmarshal([]byte(workedExample[0].payload), nilRing); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("Unmarshal with nil ring: %v", err)
	}
}

func TestMarshalRejectsUnencodable(t *testing.T) {
	ring := crcRing()
	for _, f := range []Field{
		{Name: "", Value: []byte("x")},
		{Name: "a=b", Value: []byte("x")},
		{Name: "a\nb", Value: []byte("x")},
		{Name: "(1)x", Value: []byte("x")},
		{Name: "x", Type: 6},
	} {
		m := &Message{Fields: []Field{f}}
		dst := []byte("keep")
		out, err := AppendMarshal(dst, m, ring)
		if !errors.Is(err, ErrMalformed) || string(out) != "keep" {
			t.Errorf("field %+v: %v, %q", f, err, out)
		}
	}
	big := &Message{}
	big.Add("v", strings.Repeat("x", MaxDatagram))
	if _, err := Marshal(big, ring); !errors.Is(err, ErrMalformed) {
		t.Errorf("oversized message: %v", err)
	}
	many := &Message{}
	for i := range MaxFields + 1 {
		many.Add(fmt.Sprint("f", i), "")
	}
	if _, err := Marshal(many, ring); !errors.Is(err, ErrMalformed) {
		t.Errorf("too many fields: %v", err)
	}
}

func TestUnmarshalMalformed(t *testing.T) {
	ring := crcRing()
	good := workedExample[0].payload
	// sign returns body followed by a valid crc trailer for it.
	sign := func(body string) []byte {
		d, _ := Digest(Key{Method: MethodCRC}, []byte(body))
		a := "1 " + d
		return []byte(fmt.Sprintf("%s%d:%s,", body, len(a), a))
	}
	if _, err := Unmarshal(sign("###\n6:(0)t=x,%%%\n"), ring); err != nil {
		t.Fatalf("minimal message rejected: %v", err)
	}
	cases := map[string][]byte{
		"empty":                {},
		"no start":             []byte("##\n"),
		"unknown start":        []byte("hello"),
		"only start":           []byte("###\n"),
		"no trailer":           []byte(good[:230]),
		"trailing byte":        []byte(good + "x"),
		"trailing NUL":         []byte(good + "\x00"),
		"trailing comma":       []byte(good + ","),
		"length too short":     sign("###\n5:(0)t=x,%%%\n"),
		"length too long":      sign("###\n7:(0)t=x,%%%\n"),
		"leading zero":         sign("###\n06:(0)t=x,%%%\n"),
		"sign in length":       sign("###\n+6:(0)t=x,%%%\n"),
		"huge length":          sign("###\n99999999999:(0)t=x,%%%\n"),
		"no colon":             sign("###\n6(0)t=x,%%%\n"),
		"type 6":               sign("###\n6:(6)t=x,%%%\n"),
		"type letter":          sign("###\n6:(a)t=x,%%%\n"),
		"no parens":            sign("###\n6:<0>t=x,%%%\n"),
		"no equals":            sign("###\n6:(0)tx_,%%%\n"),
		"empty name":           sign("###\n6:(0)=xy,%%%\n"),
		"NUL in string":        sign("###\n6:(0)t=\x00,%%%\n"),
		"missing end":          sign("###\n6:(0)t=x,"),
		"trailer leading zero": []byte("###\n6:(0)t=x,%%%\n011:1 d46e418a,"),
		"trailer length":       []byte("###\n6:(0)t=x,%%%\n11:1 d46e418a,"),
		"trailer no space":     []byte("###\n6:(0)t=x,%%%\n9:1d46e418a,"),
		"trailer index":        []byte("###\n6:(0)t=x,%%%\n10:x d46e418a,"),
		"trailer no comma":     []byte("###\n6:(0)t=x,%%%\n10:1 d46e418a"),
		"oversized":            append([]byte("###\n"), make([]byte, MaxDatagram)...),
		"classic no end":       []byte(">>>\nt=x\n"),
		"classic no equals":    []byte(">>>\ntx\n<<<\n"),
		"classic bad type":     []byte(">>>\n(0)t=x\n<<<\n"),
		"classic struct":       []byte(">>>\n(2)t=x\n<<<\n"),
		"classic bad base64":   []byte(">>>\n(1)t=*\n<<<\n"),
		"classic trailing":     []byte(">>>\nt=x\n<<<\nzz"),
		"classic bad auth":     []byte(">>>\nt=x\nauth=abc\n<<<\n"),
	}
	var fields strings.Builder
	fields.WriteString("###\n")
	for range MaxFields + 1 {
		fields.WriteString("6:(0)t=x,")
	}
	fields.WriteString("%%%\n")
	cases["too many fields"] = sign(fields.String())
	for name, b := range cases {
		if _, err := Unmarshal(b, ring); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v, want ErrMalformed", name, err)
		}
		if _, err := ParseUnverified(b); err == nil && name != "classic bad auth" {
			t.Errorf("%s: ParseUnverified accepted it", name)
		}
	}
	// Well formed but unauthenticated.
	if _, err := Unmarshal([]byte(">>>\nt=x\n<<<\n"), ring); !errors.Is(err, ErrAuth) {
		t.Errorf("classic without auth: %v, want ErrAuth", err)
	}
	if _, err := Unmarshal([]byte(">>>\nt=x\nauth=5 abc\n<<<\n"), ring); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("classic with unknown key: %v, want ErrUnknownKey", err)
	}
	if _, err := Unmarshal([]byte("###\n6:(0)t=x,%%%\n10:1 00000000,"), ring); !errors.Is(err, ErrAuth) {
		t.Errorf("wrong crc: %v, want ErrAuth", err)
	}
	if _, err := Unmarshal([]byte("###\n6:(0)t=x,%%%\n10:2 00000000,"), ring); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("unknown trailer key: %v, want ErrUnknownKey", err)
	}
	if _, err := ParseUnverified([]byte(good)); err != nil {
		t.Errorf("ParseUnverified of a good packet: %v", err)
	}
}

func TestClassicNewlineEscape(t *testing.T) {
	// cluster-glue str2string: '\n' in a string value becomes 0x13, binary
	// values are base64 with padding, non-string types get a "(t)" prefix.
	esc := &Message{}
	esc.Add("info", "a\nb\n")
	esc.AddBinary("u", []byte{0xff, 0xfe})
	esc.Add("auth", "1 ignored")
	esc.Fields = append(esc.Fields, Field{Name: "l", Type: TypeList, Value: []byte("1:a,")})
	text, err := appendClassic(nil, esc.Fields)
	if want := "info=a\x13b\x13\n(1)u=//4=\n(3)l=1:a,\n"; err != nil || string(text) != want {
		t.Fatalf("classic rendering %q (%v), want %q", text, err, want)
	}
	ring := hmacRing(MethodSHA1, "k")
	m := &Message{}
	m.Add("t", "x")
	m.Add("info", "a\nb")
	out, err := Marshal(m, ring)
	if err != nil {
		t.Fatal(err)
	}
	full, err := Unmarshal(out, ring)
	if err != nil {
		t.Fatal(err)
	}
	classic := ">>>\nt=x\ninfo=a\x13b\nauth=" + full.Get("auth") + "\n<<<\n"
	got, err := Unmarshal([]byte(classic), ring)
	if err != nil {
		t.Fatalf("classic with escaped newline: %v", err)
	}
	if got.Get("info") != "a\nb" || !got.Equal(full) {
		t.Fatalf("got %q", got.Get("info"))
	}
}

func TestAppendMarshalAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under the race detector")
	}
	for _, w := range workedExample {
		m := statusMessage(w.seq, w.hg, w.ts, w.ld)
		buf := make([]byte, 0, 1024)
		var err error
		allocs := testing.AllocsPerRun(200, func() {
			m.SetHex("seq", 0x2a)
			buf, err = AppendMarshal(buf[:0], m, w.ring)
		})
		if err != nil {
			t.Fatal(err)
		}
		if allocs > 0 {
			t.Errorf("%v: AppendMarshal of a status message: %v allocations per call, want 0", w.ring.Keys[1].Method, allocs)
		}
		back, err := Unmarshal(buf, w.ring)
		if err != nil || back.Get("seq") != "2a" {
			t.Fatalf("%v %q", err, back.Get("seq"))
		}
		allocs = testing.AllocsPerRun(200, func() {
			if _, err := Unmarshal(buf, w.ring); err != nil {
				t.Fatal(err)
			}
		})
		if allocs > 3 {
			t.Errorf("%v: Unmarshal of a status message: %v allocations, want <= 3", w.ring.Keys[1].Method, allocs)
		}
		var into Message
		allocs = testing.AllocsPerRun(200, func() {
			if err := UnmarshalInto(&into, buf, w.ring); err != nil {
				t.Fatal(err)
			}
		})
		if allocs > 0 {
			t.Errorf("%v: UnmarshalInto a reused message: %v allocations, want 0", w.ring.Keys[1].Method, allocs)
		}
		allocs = testing.AllocsPerRun(200, func() {
			into.Reset()
			into.Add("t", "status")
			into.AddBinary("srcuuid", []byte("0123456789abcdef"))
			into.AddUint("seq", 0x2a, 16)
		})
		if allocs > 0 {
			t.Errorf("Reset and Add on a reused message: %v allocations, want 0", allocs)
		}
	}
}

// A reused message holds its values in one buffer: decoding a second
// datagram into it must not leave anything of the first, values set longer
// in place must not run into the next one, and a value taken before Reset
// is the caller's problem only after the Reset.
func TestMessageReuse(t *testing.T) {
	ring := crcRing()
	a := &Message{}
	a.Add("t", "status")
	a.Add("st", "active")
	a.Add("src", "node-with-a-long-name")
	b := &Message{}
	b.Add("t", "NS_ackmsg")
	b.Add("dest", "n2")
	da, err := Marshal(a, ring)
	if err != nil {
		t.Fatal(err)
	}
	db, err := Marshal(b, ring)
	if err != nil {
		t.Fatal(err)
	}
	var m Message
	for _, c := range []struct {
		data []byte
		want *Message
	}{{da, a}, {db, b}, {da, a}} {
		if err := UnmarshalInto(&m, c.data, ring); err != nil {
			t.Fatal(err)
		}
		want, _ := Unmarshal(c.data, ring)
		if !m.Equal(want) || m.Get("t") != c.want.Get("t") {
			t.Fatalf("UnmarshalInto: got %v, want %v", m.Fields, want.Fields)
		}
	}
	if err := UnmarshalInto(&m, []byte("###\ngarbage"), ring); err == nil || len(m.Fields) != 0 {
		t.Fatalf("bad datagram: err %v, %d fields left", err, len(m.Fields))
	}

	m.Reset()
	m.Add("a", "1")
	m.Add("b", "2")
	m.Set("a", "longer than before")
	m.AddUint("c", 255, 16)
	if m.Get("a") != "longer than before" || m.Get("b") != "2" || m.Get("c") != "ff" {
		t.Fatalf("in-place set ran over: %q %q %q", m.Get("a"), m.Get("b"), m.Get("c"))
	}
	m.Reset()
	m.Add("x", "y")
	if len(m.Fields) != 1 || m.Get("a") != "" {
		t.Fatalf("Reset left %v", m.Fields)
	}
}
