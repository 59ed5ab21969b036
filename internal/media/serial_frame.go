package media

import (
	"bytes"
	"encoding/base64"
	"errors"
)

// Serial line framing.
//
// Heartbeat 3.0.6 (lib/plugins/HBcomm/serial.c) writes each message in the
// classic text form, ">>>\n" name=value lines "<<<\n": serial_write turns a
// netstring message ("###\n"...) into that form before writing, and
// serial_read reads lines, skipping up to a line starting with ">>>" and
// collecting lines up to one starting with "<<<". There is no length and no
// checksum on the line; the message's inner auth field is its integrity check.
//
// The deframer below accepts both forms: classic frames (what 3.0.6 sends)
// and netstring frames ("###\n" fields "%%%\n" trailer, what our Send
// writes when a message cannot be rendered classic). It resynchronises on
// garbage and on half frames (a cable re-plugged mid-message): a frame that
// turns out malformed, that contains another start marker where none may be,
// or that grows past the size bound is dropped and scanning restarts one byte
// after its start marker, so a good frame following a half one is kept.

var (
	startNetstring = []byte("###\n")
	endNetstring   = []byte("%%%\n")
	startClassic   = []byte(">>>\n")
	endClassic     = []byte("\n<<<\n")
)

// maxTrailer bounds the netstring trailer ("1 " + a 40-digit sha1 digest).
const maxTrailer = 256

// deframer splits a serial byte stream into frames.
type deframer struct {
	max int    // frame size bound
	buf []byte // unconsumed bytes, starting at a start marker when len > 3
}

func newDeframer(max int) *deframer {
	return &deframer{max: max, buf: make([]byte, 0, 4096)}
}

// reset drops a partial frame (the line went idle or was reopened).
func (d *deframer) reset() { d.buf = d.buf[:0] }

// pending reports whether a partial frame is buffered.
func (d *deframer) pending() bool { return len(d.buf) > 0 }

// feed adds p and calls emit with every complete frame, a fresh slice.
func (d *deframer) feed(p []byte, emit func([]byte)) {
	d.buf = append(d.buf, p...)
	for {
		i := firstStart(d.buf)
		if i < 0 {
			// Keep a possible marker prefix ("##", ">>>").
			if k := len(d.buf) - (len(startNetstring) - 1); k > 0 {
				d.buf = append(d.buf[:0], d.buf[k:]...)
			}
			return
		}
		if i > 0 {
			d.buf = append(d.buf[:0], d.buf[i:]...)
		}
		var n int
		var st parseState
		if bytes.HasPrefix(d.buf, startNetstring) {
			n, st = parseNetstring(d.buf, d.max)
		} else {
			n, st = parseClassic(d.buf, d.max)
		}
		switch st {
		case frameComplete:
			emit(bytes.Clone(d.buf[:n]))
			d.buf = append(d.buf[:0], d.buf[n:]...)
		case frameNeedMore:
			if len(d.buf) <= d.max {
				return
			}
			d.buf = append(d.buf[:0], d.buf[1:]...)
		case frameBad:
			d.buf = append(d.buf[:0], d.buf[1:]...)
		}
	}
}

func firstStart(b []byte) int {
	i := bytes.Index(b, startNetstring)
	j := bytes.Index(b, startClassic)
	switch {
	case i < 0:
		return j
	case j < 0:
		return i
	}
	return min(i, j)
}

type parseState int

const (
	frameNeedMore parseState = iota
	frameComplete
	frameBad
)

// parseClassic parses ">>>\n" lines "<<<\n" at the start of b.
func parseClassic(b []byte, max int) (int, parseState) {
	body := b[len(startClassic)-1:] // from the newline ending ">>>"
	end := bytes.Index(body, endClassic)
	inner := body
	if end >= 0 {
		inner = body[:end+1]
	}
	// Classic values cannot hold a newline (it is sent as 0x13), so a start
	// marker inside the frame means it was cut and another one began.
	if hasMarker(inner) {
		return 0, frameBad
	}
	if end < 0 {
		return 0, frameNeedMore
	}
	n := len(startClassic) - 1 + end + len(endClassic)
	if n > max {
		return 0, frameBad
	}
	return n, frameComplete
}

// parseNetstring parses "###\n" fields "%%%\n" trailer at the start of b.
func parseNetstring(b []byte, max int) (int, parseState) {
	pos := len(startNetstring)
	for {
		rest := b[pos:]
		if len(rest) < len(endNetstring) && bytes.HasPrefix(endNetstring, rest) {
			return 0, frameNeedMore
		}
		if bytes.HasPrefix(rest, endNetstring) {
			pos += len(endNetstring)
			n, st := parseItem(b[pos:], maxTrailer, false)
			if st != frameComplete {
				return 0, st
			}
			if pos+n > max {
				return 0, frameBad
			}
			return pos + n, frameComplete
		}
		n, st := parseItem(rest, max, true)
		if st != frameComplete {
			return 0, st
		}
		pos += n
		if pos > max {
			return 0, frameBad
		}
	}
}

// parseItem parses one "<len>:<value>," at the start of b. A field value
// must start with "(<digit>)" and, unless it is a nested message (type 2),
// must not contain a start marker.
func parseItem(b []byte, max int, field bool) (int, parseState) {
	colon := -1
	for i, c := range b {
		if c == ':' {
			colon = i
			break
		}
		if c < '0' || c > '9' || i >= 6 {
			return 0, frameBad
		}
	}
	if colon < 0 {
		return 0, frameNeedMore
	}
	if colon == 0 {
		return 0, frameBad
	}
	l := 0
	for _, c := range b[:colon] {
		l = l*10 + int(c-'0')
	}
	if l > max {
		return 0, frameBad
	}
	start := colon + 1
	value := b[start:min(len(b), start+l)]
	if field {
		if len(value) > 0 && value[0] != '(' ||
			len(value) > 1 && (value[1] < '0' || value[1] > '9') ||
			len(value) > 2 && value[2] != ')' {
			return 0, frameBad
		}
		if len(value) >= 2 && value[1] != '2' && hasMarker(value) {
			return 0, frameBad
		}
	} else if hasMarker(value) {
		return 0, frameBad
	}
	if len(b) < start+l+1 {
		return 0, frameNeedMore
	}
	if b[start+l] != ',' {
		return 0, frameBad
	}
	return start + l + 1, frameComplete
}

func hasMarker(v []byte) bool {
	return bytes.Contains(v, startNetstring) || bytes.Contains(v, startClassic)
}

var errNotClassic = errors.New("message has fields the classic form cannot carry")

// appendClassic appends the classic text form of the netstring message msg
// to dst, as 3.0.6's serial_write does before writing to the line: ">>>\n",
// one "name=value\n" line per field in order ("(1)name=<base64>" for binary
// fields; newlines in string values become 0x13), "<<<\n". The inner auth
// field is carried over verbatim: it was computed over this very rendering.
// The outer trailer is dropped (classic messages have none). Nested, list
// and compressed fields are not supported.
func appendClassic(dst, msg []byte) ([]byte, error) {
	if !bytes.HasPrefix(msg, startNetstring) {
		return dst, errNotClassic
	}
	dst = append(dst, startClassic...)
	pos := len(startNetstring)
	for {
		rest := msg[pos:]
		if bytes.HasPrefix(rest, endNetstring) {
			if _, st := parseItem(rest[len(endNetstring):], maxTrailer, false); st != frameComplete {
				return dst, errNotClassic
			}
			return append(dst, "<<<\n"...), nil
		}
		n, st := parseItem(rest, len(rest), true)
		if st != frameComplete {
			return dst, errNotClassic
		}
		colon := bytes.IndexByte(rest, ':')
		v := rest[colon+1 : n-1] // "(t)name=value"
		if len(v) < 3 {
			return dst, errNotClassic
		}
		typ := v[1]
		eq := bytes.IndexByte(v[3:], '=')
		if eq < 0 {
			return dst, errNotClassic
		}
		name, value := v[3:3+eq], v[3+eq+1:]
		switch typ {
		case '0':
			dst = append(dst, name...)
			dst = append(dst, '=')
			for _, c := range value {
				if c == '\n' {
					c = 0x13
				}
				dst = append(dst, c)
			}
		case '1':
			dst = append(dst, "(1)"...)
			dst = append(dst, name...)
			dst = append(dst, '=')
			dst = base64.StdEncoding.AppendEncode(dst, value)
		default:
			return dst, errNotClassic
		}
		dst = append(dst, '\n')
		pos += n
	}
}
