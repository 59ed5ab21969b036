package wire

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"slices"
)

// Unmarshal decodes one datagram and authenticates it against ring.
//
// The netstring form ("###\n" fields "%%%\n" trailer) is parsed strictly
// (canonical decimal lengths that must match, known field types, nothing
// after the trailer) and its outer trailer is verified with the key whose
// index the trailer names (any key of ring, not only the active one). As in
// heartbeat 3.0.6 the inner "auth" field of a netstring packet is not
// checked; see VerifyInner.
//
// The classic text form (">>>\n" name=value lines "<<<\n") is accepted too;
// there the inner "auth" field is what is verified.
//
// Errors wrap ErrMalformed, ErrUnknownKey or ErrAuth. The returned message
// does not alias b.
func Unmarshal(b []byte, ring *Keyring) (*Message, error) {
	m := &Message{}
	if err := UnmarshalInto(m, b, ring); err != nil {
		return nil, err
	}
	return m, nil
}

// UnmarshalInto is Unmarshal into m, which is Reset first and whose storage
// is reused: a receiver that decodes every datagram into the same message
// allocates nothing in steady state. On error m is left empty.
func UnmarshalInto(m *Message, b []byte, ring *Keyring) error {
	m.Reset()
	if len(b) > MaxDatagram {
		return fmt.Errorf("%w: datagram of %d bytes exceeds %d", ErrMalformed, len(b), MaxDatagram)
	}
	switch {
	case bytes.HasPrefix(b, []byte(netStart)):
		nf, bodyEnd, err := scanNetstring(b)
		if err != nil {
			return err
		}
		if err := verifyTrailer(b, bodyEnd, ring); err != nil {
			return err
		}
		fillNetstring(m, b[:bodyEnd], nf)
		return nil
	case bytes.HasPrefix(b, []byte(classicStart)):
		c, err := parseClassic(b)
		if err == nil {
			err = VerifyInner(c, ring)
		}
		if err != nil {
			return err
		}
		m.Fields = append(m.Fields, c.Fields...) // classic: the rare form, not worth reusing for
		return nil
	}
	return fmt.Errorf("%w: no message start marker", ErrMalformed)
}

// ParseUnverified decodes a datagram without checking any digest (for
// diagnostics and tools only; the daemon must use Unmarshal). For the
// netstring form the trailer must still be well formed.
func ParseUnverified(b []byte) (*Message, error) {
	if len(b) > MaxDatagram {
		return nil, fmt.Errorf("%w: datagram of %d bytes exceeds %d", ErrMalformed, len(b), MaxDatagram)
	}
	switch {
	case bytes.HasPrefix(b, []byte(netStart)):
		nf, bodyEnd, err := scanNetstring(b)
		if err != nil {
			return nil, err
		}
		if _, _, err := parseTrailer(b[bodyEnd:]); err != nil {
			return nil, err
		}
		return buildNetstring(b[:bodyEnd], nf), nil
	case bytes.HasPrefix(b, []byte(classicStart)):
		return parseClassic(b)
	}
	return nil, fmt.Errorf("%w: no message start marker", ErrMalformed)
}

// netField is the position of one parsed netstring field in the datagram.
type netField struct {
	typ                  FieldType
	name, valStart, next int // name: start of name; name ends at valStart-1
}

// parseNetField parses `<len>:(<t>)<name>=<value>,` at b[pos:].
func parseNetField(b []byte, pos int) (netField, error) {
	l, p, err := parseLen(b, pos)
	if err != nil {
		return netField{}, err
	}
	end := p + l // index of the ','
	if l < 5 || end >= len(b) || b[end] != ',' {
		return netField{}, fmt.Errorf("%w: field at offset %d: bad length %d", ErrMalformed, pos, l)
	}
	body := b[p:end]
	if body[0] != '(' || body[2] != ')' || body[1] < '0' || body[1] > '0'+byte(TypeUncompStruct) {
		return netField{}, fmt.Errorf("%w: field at offset %d: bad type tag", ErrMalformed, pos)
	}
	eq := bytes.IndexByte(body[3:], '=')
	if eq < 0 {
		return netField{}, fmt.Errorf("%w: field at offset %d: no '='", ErrMalformed, pos)
	}
	f := netField{typ: FieldType(body[1] - '0'), name: p + 3, valStart: p + 3 + eq + 1, next: end + 1}
	if !validName(string(body[3 : 3+eq])) {
		return netField{}, fmt.Errorf("%w: field at offset %d: invalid name", ErrMalformed, pos)
	}
	if f.typ == TypeString && bytes.IndexByte(b[f.valStart:end], 0) >= 0 {
		return netField{}, fmt.Errorf("%w: field at offset %d: NUL in string value", ErrMalformed, pos)
	}
	return f, nil
}

// parseLen parses a canonical decimal length followed by ':' at b[pos:]
// and returns it and the position after the ':'.
func parseLen(b []byte, pos int) (int, int, error) {
	n, i := 0, pos
	for i < len(b) && b[i] >= '0' && b[i] <= '9' {
		if i-pos >= 6 { // > MaxDatagram anyway
			return 0, 0, fmt.Errorf("%w: length at offset %d too long", ErrMalformed, pos)
		}
		n = n*10 + int(b[i]-'0')
		i++
	}
	switch {
	case i == pos:
		return 0, 0, fmt.Errorf("%w: expected length at offset %d", ErrMalformed, pos)
	case b[pos] == '0' && i-pos > 1:
		return 0, 0, fmt.Errorf("%w: length with leading zero at offset %d", ErrMalformed, pos)
	case i >= len(b) || b[i] != ':':
		return 0, 0, fmt.Errorf("%w: expected ':' at offset %d", ErrMalformed, i)
	}
	return n, i + 1, nil
}

// scanNetstring validates the framing of b up to the end marker and
// returns the number of fields and the offset just after "%%%\n".
func scanNetstring(b []byte) (nfields, bodyEnd int, err error) {
	pos := len(netStart)
	for {
		if bytes.HasPrefix(b[pos:], []byte(netEnd)) {
			return nfields, pos + len(netEnd), nil
		}
		if nfields == MaxFields {
			return 0, 0, fmt.Errorf("%w: more than %d fields", ErrMalformed, MaxFields)
		}
		f, err := parseNetField(b, pos)
		if err != nil {
			return 0, 0, err
		}
		nfields++
		pos = f.next
	}
}

// buildNetstring decodes the fields of body, which scanNetstring accepted.
func buildNetstring(body []byte, nfields int) *Message {
	m := &Message{}
	fillNetstring(m, body, nfields)
	return m
}

// fillNetstring decodes the fields of body into the empty m, the values
// in a copy of body in m's buffer.
func fillNetstring(m *Message, body []byte, nfields int) {
	m.buf = append(m.buf[:0], body...)
	own := m.buf
	m.Fields = slices.Grow(m.Fields[:0], nfields)
	pos := len(netStart)
	for range nfields {
		f, _ := parseNetField(own, pos)
		end := f.next - 1
		m.Fields = append(m.Fields, Field{
			Name:  internName(own[f.name : f.valStart-1]),
			Type:  f.typ,
			Value: own[f.valStart:end:end],
		})
		pos = f.next
	}
}

// parseTrailer parses `<len>:<N> <digest>,` which must end the datagram.
func parseTrailer(t []byte) (index int, digest []byte, err error) {
	l, p, err := parseLen(t, 0)
	if err != nil {
		return 0, nil, fmt.Errorf("trailer: %w", err)
	}
	if p+l != len(t)-1 || t[len(t)-1] != ',' {
		return 0, nil, fmt.Errorf("%w: trailer length %d does not match the datagram", ErrMalformed, l)
	}
	index, digest, ok := splitAuth(t[p : p+l])
	if !ok {
		return 0, nil, fmt.Errorf("%w: bad trailer %q", ErrMalformed, t[p:p+l])
	}
	return index, digest, nil
}

// verifyTrailer checks the outer digest over b[:bodyEnd].
func verifyTrailer(b []byte, bodyEnd int, ring *Keyring) error {
	index, digest, err := parseTrailer(b[bodyEnd:])
	if err != nil {
		return err
	}
	return verify(ring, index, digest, b[:bodyEnd], "trailer")
}

// parseClassic parses the classic text form (cluster-glue string2msg_ll):
// ">>>\n", then "name=value\n" lines (a "(t)" name prefix gives the type),
// then "<<<\n" and an optional terminating NUL.
func parseClassic(b []byte) (*Message, error) {
	m := &Message{}
	pos := len(classicStart)
	for {
		for pos < len(b) && b[pos] == '\n' {
			pos++
		}
		rest := b[pos:]
		if bytes.HasPrefix(rest, []byte(classicEnd)) {
			tail := rest[len(classicEnd):]
			if len(tail) > 1 || (len(tail) == 1 && tail[0] != 0) {
				return nil, fmt.Errorf("%w: %d bytes after end marker", ErrMalformed, len(tail))
			}
			return m, nil
		}
		nl := bytes.IndexByte(rest, '\n')
		if nl < 0 {
			return nil, fmt.Errorf("%w: unterminated line at offset %d", ErrMalformed, pos)
		}
		if len(m.Fields) == MaxFields {
			return nil, fmt.Errorf("%w: more than %d fields", ErrMalformed, MaxFields)
		}
		f, err := parseClassicLine(rest[:nl])
		if err != nil {
			return nil, fmt.Errorf("line at offset %d: %w", pos, err)
		}
		m.Fields = append(m.Fields, f)
		pos += nl + 1
	}
}

func parseClassicLine(line []byte) (Field, error) {
	if bytes.IndexByte(line, 0) >= 0 {
		return Field{}, fmt.Errorf("%w: NUL in line", ErrMalformed)
	}
	eq := bytes.IndexByte(line, '=')
	if eq <= 0 {
		return Field{}, fmt.Errorf("%w: no name=value", ErrMalformed)
	}
	name, val := line[:eq], line[eq+1:]
	t := TypeString
	if name[0] == '(' {
		if len(name) < 4 || name[2] != ')' || name[1] < '1' || name[1] > '9' {
			return Field{}, fmt.Errorf("%w: bad type prefix %q", ErrMalformed, name)
		}
		t = FieldType(name[1] - '0')
		name = name[3:]
	}
	if !validName(string(name)) {
		return Field{}, fmt.Errorf("%w: invalid name %q", ErrMalformed, name)
	}
	f := Field{Name: internName(name), Type: t}
	switch t {
	case TypeString:
		v := append([]byte(nil), val...)
		for i, c := range v {
			if c == classicNL {
				v[i] = '\n'
			}
		}
		f.Value = v
	case TypeBinary, TypeCompressed:
		v, err := base64.StdEncoding.AppendDecode(nil, val)
		if err != nil {
			return Field{}, fmt.Errorf("%w: field %q: bad base64: %w", ErrMalformed, name, err)
		}
		f.Value = v
	case TypeList:
		f.Value = append([]byte(nil), val...)
	default:
		return Field{}, fmt.Errorf("%w: field %q: type %d not supported in classic form", ErrMalformed, name, t)
	}
	return f, nil
}

// internName returns the field name, without allocating for the names
// heartbeat uses in v1 mode.
func internName(b []byte) string {
	switch string(b) {
	case "t":
		return "t"
	case "st":
		return "st"
	case "dt":
		return "dt"
	case "protocol":
		return "protocol"
	case "src":
		return "src"
	case "srcuuid":
		return "srcuuid"
	case "dest":
		return "dest"
	case "destuuid":
		return "destuuid"
	case "seq":
		return "seq"
	case "hg":
		return "hg"
	case "ts":
		return "ts"
	case "ld":
		return "ld"
	case "ttl":
		return "ttl"
	case "auth":
		return "auth"
	case "ackseq":
		return "ackseq"
	case "firstseq":
		return "firstseq"
	case "lastseq":
		return "lastseq"
	case "rsc_hold":
		return "rsc_hold"
	case "rtype":
		return "rtype"
	case "isstable":
		return "isstable"
	case "info":
		return "info"
	case "nodelist":
		return "nodelist"
	case "delnodelist":
		return "delnodelist"
	case "ipaddr":
		return "ipaddr"
	case "weown":
		return "weown"
	case "ok":
		return "ok"
	case "node":
		return "node"
	case "result":
		return "result"
	}
	return string(b)
}
