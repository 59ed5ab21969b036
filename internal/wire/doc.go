// Package wire encodes and decodes the messages Heartbeat 3.0.6 puts on the
// wire, byte-compatible with the C implementation (cluster-glue cl_msg.c,
// cl_netstring.c, cl_msg_types.c).
//
// A datagram holds one message in netstring form:
//
//	"###\n"  <len>":("<type>")"<name>"="<value>","  ...  "%%%\n"  <len>":"<N>" "<digest>","
//
// Fields keep their insertion order. The trailer is the outer authentication:
// the digest, with authkeys key N, of every byte from "###\n" through "%%%\n".
// With the default msgfmt classic the sender also appends an inner "auth"
// field, the digest of the classic text rendering of the other fields
// (name=value lines, '\n' in values as 0x13, binary values in base64).
// Digests are crc (CRC-32, polynomial 0x04C11DB7, MSB first, init 0, final
// XOR, printed %lx), md5 (HMAC-MD5) or sha1 (HMAC-SHA1), in lowercase hex.
//
// Marshal and AppendMarshal produce that form (adding the inner auth unless
// the message already has one, so a decoded message re-encodes to the same
// bytes); AppendMarshal into a reused buffer does not allocate. Unmarshal
// parses strictly, bounds sizes (MaxDatagram, MaxFields) and verifies the
// trailer with whichever key of the Keyring it names; like 3.0.6 it does not
// check the inner auth of netstring packets (VerifyInner does). The classic
// ">>>\n" text form is accepted on receive, authenticated by its inner auth.
// Errors wrap ErrMalformed, ErrAuth or ErrUnknownKey.
//
// The format is specified in WIRE.md (shared reference docs); the tests
// decode real 3.0.6 captures kept in testdata/.
package wire
