package wire

import (
	"bytes"
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"hash"
	"strconv"
	"sync"
)

// crcPoly is the CRC-32 polynomial of heartbeat's crc.so (MSB first).
const crcPoly = 0x04C11DB7

// crcTable is the MSB-first lookup table for crcPoly, computed once.
var crcTable = func() (t [256]uint32) {
	for i := range t {
		c := uint32(i) << 24
		for range 8 {
			if c&0x80000000 != 0 {
				c = c<<1 ^ crcPoly
			} else {
				c <<= 1
			}
		}
		t[i] = c
	}
	return t
}()

// CRC returns heartbeat's crc digest of data: CRC-32, polynomial 0x04C11DB7,
// not reflected, initial value 0, final XOR 0xFFFFFFFF, no length appended.
func CRC(data []byte) uint32 {
	var c uint32
	for _, b := range data {
		c = c<<8 ^ crcTable[byte(c>>24)^b]
	}
	return ^c
}

// signer computes the text digest of one key. Signers are pooled so that
// the keyed HMAC state and the scratch buffers are reused between calls.
type signer struct {
	method Method
	secret []byte
	mac    hash.Hash
	sum    []byte // scratch for mac.Sum
	text   []byte // scratch for the classic rendering
	auth   []byte // scratch for "<N> <digest>"
}

var signerPool = sync.Pool{New: func() any { return new(signer) }}

// getSigner returns a signer keyed with k; release it with putSigner.
func getSigner(k Key) (*signer, error) {
	s := signerPool.Get().(*signer)
	if s.method == k.Method && bytes.Equal(s.secret, k.Secret) && (s.mac != nil || k.Method == MethodCRC) {
		return s, nil
	}
	s.method = k.Method
	s.secret = append(s.secret[:0], k.Secret...)
	switch k.Method {
	case MethodCRC:
		s.mac = nil
	case MethodMD5:
		s.mac = hmac.New(md5.New, s.secret)
	case MethodSHA1:
		s.mac = hmac.New(sha1.New, s.secret)
	default:
		s.method = 0
		signerPool.Put(s)
		return nil, fmt.Errorf("%w: key %d has unsupported method %v", ErrUnknownKey, k.Index, k.Method)
	}
	return s, nil
}

func putSigner(s *signer) { signerPool.Put(s) }

// appendDigest appends the text form of the digest of data: crc as %lx
// (lowercase, no leading zeros), md5 and sha1 as lowercase hex.
func (s *signer) appendDigest(dst, data []byte) []byte {
	if s.method == MethodCRC {
		return strconv.AppendUint(dst, uint64(CRC(data)), 16)
	}
	s.mac.Reset()
	s.mac.Write(data)
	s.sum = s.mac.Sum(s.sum[:0])
	return hex.AppendEncode(dst, s.sum)
}

// appendAuth appends "<index> <digest>" of data.
func (s *signer) appendAuth(dst []byte, index int, data []byte) []byte {
	dst = strconv.AppendInt(dst, int64(index), 10)
	dst = append(dst, ' ')
	return s.appendDigest(dst, data)
}

// Digest returns the text digest of data under key k, exactly as heartbeat
// prints it (the part after "<N> " in a trailer or auth field).
func Digest(k Key, data []byte) (string, error) {
	s, err := getSigner(k)
	if err != nil {
		return "", err
	}
	defer putSigner(s)
	return string(s.appendDigest(nil, data)), nil
}

// appendClassic appends the classic text rendering of fields that the inner
// auth covers (cluster-glue msg2string_buf with NOHEAD): for every field not
// named "auth", ["(" type ")"] name "=" text "\n", where text is a string
// value with '\n' replaced by 0x13, binary and compressed values in base64
// with padding, a list in its packed form.
func appendClassic(dst []byte, fields []Field) ([]byte, error) {
	for _, f := range fields {
		if f.Name == authName {
			continue
		}
		if f.Type != TypeString {
			dst = append(dst, '(', '0'+byte(f.Type), ')')
		}
		dst = append(dst, f.Name...)
		dst = append(dst, '=')
		switch f.Type {
		case TypeString:
			for _, c := range f.Value {
				if c == '\n' {
					c = classicNL
				}
				dst = append(dst, c)
			}
		case TypeBinary, TypeCompressed:
			dst = base64.StdEncoding.AppendEncode(dst, f.Value)
		case TypeList:
			dst = append(dst, f.Value...)
		default:
			return dst, fmt.Errorf("%w: field %q: classic rendering of type %d is not supported", ErrMalformed, f.Name, f.Type)
		}
		dst = append(dst, '\n')
	}
	return dst, nil
}

// splitAuth splits "<N> <digest>" (sscanf "%d %s" in heartbeat, but strict:
// canonical decimal index, one space, non-empty digest without spaces).
func splitAuth(v []byte) (index int, digest []byte, ok bool) {
	sp := bytes.IndexByte(v, ' ')
	if sp <= 0 {
		return 0, nil, false
	}
	n, ok := parseIndex(v[:sp])
	if !ok {
		return 0, nil, false
	}
	d := v[sp+1:]
	if len(d) == 0 || len(d) > 128 || bytes.IndexByte(d, ' ') >= 0 {
		return 0, nil, false
	}
	return n, d, true
}

// parseIndex parses a canonical non-negative decimal of at most 9 digits.
func parseIndex(b []byte) (int, bool) {
	if len(b) == 0 || len(b) > 9 || (len(b) > 1 && b[0] == '0') {
		return 0, false
	}
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

// verify checks that digest is the digest of data under key index of ring.
func verify(ring *Keyring, index int, digest, data []byte, what string) error {
	k, ok := ring.Key(index)
	if !ok {
		return fmt.Errorf("%w: %s names key %d", ErrUnknownKey, what, index)
	}
	s, err := getSigner(k)
	if err != nil {
		return err
	}
	defer putSigner(s)
	s.auth = s.appendDigest(s.auth[:0], data)
	if subtle.ConstantTimeCompare(s.auth, digest) != 1 {
		return fmt.Errorf("%w: %s digest does not match key %d (%v)", ErrAuth, what, index, k.Method)
	}
	return nil
}

// VerifyInner checks the inner "auth" field of m: the digest over the
// classic rendering of all other fields, with the key the field names.
// Heartbeat 3.0.6 does not check it on netstring packets (only the outer
// trailer); Unmarshal checks it only for the classic text form.
func VerifyInner(m *Message, ring *Keyring) error {
	v, ok := m.Lookup(authName)
	if !ok {
		return fmt.Errorf("%w: no inner auth field", ErrAuth)
	}
	index, digest, ok := splitAuth(v)
	if !ok {
		return fmt.Errorf("%w: bad inner auth field %q", ErrMalformed, v)
	}
	text, err := appendClassic(nil, m.Fields)
	if err != nil {
		return err
	}
	return verify(ring, index, digest, text, "inner auth")
}
