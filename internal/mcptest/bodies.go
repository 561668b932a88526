package mcptest

import (
	"encoding/base64"
	"encoding/binary"
	"unicode/utf16"
)

// UTF7Hide encodes s as one UTF-7 base64 run ("+...-"). A UTF-8 reader sees only letters, digits, '+', '/' and
// '-'; a reader that honours charset=utf-7 (the TypeScript SDK behind its Express helper does) sees s. Attack
// tests use it to build bodies that two readers read differently.
func UTF7Hide(s string) string {
	var b []byte
	for _, u := range utf16.Encode([]rune(s)) {
		b = binary.BigEndian.AppendUint16(b, u)
	}
	return "+" + base64.RawStdEncoding.EncodeToString(b) + "-"
}

// UTF7SmuggledCall returns a tools/call body (JSON-RPC id 7) that a UTF-8 reader sees as a call of echo with one
// odd-looking message, and a reader honouring charset=utf-7 sees as a call of hidden with arguments {"x":""}: the
// hidden text closes the message and repeats "name" and "arguments", and JSON.parse keeps the last of duplicate
// keys.
func UTF7SmuggledCall(hidden string) []byte {
	return []byte(`{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"echo","arguments":{"message":"x` +
		UTF7Hide(`"},"name":"`+hidden+`","arguments":{"x":"`) + `"}}}`)
}
