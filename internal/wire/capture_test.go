package wire

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// capture is one real heartbeat 3.0.6 capture of testdata/ with the keys
// it was made with and the listing an independent decoder produced.
type capture struct {
	pcap, listing string
	ring          *Keyring
}

func crcRing() *Keyring {
	return &Keyring{Active: 1, Keys: map[int]Key{1: {Index: 1, Method: MethodCRC}}}
}

func hmacRing(m Method, secret string) *Keyring {
	return &Keyring{Active: 1, Keys: map[int]Key{1: {Index: 1, Method: m, Secret: []byte(secret)}}}
}

var captures = []capture{
	{"wire_crc_ucast.pcap", "wire_crc.decoded.txt", crcRing()},
	{"wire_md5_ucast.pcap", "wire_md5.decoded.txt", hmacRing(MethodMD5, "labsecret")},
	{"wire_sha1_ucast.pcap", "wire_sha1.decoded.txt", hmacRing(MethodSHA1, "labsecret")},
	{"media_bcast_crc.pcap", "media_bcast.decoded.txt", crcRing()},
	{"media_mcast_crc.pcap", "media_mcast.decoded.txt", crcRing()},
	{"oneway_blackout_2.5s_crc.pcap", "oneway_blackout.decoded.txt", crcRing()},
}

// heartbeatPackets returns the payloads of the UDP datagrams to or from
// port 694 of a capture.
func heartbeatPackets(t testing.TB, name string) []udpPacket {
	t.Helper()
	all, _ := readPcap(t, filepath.Join("testdata", name))
	var out []udpPacket
	for _, p := range all {
		if strings.HasSuffix(p.dst, ":694") || strings.HasSuffix(p.src, ":694") {
			out = append(out, p)
		}
	}
	if len(out) == 0 {
		t.Fatalf("%s: no heartbeat packets", name)
	}
	return out
}

// listingLine is one packet of a .decoded.txt listing.
type listingLine struct {
	src, dst string
	length   int
	trailer  string
	fields   string
}

var (
	listingRe = regexp.MustCompile(`^\s*[0-9.]+ (\S+)>(\S+) len=(\d+) outer\[([^\]]*)\]=OK inner=OK \| (.*)$`)
	summaryRe = regexp.MustCompile(`^\s+t=(\S+)\s+count=(\d+)\s`)
)

// readListing parses the per-packet lines and the per-type summary counts
// of a decoded listing.
func readListing(t testing.TB, name string) ([]listingLine, map[string]int) {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var lines []listingLine
	counts := map[string]int{}
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if m := listingRe.FindStringSubmatch(sc.Text()); m != nil {
			n, _ := strconv.Atoi(m[3])
			lines = append(lines, listingLine{src: m[1], dst: m[2], length: n, trailer: m[4], fields: m[5]})
		} else if m := summaryRe.FindStringSubmatch(sc.Text()); m != nil {
			n, _ := strconv.Atoi(m[2])
			counts[m[1]] = n
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return lines, counts
}

// listingFields renders fields the way the listings do: name=value joined
// by spaces, binary values as <bin:hex>.
func listingFields(m *Message) string {
	var parts []string
	for _, f := range m.Fields {
		if f.Type == TypeBinary {
			parts = append(parts, f.Name+"=<bin:"+hex.EncodeToString(f.Value)+">")
		} else {
			parts = append(parts, f.Name+"="+string(f.Value))
		}
	}
	return strings.Join(parts, " ")
}

func TestCapturesDecodeVerifyReencode(t *testing.T) {
	for _, c := range captures {
		t.Run(c.pcap, func(t *testing.T) {
			pkts := heartbeatPackets(t, c.pcap)
			lines, summary := readListing(t, c.listing)
			if len(pkts) != len(lines) {
				t.Fatalf("%d heartbeat packets in the capture, listing has %d", len(pkts), len(lines))
			}
			counts := map[string]int{}
			buf := make([]byte, 0, 512)
			for i, p := range pkts {
				m, err := Unmarshal(p.payload, c.ring)
				if err != nil {
					t.Fatalf("packet %d (%s>%s): %v\n%q", i, p.src, p.dst, err, p.payload)
				}
				if err := VerifyInner(m, c.ring); err != nil {
					t.Errorf("packet %d: inner auth: %v", i, err)
				}
				counts[m.Type()]++

				want := lines[i]
				if p.src != want.src || p.dst != want.dst || len(p.payload) != want.length {
					t.Errorf("packet %d: %s>%s len=%d, listing says %s>%s len=%d",
						i, p.src, p.dst, len(p.payload), want.src, want.dst, want.length)
				}
				if got := listingFields(m); got != want.fields {
					t.Errorf("packet %d fields:\n got %s\nwant %s", i, got, want.fields)
				}
				if _, tr, _ := bytes.Cut(p.payload[:len(p.payload)-1], []byte(netEnd)); !strings.HasSuffix(string(tr), ":"+want.trailer) {
					t.Errorf("packet %d: trailer %q, listing says %q", i, tr, want.trailer)
				}

				out, err := Marshal(m, c.ring)
				if err != nil {
					t.Fatalf("packet %d: marshal: %v", i, err)
				}
				if !bytes.Equal(out, p.payload) {
					t.Fatalf("packet %d: re-encoding differs\n got %q\nwant %q", i, out, p.payload)
				}
				buf, err = AppendMarshal(buf[:0], m, c.ring)
				if err != nil || !bytes.Equal(buf, p.payload) {
					t.Fatalf("packet %d: AppendMarshal into a reused buffer differs (%v)", i, err)
				}
				// Built afresh without the auth field, Marshal computes the
				// same inner auth that 3.0.6 put there.
				fresh := m.Clone()
				fresh.Del("auth")
				out, err = Marshal(fresh, c.ring)
				if err != nil || !bytes.Equal(out, p.payload) {
					t.Fatalf("packet %d: rebuilt message encodes differently (%v)\n got %q\nwant %q", i, err, out, p.payload)
				}
			}
			if len(counts) != len(summary) {
				t.Errorf("types %v, listing summary %v", counts, summary)
			}
			for typ, n := range summary {
				if counts[typ] != n {
					t.Errorf("t=%s: %d packets, listing summary says %d", typ, counts[typ], n)
				}
			}
		})
	}
}

// TestCaptureTypeCounts pins facts of the captures, so that a parser that
// silently skips packets cannot pass.
func TestCaptureTypeCounts(t *testing.T) {
	total := map[string]int{}
	perFile := map[string]map[string]int{}
	for _, c := range captures {
		perFile[c.pcap] = map[string]int{}
		for _, p := range heartbeatPackets(t, c.pcap) {
			m, err := Unmarshal(p.payload, c.ring)
			if err != nil {
				t.Fatalf("%s: %v", c.pcap, err)
			}
			total[m.Type()]++
			perFile[c.pcap][m.Type()]++
			perFile[c.pcap][""]++
		}
	}
	want := map[string]map[string]int{
		"wire_crc_ucast.pcap": {"": 191, "status": 116, "NS_ackmsg": 29, "resource": 21, "ask_resources": 8,
			"NS_rexmit": 6, "reqnodes": 2, "repnodes": 2, "starting": 2, "shutdone": 2,
			"ip-request-resp": 1, "hb_takeover": 1, "stonith": 1},
		"wire_md5_ucast.pcap":           {"": 191, "status": 115, "resource": 22, "NS_rexmit": 6},
		"wire_sha1_ucast.pcap":          {"": 189, "status": 113, "NS_ackmsg": 30, "stonith": 2},
		"media_bcast_crc.pcap":          {"": 90, "status": 54, "NS_ackmsg": 13},
		"media_mcast_crc.pcap":          {"": 91, "status": 54, "NS_ackmsg": 14},
		"oneway_blackout_2.5s_crc.pcap": {"": 385, "status": 257, "NS_rexmit": 2, "ask_resources": 13},
	}
	for file, types := range want {
		for typ, n := range types {
			if got := perFile[file][typ]; got != n {
				t.Errorf("%s: t=%q count %d, want %d", file, typ, got, n)
			}
		}
	}
	for _, typ := range []string{"status", "NS_ackmsg", "NS_rexmit", "resource", "ask_resources", "hb_takeover",
		"shutdone", "ip-request-resp", "stonith", "reqnodes", "repnodes", "starting"} {
		if total[typ] == 0 {
			t.Errorf("no t=%s message decoded from the captures", typ)
		}
	}
}

func TestCaptureFieldHelpers(t *testing.T) {
	pkts := heartbeatPackets(t, "wire_crc_ucast.pcap")
	var sawRexmit, sawStatus bool
	for _, p := range pkts {
		m, err := Unmarshal(p.payload, crcRing())
		if err != nil {
			t.Fatal(err)
		}
		switch m.Type() {
		case "NS_rexmit":
			first, err1 := m.GetDec("firstseq")
			last, err2 := m.GetDec("lastseq")
			if err1 != nil || err2 != nil || first == 0 || last < first {
				t.Errorf("NS_rexmit firstseq/lastseq %d %d (%v %v)", first, last, err1, err2)
			}
			if m.Has("seq") || m.Has("ld") {
				t.Errorf("NS_rexmit carries seq or ld: %s", listingFields(m))
			}
			sawRexmit = true
		case "status":
			seq, err := m.GetHex("seq")
			if err != nil || seq == 0 {
				t.Errorf("status seq %d: %v", seq, err)
			}
			if uuid, ok := m.Lookup("srcuuid"); !ok || len(uuid) != 16 {
				t.Errorf("srcuuid %x", uuid)
			}
			if _, err := m.GetHex("hg"); err != nil {
				t.Error(err)
			}
			sawStatus = true
		}
	}
	if !sawRexmit || !sawStatus {
		t.Fatalf("rexmit %v status %v", sawRexmit, sawStatus)
	}
}

func TestCaptureTamperingAndWrongKeys(t *testing.T) {
	for _, c := range captures[:3] {
		t.Run(c.pcap, func(t *testing.T) {
			k := c.ring.Keys[1]
			wrongKey := hmacRing(MethodMD5, "labsecreT")
			wrongMethod := crcRing()
			switch k.Method {
			case MethodCRC:
				wrongKey = hmacRing(MethodSHA1, "")
				wrongMethod = hmacRing(MethodMD5, "labsecret")
			case MethodMD5:
				wrongMethod = hmacRing(MethodSHA1, "labsecret")
			case MethodSHA1:
				wrongKey = hmacRing(MethodSHA1, "labsecret2")
			}
			otherIndex := &Keyring{Active: 2, Keys: map[int]Key{2: k}}
			rotated := &Keyring{Active: 2, Keys: map[int]Key{1: k, 2: {Index: 2, Method: MethodSHA1, Secret: []byte("new")}}}

			for i, p := range heartbeatPackets(t, c.pcap) {
				b := p.payload
				if _, err := Unmarshal(b, wrongKey); !errors.Is(err, ErrAuth) {
					t.Fatalf("packet %d with a wrong key: %v, want ErrAuth", i, err)
				}
				if _, err := Unmarshal(b, wrongMethod); !errors.Is(err, ErrAuth) {
					t.Fatalf("packet %d with a wrong method: %v, want ErrAuth", i, err)
				}
				if _, err := Unmarshal(b, otherIndex); !errors.Is(err, ErrUnknownKey) {
					t.Fatalf("packet %d with key 1 missing: %v, want ErrUnknownKey", i, err)
				}
				if _, err := Unmarshal(b, rotated); err != nil {
					t.Fatalf("packet %d with key 1 not active: %v", i, err)
				}

				end := bytes.Index(b, []byte(netEnd))
				valuePos := bytes.Index(b, []byte("(0)src=")) + len("(0)src=")
				flips := map[string]int{
					"first byte of the src value": valuePos,
					"last byte of the body":       end - 2,
					"first digest byte":           bytes.LastIndexByte(b, ' ') + 1,
					"last digest byte":            len(b) - 2,
					"a byte of the inner auth":    bytes.Index(b, []byte("(0)auth=1 ")) + len("(0)auth=1 ") + 3,
				}
				for what, pos := range flips {
					if pos <= 0 || pos >= len(b) {
						t.Fatalf("packet %d: bad flip position for %s", i, what)
					}
					bad := bytes.Clone(b)
					bad[pos] ^= 0x01
					if _, err := Unmarshal(bad, c.ring); !errors.Is(err, ErrAuth) {
						t.Fatalf("packet %d with %s flipped: %v, want ErrAuth", i, what, err)
					}
				}
				for _, pos := range []int{0, 1, 4, end, end + 3, len(b) - 1} {
					bad := bytes.Clone(b)
					bad[pos] ^= 0x01
					if _, err := Unmarshal(bad, c.ring); err == nil {
						t.Fatalf("packet %d with byte %d flipped was accepted", i, pos)
					}
				}
				for _, cut := range []int{1, len(b) - end - 1, len(b) - end, len(b) - 5} {
					if _, err := Unmarshal(b[:len(b)-cut], c.ring); err == nil {
						t.Fatalf("packet %d truncated by %d bytes was accepted", i, cut)
					}
				}
			}
		})
	}
}

// TestInnerAuthNotCheckedOnNetstring mirrors 3.0.6 (WIRE.md §7): a packet
// whose inner auth is wrong or missing but whose trailer is right is
// accepted by Unmarshal; VerifyInner reports it.
func TestInnerAuthNotCheckedOnNetstring(t *testing.T) {
	ring := hmacRing(MethodMD5, "labsecret")
	p := heartbeatPackets(t, "wire_md5_ucast.pcap")[0]
	m, err := Unmarshal(p.payload, ring)
	if err != nil {
		t.Fatal(err)
	}
	m.Set("auth", "1 00000000000000000000000000000000")
	zeroed, err := Marshal(m, ring)
	if err != nil {
		t.Fatal(err)
	}
	m2, err := Unmarshal(zeroed, ring)
	if err != nil {
		t.Fatalf("zeroed inner auth rejected: %v", err)
	}
	if err := VerifyInner(m2, ring); !errors.Is(err, ErrAuth) {
		t.Fatalf("VerifyInner of a zeroed inner auth: %v, want ErrAuth", err)
	}

	m.Del("auth")
	none, err := MarshalNetstringOnly(m, ring)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(none, []byte("auth=")) {
		t.Fatalf("MarshalNetstringOnly added an inner auth: %q", none)
	}
	m3, err := Unmarshal(none, ring)
	if err != nil {
		t.Fatalf("message without inner auth rejected: %v", err)
	}
	if err := VerifyInner(m3, ring); !errors.Is(err, ErrAuth) {
		t.Fatalf("VerifyInner without auth field: %v, want ErrAuth", err)
	}

	// Changing a field after the fact invalidates the inner digest.
	orig, _ := Unmarshal(p.payload, ring)
	orig.Set("ld", "9.99 0.26 0.18 5/145 3602")
	if err := VerifyInner(orig, ring); !errors.Is(err, ErrAuth) {
		t.Fatalf("VerifyInner after changing ld: %v, want ErrAuth", err)
	}
}

// classicText renders m in the classic text form by hand (independently of
// the package's own rendering), including its auth field.
func classicText(m *Message) []byte {
	var b strings.Builder
	b.WriteString(">>>\n")
	for _, f := range m.Fields {
		switch f.Type {
		case TypeString:
			b.WriteString(f.Name + "=" + strings.ReplaceAll(string(f.Value), "\n", "\x13") + "\n")
		case TypeBinary:
			b.WriteString("(1)" + f.Name + "=" + b64(f.Value) + "\n")
		}
	}
	b.WriteString("<<<\n")
	return []byte(b.String())
}

func TestClassicFormFromCaptures(t *testing.T) {
	for _, c := range captures[:3] {
		for i, p := range heartbeatPackets(t, c.pcap) {
			want, err := Unmarshal(p.payload, c.ring)
			if err != nil {
				t.Fatal(err)
			}
			text := classicText(want)
			if i%2 == 1 {
				text = append(text, 0) // msg2string sends the terminating NUL
			}
			got, err := Unmarshal(text, c.ring)
			if err != nil {
				t.Fatalf("%s packet %d in classic form: %v\n%q", c.pcap, i, err, text)
			}
			if !got.Equal(want) {
				t.Fatalf("%s packet %d: classic decode\n got %s\nwant %s", c.pcap, i, listingFields(got), listingFields(want))
			}
			// Tampering with a value of the classic form breaks the inner auth.
			bad := bytes.Replace(text, []byte("src="), []byte("src=x"), 1)
			if _, err := Unmarshal(bad, c.ring); !errors.Is(err, ErrAuth) {
				t.Fatalf("%s packet %d: tampered classic form: %v, want ErrAuth", c.pcap, i, err)
			}
		}
	}
}
