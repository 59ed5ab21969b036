package wire

import (
	"errors"
	"fmt"
	"strconv"
)

// FieldType is the one-digit type tag of a netstring field.
type FieldType byte

// Field types as cluster-glue defines them (include/ha_msg.h).
const (
	TypeString       FieldType = 0
	TypeBinary       FieldType = 1
	TypeStruct       FieldType = 2
	TypeList         FieldType = 3
	TypeCompressed   FieldType = 4
	TypeUncompStruct FieldType = 5
)

// Field is one name=value pair of a message, in wire order. The value of a
// struct (2) or uncompressed-struct (5) field is kept as the raw bytes of the
// nested netstring message; list (3) values are kept in their packed form.
type Field struct {
	Name  string
	Type  FieldType
	Value []byte
}

// Message is an ordered list of fields. Field order is insertion order and is
// preserved by Unmarshal, so a decoded message re-encodes byte for byte.
// A Message owns the storage of its field values: Set and the Set* helpers
// may overwrite the old value in place. Values added with Add, AddBinary and
// AddUint are stored in one buffer of the message, which Reset keeps for the
// next message: a message built over and over (the keepalive) allocates
// nothing in steady state.
type Message struct {
	Fields []Field
	buf    []byte // storage of added values, reused after Reset
}

// Method is an authentication method of authkeys.
type Method uint8

// Methods of authkeys.
const (
	MethodCRC Method = iota + 1
	MethodMD5
	MethodSHA1
)

// String returns the authkeys spelling of the method ("crc", "md5", "sha1").
func (m Method) String() string {
	switch m {
	case MethodCRC:
		return "crc"
	case MethodMD5:
		return "md5"
	case MethodSHA1:
		return "sha1"
	}
	return "method(" + strconv.Itoa(int(m)) + ")"
}

// ParseMethod parses the method word of an authkeys line.
func ParseMethod(s string) (Method, error) {
	switch s {
	case "crc":
		return MethodCRC, nil
	case "md5":
		return MethodMD5, nil
	case "sha1":
		return MethodSHA1, nil
	}
	return 0, fmt.Errorf("unknown authentication method %q", s)
}

// Key is one authkeys line: "N method [secret]".
type Key struct {
	Index  int
	Method Method
	Secret []byte
}

// Keyring holds every key of authkeys; Active ("auth N") signs outgoing
// messages, all keys are accepted on receive (key rotation).
type Keyring struct {
	Active int
	Keys   map[int]Key
}

// Key returns the key with the given authkeys index.
func (r *Keyring) Key(index int) (Key, bool) {
	if r == nil {
		return Key{}, false
	}
	k, ok := r.Keys[index]
	return k, ok
}

// ActiveKey returns the key that signs outgoing messages.
func (r *Keyring) ActiveKey() (Key, error) {
	if r == nil {
		return Key{}, fmt.Errorf("%w: no keyring", ErrUnknownKey)
	}
	k, ok := r.Keys[r.Active]
	if !ok {
		return Key{}, fmt.Errorf("%w: active key %d not in keyring", ErrUnknownKey, r.Active)
	}
	return k, nil
}

// Error kinds returned (wrapped) by Unmarshal, Marshal and VerifyInner.
var (
	// ErrMalformed: the datagram (or message) does not follow the wire format.
	ErrMalformed = errors.New("malformed message")
	// ErrAuth: a digest does not match (wrong key, wrong method, tampering).
	ErrAuth = errors.New("authentication failed")
	// ErrUnknownKey: the key index named by the message is not in the keyring.
	ErrUnknownKey = errors.New("unknown authentication key")
)

// Limits enforced on receive (and on send, so that whatever we send a peer of
// ours accepts).
const (
	// MaxDatagram is the largest datagram accepted or produced.
	MaxDatagram = 64 << 10
	// MaxFields is the largest number of fields in one message.
	MaxFields = 256
)

// Wire markers (cluster-glue include/ha_msg.h).
const (
	netStart     = "###\n" // MSG_START_NETSTRING
	netEnd       = "%%%\n" // MSG_END_NETSTRING
	classicStart = ">>>\n" // MSG_START
	classicEnd   = "<<<\n" // MSG_END
	authName     = "auth"  // F_AUTH
	// classicNL replaces '\n' inside string values in the classic text form
	// (SPECIAL_SYM in cluster-glue cl_msg_types.c).
	classicNL = 0x13
)
