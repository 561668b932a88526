package audit

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
)

// Version is the format version every line carries as "v". Verify rejects any other value.
const Version = 1

// Genesis is the "prev" of the first line: "sha256:" and 64 zeros.
const Genesis = "sha256:0000000000000000000000000000000000000000000000000000000000000000"

// MaxLineBytes bounds one line, newline excluded. Append refuses a record whose line would be longer; Verify reports a
// longer line instead of reading it into memory.
const MaxLineBytes = 1 << 20

// hashKey starts the last member of every line; the member is hashKey, 64 lowercase hex digits, and `"` — then the
// line's closing brace.
const hashKey = `,"hash":"sha256:`

// suffixLen is the length of the line's tail that the hash does not cover: hashKey, the digest, `"}`.
const suffixLen = len(hashKey) + 2*sha256.Size + len(`"}`)

// line is what one line decodes to: the chain members, then the Record's members in their declared order, then the
// hash. The body a hash covers is exactly encoding/json's output for this struct without Hash (see appendLine).
type line struct {
	V    int    `json:"v"`
	Seq  uint64 `json:"seq"`
	Prev string `json:"prev"`
	Record
	Hash string `json:"hash"`
}

// digest is a SHA-256 hash; the zero digest is the chain's genesis.
type digest [sha256.Size]byte

func (d digest) String() string { return "sha256:" + hex.EncodeToString(d[:]) }

// parseDigest reads "sha256:<64 lowercase hex>".
func parseDigest(s string) (digest, error) {
	var d digest
	hexPart, ok := bytes.CutPrefix([]byte(s), []byte("sha256:"))
	if !ok || len(hexPart) != 2*sha256.Size || !isLowerHex(hexPart) {
		return d, fmt.Errorf("%q is not sha256:<64 lowercase hex digits>", s)
	}
	_, err := hex.Decode(d[:], hexPart)
	return d, err
}

func isLowerHex(b []byte) bool {
	for _, c := range b {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// encodeRecord is r's JSON object as encoding/json writes it, without HTML escaping and without a trailing newline.
func encodeRecord(r Record) ([]byte, error) {
	var buf bytes.Buffer
	buf.Grow(512) // a gateway record's size: one allocation rather than a few as it grows
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(r); err != nil {
		return nil, fmt.Errorf("encoding audit record: %w", err)
	}
	b := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	if len(b) < 2 || b[0] != '{' || b[len(b)-1] != '}' || b[1] == '}' {
		return nil, fmt.Errorf("encoding audit record: not a non-empty JSON object: %.40q", b)
	}
	return b, nil
}

// appendLine appends the complete line for seq (newline included) to dst and returns it with the line's hash. rec is
// encodeRecord's output. The body is `{"v":1,"seq":N,"prev":"sha256:…",` followed by rec's members and closing brace:
// byte for byte what encoding/json writes for line{V, Seq, Prev, Record} without Hash (a test holds it to that). The
// hash is SHA-256 of the body; the line is the body with its closing brace replaced by `,"hash":"sha256:…"}`.
func appendLine(dst []byte, seq uint64, prev digest, rec []byte) ([]byte, digest) {
	start := len(dst)
	dst = append(dst, `{"v":`...)
	dst = strconv.AppendInt(dst, Version, 10)
	dst = append(dst, `,"seq":`...)
	dst = strconv.AppendUint(dst, seq, 10)
	dst = append(dst, `,"prev":"sha256:`...)
	dst = hex.AppendEncode(dst, prev[:])
	dst = append(dst, `",`...)
	dst = append(dst, rec[1:]...)
	sum := digest(sha256.Sum256(dst[start:]))
	dst = append(dst[:len(dst)-1], hashKey...)
	dst = hex.AppendEncode(dst, sum[:])
	dst = append(dst, "\"}\n"...)
	return dst, sum
}

// bodyDigest returns the hash a line (without newline) claims in its last member and the hash of its body, or ok false
// when the line does not end in the hash member.
func bodyDigest(ln []byte) (stored, computed digest, ok bool) {
	if len(ln) < suffixLen+2 {
		return stored, computed, false
	}
	suffix := ln[len(ln)-suffixLen:]
	hexPart, rest, found := bytes.Cut(suffix[len(hashKey):], []byte(`"`))
	if !bytes.HasPrefix(suffix, []byte(hashKey)) || !found || string(rest) != "}" ||
		len(hexPart) != 2*sha256.Size || !isLowerHex(hexPart) {
		return stored, computed, false
	}
	if _, err := hex.Decode(stored[:], hexPart); err != nil {
		return stored, computed, false
	}
	h := sha256.New()
	h.Write(ln[:len(ln)-suffixLen])
	h.Write([]byte("}"))
	h.Sum(computed[:0])
	return stored, computed, true
}
