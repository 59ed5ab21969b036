package wire

import (
	"errors"
	"fmt"
	"strconv"
)

// index returns the position of the first field called name, or -1.
func (m *Message) index(name string) int {
	for i := range m.Fields {
		if m.Fields[i].Name == name {
			return i
		}
	}
	return -1
}

// Lookup returns the value of the first field called name. The returned
// slice aliases the message; do not modify it.
func (m *Message) Lookup(name string) ([]byte, bool) {
	if i := m.index(name); i >= 0 {
		return m.Fields[i].Value, true
	}
	return nil, false
}

// Has reports whether the message has a field called name.
func (m *Message) Has(name string) bool { return m.index(name) >= 0 }

// Get returns the value of the first field called name as a string, or ""
// if there is none.
func (m *Message) Get(name string) string {
	v, _ := m.Lookup(name)
	return string(v)
}

// Type returns the value of the "t" field (the message type).
func (m *Message) Type() string { return m.Get("t") }

// Reset empties the message and keeps its storage for the next one: the
// values of its old fields must not be used afterwards.
func (m *Message) Reset() {
	clear(m.Fields)
	m.Fields = m.Fields[:0]
	m.buf = m.buf[:0]
}

// keep returns a copy of v in the message's buffer. The copy's capacity
// ends with it, so that an in-place Set of a longer value reallocates
// rather than overwriting the next value. A buffer that grows leaves the
// earlier values where they are.
func keep[T string | []byte](m *Message, v T) []byte {
	start := len(m.buf)
	m.buf = append(m.buf, v...)
	return m.buf[start:len(m.buf):len(m.buf)]
}

// Add appends a string field. Several fields may have the same name.
func (m *Message) Add(name, value string) {
	m.Fields = append(m.Fields, Field{Name: name, Type: TypeString, Value: keep(m, value)})
}

// AddBinary appends a binary field holding a copy of v.
func (m *Message) AddBinary(name string, v []byte) {
	m.Fields = append(m.Fields, Field{Name: name, Type: TypeBinary, Value: keep(m, v)})
}

// Set replaces the value of the first field called name by a string value,
// or appends a string field if there is none.
func (m *Message) Set(name, value string) {
	if i := m.index(name); i >= 0 {
		f := &m.Fields[i]
		f.Type = TypeString
		f.Value = append(f.Value[:0], value...)
		return
	}
	m.Add(name, value)
}

// SetBinary replaces the value of the first field called name by a copy of
// v, or appends a binary field if there is none.
func (m *Message) SetBinary(name string, v []byte) {
	if i := m.index(name); i >= 0 {
		f := &m.Fields[i]
		f.Type = TypeBinary
		f.Value = append(f.Value[:0], v...)
		return
	}
	m.AddBinary(name, v)
}

// Del removes every field called name.
func (m *Message) Del(name string) {
	out := m.Fields[:0]
	for _, f := range m.Fields {
		if f.Name != name {
			out = append(out, f)
		}
	}
	clear(m.Fields[len(out):])
	m.Fields = out
}

// Clone returns a deep copy of the message.
func (m *Message) Clone() *Message {
	c := &Message{Fields: make([]Field, len(m.Fields))}
	n := 0
	for _, f := range m.Fields {
		n += len(f.Value)
	}
	buf := make([]byte, 0, n)
	for i, f := range m.Fields {
		start := len(buf)
		buf = append(buf, f.Value...)
		c.Fields[i] = Field{Name: f.Name, Type: f.Type, Value: buf[start:len(buf):len(buf)]}
	}
	return c
}

// Equal reports whether both messages have the same fields in the same order.
func (m *Message) Equal(o *Message) bool {
	if len(m.Fields) != len(o.Fields) {
		return false
	}
	for i, f := range m.Fields {
		g := o.Fields[i]
		if f.Name != g.Name || f.Type != g.Type || string(f.Value) != string(g.Value) {
			return false
		}
	}
	return true
}

// GetUint parses the value of field name as an unsigned integer in the given
// base: 16 for seq, hg, ts, ackseq and dt; 10 for NS_rexmit's firstseq and
// lastseq.
func (m *Message) GetUint(name string, base int) (uint64, error) {
	v, ok := m.Lookup(name)
	if !ok {
		return 0, fmt.Errorf("field %q: %w", name, errMissing)
	}
	n, err := parseUint(v, base)
	if err != nil {
		return 0, fmt.Errorf("field %q=%q: %w", name, v, err)
	}
	return n, nil
}

// GetHex parses a hexadecimal field (seq, hg, ts, ackseq, dt).
func (m *Message) GetHex(name string) (uint64, error) { return m.GetUint(name, 16) }

// GetDec parses a decimal field (firstseq, lastseq of NS_rexmit).
func (m *Message) GetDec(name string) (uint64, error) { return m.GetUint(name, 10) }

// SetUint sets field name to v formatted in base (lowercase, no leading
// zeros), replacing its value in place when it exists.
func (m *Message) SetUint(name string, v uint64, base int) {
	if i := m.index(name); i >= 0 {
		f := &m.Fields[i]
		f.Type = TypeString
		f.Value = strconv.AppendUint(f.Value[:0], v, base)
		return
	}
	m.AddUint(name, v, base)
}

// AddUint appends field name with v formatted in base.
func (m *Message) AddUint(name string, v uint64, base int) {
	start := len(m.buf)
	m.buf = strconv.AppendUint(m.buf, v, base)
	m.Fields = append(m.Fields, Field{Name: name, Type: TypeString, Value: m.buf[start:len(m.buf):len(m.buf)]})
}

// SetHex sets a hexadecimal field; see SetUint.
func (m *Message) SetHex(name string, v uint64) { m.SetUint(name, v, 16) }

// AddHex appends a hexadecimal field.
func (m *Message) AddHex(name string, v uint64) { m.AddUint(name, v, 16) }

var errMissing = errors.New("no such field")

// parseUint parses a non-empty unsigned number without sign or spaces,
// without allocating.
func parseUint(v []byte, base int) (uint64, error) {
	if len(v) == 0 || len(v) > 20 {
		return 0, fmt.Errorf("invalid number")
	}
	var n uint64
	for _, c := range v {
		var d uint64
		switch {
		case c >= '0' && c <= '9':
			d = uint64(c - '0')
		case c >= 'a' && c <= 'f':
			d = uint64(c-'a') + 10
		case c >= 'A' && c <= 'F':
			d = uint64(c-'A') + 10
		default:
			return 0, fmt.Errorf("invalid number")
		}
		if d >= uint64(base) {
			return 0, fmt.Errorf("invalid number")
		}
		hi := n * uint64(base)
		if hi/uint64(base) != n || hi+d < hi {
			return 0, fmt.Errorf("number out of range")
		}
		n = hi + d
	}
	return n, nil
}
