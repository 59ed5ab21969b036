package wire

import (
	"fmt"
	"strconv"
	"strings"
)

// Marshal encodes m as heartbeat 3.0.6 puts it on the wire (msgfmt classic,
// the default): if m has no "auth" field, the inner auth over the classic
// rendering of the fields is appended as the last field (m itself is not
// modified); then the netstring framing and the outer trailer signed with
// the active key. A message that already carries "auth" (a decoded one) is
// encoded as is, so decoding and re-encoding reproduces the datagram.
func Marshal(m *Message, ring *Keyring) ([]byte, error) {
	return appendMarshal(nil, m, ring, true)
}

// AppendMarshal is Marshal appending to dst. With a reused dst of enough
// capacity it does not allocate in steady state. On error dst is returned
// unchanged.
func AppendMarshal(dst []byte, m *Message, ring *Keyring) ([]byte, error) {
	return appendMarshal(dst, m, ring, true)
}

// MarshalNetstringOnly encodes m without adding the inner auth field
// (heartbeat's msgfmt netstring); the outer trailer is always present.
func MarshalNetstringOnly(m *Message, ring *Keyring) ([]byte, error) {
	return appendMarshal(nil, m, ring, false)
}

// AppendMarshalNetstringOnly is MarshalNetstringOnly appending to dst.
func AppendMarshalNetstringOnly(dst []byte, m *Message, ring *Keyring) ([]byte, error) {
	return appendMarshal(dst, m, ring, false)
}

func appendMarshal(dst []byte, m *Message, ring *Keyring, inner bool) ([]byte, error) {
	if m == nil {
		return dst, fmt.Errorf("%w: nil message", ErrMalformed)
	}
	if err := checkFields(m.Fields); err != nil {
		return dst, err
	}
	key, err := ring.ActiveKey()
	if err != nil {
		return dst, err
	}
	s, err := getSigner(key)
	if err != nil {
		return dst, err
	}
	defer putSigner(s)

	start := len(dst)
	dst = append(dst, netStart...)
	for i := range m.Fields {
		f := &m.Fields[i]
		dst = appendNetField(dst, f.Type, f.Name, f.Value)
	}
	if inner && !m.Has(authName) {
		s.text, err = appendClassic(s.text[:0], m.Fields)
		if err != nil {
			return dst[:start], err
		}
		s.auth = s.appendAuth(s.auth[:0], key.Index, s.text)
		dst = appendNetField(dst, TypeString, authName, s.auth)
	}
	dst = append(dst, netEnd...)
	s.auth = s.appendAuth(s.auth[:0], key.Index, dst[start:])
	dst = strconv.AppendInt(dst, int64(len(s.auth)), 10)
	dst = append(dst, ':')
	dst = append(dst, s.auth...)
	dst = append(dst, ',')
	if len(dst)-start > MaxDatagram {
		return dst[:start], fmt.Errorf("%w: message of %d bytes exceeds %d", ErrMalformed, len(dst)-start, MaxDatagram)
	}
	return dst, nil
}

// appendNetField appends `<len>:(<type>)<name>=<value>,`.
func appendNetField(dst []byte, t FieldType, name string, value []byte) []byte {
	dst = strconv.AppendInt(dst, int64(3+len(name)+1+len(value)), 10)
	dst = append(dst, ':', '(', '0'+byte(t), ')')
	dst = append(dst, name...)
	dst = append(dst, '=')
	dst = append(dst, value...)
	return append(dst, ',')
}

// checkFields rejects what a receiver could not parse back into the same
// fields: empty names, names with '=' or control bytes, unknown types.
func checkFields(fields []Field) error {
	if len(fields) > MaxFields {
		return fmt.Errorf("%w: %d fields exceed %d", ErrMalformed, len(fields), MaxFields)
	}
	for _, f := range fields {
		if !validName(f.Name) {
			return fmt.Errorf("%w: invalid field name %q", ErrMalformed, f.Name)
		}
		if f.Type > TypeUncompStruct {
			return fmt.Errorf("%w: field %q has unknown type %d", ErrMalformed, f.Name, f.Type)
		}
	}
	return nil
}

func validName(n string) bool {
	if n == "" || len(n) > 255 || strings.HasPrefix(n, "(") {
		return false
	}
	for i := 0; i < len(n); i++ {
		if c := n[i]; c == '=' || c < ' ' || c == 0x7f {
			return false
		}
	}
	return true
}
