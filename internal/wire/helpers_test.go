package wire

import "encoding/base64"

func b64(v []byte) string { return base64.StdEncoding.EncodeToString(v) }
