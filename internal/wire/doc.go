// Package wire encodes and decodes the messages Heartbeat 3.0.6 puts on the
// wire: netstring framing with typed fields, the outer trailer digest and the
// inner "auth" field, signed with crc, md5 (HMAC-MD5) or sha1 (HMAC-SHA1) as
// configured in authkeys. The classic ">>>" text form is accepted on receive.
//
// The format is specified in docs/wire.md (from shared/WIRE.md).
package wire
