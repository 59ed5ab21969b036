package dbusapi

import (
	_ "embed"
	"strings"

	"github.com/godbus/dbus/v5"
)

// Names of the API, as documented in org.linuxha.Heartbeat1.xml.
const (
	BusName          = "org.linuxha.Heartbeat1"
	ManagerPath      = dbus.ObjectPath("/org/linuxha/Heartbeat1")
	ManagerInterface = "org.linuxha.Heartbeat1.Manager"
	NodeInterface    = "org.linuxha.Heartbeat1.Node"
	GroupInterface   = "org.linuxha.Heartbeat1.Group"

	ObjectManagerInterface = "org.freedesktop.DBus.ObjectManager"
	PropertiesInterface    = "org.freedesktop.DBus.Properties"
	IntrospectInterface    = "org.freedesktop.DBus.Introspectable"
	PeerInterface          = "org.freedesktop.DBus.Peer"

	nodePrefix  = ManagerPath + "/node/"
	groupPrefix = ManagerPath + "/group/"
)

// Error names.
const (
	ErrorInvalidArgument = "org.linuxha.Heartbeat1.Error.InvalidArgument"
	ErrorNoPeer          = "org.linuxha.Heartbeat1.Error.NoPeer"
	ErrorNotFound        = "org.linuxha.Heartbeat1.Error.NotFound"
	ErrorTimeout         = "org.linuxha.Heartbeat1.Error.Timeout"
	ErrorFailed          = "org.linuxha.Heartbeat1.Error.Failed"
)

// IntrospectionXML is the documented API (org.linuxha.Heartbeat1.xml).
//
//go:embed org.linuxha.Heartbeat1.xml
var IntrospectionXML string

// NodePath is the object path of the named node.
func NodePath(name string) dbus.ObjectPath { return nodePrefix + dbus.ObjectPath(EscapeLabel(name)) }

// GroupPath is the object path of the group with the given key.
func GroupPath(key string) dbus.ObjectPath { return groupPrefix + dbus.ObjectPath(EscapeLabel(key)) }

// EscapeLabel escapes s for use as one object path element, as systemd's
// bus_label_escape does: ASCII letters and digits are kept, every other byte
// becomes '_' and two lower-case hex digits; "" becomes "_".
func EscapeLabel(s string) string {
	if s == "" {
		return "_"
	}
	const hex = "0123456789abcdef"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('_')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	return b.String()
}

// UnescapeLabel reverses EscapeLabel; ok is false when s is not a valid label.
func UnescapeLabel(s string) (string, bool) {
	if s == "_" {
		return "", true
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '_' {
			b.WriteByte(c)
			continue
		}
		if i+3 > len(s) {
			return "", false
		}
		hi, ok1 := unhex(s[i+1])
		lo, ok2 := unhex(s[i+2])
		if !ok1 || !ok2 {
			return "", false
		}
		b.WriteByte(hi<<4 | lo)
		i += 2
	}
	return b.String(), true
}

func unhex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}
