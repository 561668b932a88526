package gateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// The gateway judges one reading of a message and forwards exactly that reading: canonicalize turns a request body
// into a form every JSON parser reads the same way, and the policy and the tool server both get that form. Whatever
// could be read two ways is refused instead of normalised silently.
//
// The canonical form: UTF-8; no insignificant whitespace; object members sorted by key (byte order); strings with
// the shortest escaping (only '"', '\\' and control characters escaped); numbers as written. Refused: two keys equal
// under Unicode case folding (Go's decoder merges them, others keep the last or the first), escaped lone
// surrogates (Go reads U+FFFD, JavaScript keeps the surrogate), the character U+0000 (C parsers end the string
// there), integers beyond ±2^53 (JavaScript rounds them, Go and Python do not), numbers beyond the float64 range,
// nesting deeper than maxJSONDepth, more than maxObjectMembers members in an object and more than maxJSONValues
// values in a message (so that no policy work is spent on a hostile shape).
const (
	maxJSONDepth     = 64
	maxObjectMembers = 4096
	maxJSONValues    = 1 << 16
	maxSafeInteger   = 1<<53 - 1
)

var (
	errAmbiguous = errors.New("ambiguous")
	errTooDeep   = fmt.Errorf("JSON nested deeper than %d", maxJSONDepth)
	errTooBig    = errors.New("too many values")
	errSyntax    = errors.New("malformed JSON")
)

// canonError is a reason a body cannot be canonicalised; kind says whether it is malformed (parse error) or valid
// JSON the gateway refuses (invalid request).
type canonError struct {
	kind   error // errSyntax, errAmbiguous, errTooDeep or errTooBig
	reason string
}

func (e *canonError) Error() string { return e.reason }
func (e *canonError) Unwrap() error { return e.kind }

// canonicalize returns the canonical form of a JSON text, or why it has none. The text must be UTF-8.
func canonicalize(body []byte) ([]byte, error) {
	if !jsonValid(body) {
		return nil, &canonError{errSyntax, "malformed JSON"}
	}
	c := canonicalizer{in: body, out: make([]byte, 0, len(body))}
	c.skipSpace()
	if err := c.value(0); err != nil {
		return nil, err
	}
	return c.out, nil
}

type canonicalizer struct {
	in     []byte
	pos    int
	out    []byte
	values int
}

func (c *canonicalizer) skipSpace() {
	for c.pos < len(c.in) {
		switch c.in[c.pos] {
		case ' ', '\t', '\n', '\r':
			c.pos++
		default:
			return
		}
	}
}

// value copies one value (the text is known to be valid JSON) in canonical form.
func (c *canonicalizer) value(depth int) error {
	if c.values++; c.values > maxJSONValues {
		return &canonError{errTooBig, fmt.Sprintf("more than %d JSON values in one message", maxJSONValues)}
	}
	switch b := c.in[c.pos]; {
	case b == '{':
		return c.object(depth + 1)
	case b == '[':
		return c.array(depth + 1)
	case b == '"':
		s, err := c.str()
		if err != nil {
			return err
		}
		c.out = appendString(c.out, s)
		return nil
	case b == 't' || b == 'f' || b == 'n':
		n := 4
		if b == 'f' {
			n = 5
		}
		c.out = append(c.out, c.in[c.pos:c.pos+n]...)
		c.pos += n
		return nil
	default:
		return c.number()
	}
}

// member is one member of an object being copied: its key and where the member (key, colon, value) lies in out.
type member struct {
	key        string
	start, end int
}

// object copies an object with its members sorted by key; members already in order are not moved.
func (c *canonicalizer) object(depth int) error {
	if depth > maxJSONDepth {
		return &canonError{errTooDeep, errTooDeep.Error()}
	}
	c.pos++ // {
	objStart := len(c.out)
	c.out = append(c.out, '{')
	var members []member
	folded := map[string]string{}
	sorted := true
	for {
		c.skipSpace()
		if c.in[c.pos] == '}' {
			c.pos++
			break
		}
		if c.in[c.pos] == ',' {
			c.pos++
			c.skipSpace()
		}
		key, err := c.str()
		if err != nil {
			return err
		}
		if err := checkMember(folded, key, len(members)); err != nil {
			return err
		}
		if len(members) > 0 {
			c.out = append(c.out, ',')
			sorted = sorted && members[len(members)-1].key < key
		}
		m := member{key: key, start: len(c.out)}
		c.out = append(appendString(c.out, key), ':')
		c.skipSpace()
		c.pos++ // :
		c.skipSpace()
		if err := c.value(depth); err != nil {
			return err
		}
		m.end = len(c.out)
		members = append(members, m)
	}
	c.out = append(c.out, '}')
	if !sorted {
		c.sortMembers(objStart, members)
	}
	return nil
}

// sortMembers rewrites the object copied from objStart with its members in key order.
func (c *canonicalizer) sortMembers(objStart int, members []member) {
	slices.SortFunc(members, func(a, b member) int { return strings.Compare(a.key, b.key) })
	tmp := make([]byte, 0, len(c.out)-objStart)
	tmp = append(tmp, '{')
	for i, m := range members {
		if i > 0 {
			tmp = append(tmp, ',')
		}
		tmp = append(tmp, c.out[m.start:m.end]...)
	}
	tmp = append(tmp, '}')
	c.out = append(c.out[:objStart], tmp...)
}

// checkMember refuses a key an object already has, in any case, and an object with too many members.
func checkMember(folded map[string]string, key string, n int) error {
	if n >= maxObjectMembers {
		return &canonError{errTooBig, fmt.Sprintf("an object has more than %d members", maxObjectMembers)}
	}
	f := foldKey(key)
	if prev, ok := folded[f]; ok {
		if prev == key {
			return &canonError{errAmbiguous, fmt.Sprintf("an object has the key %q twice", key)}
		}
		return &canonError{errAmbiguous, fmt.Sprintf("an object has the keys %q and %q, which differ only in case", prev, key)}
	}
	for _, r := range key {
		if r < 0x20 || r == 0x7f {
			return &canonError{errAmbiguous, fmt.Sprintf("the key %q holds a control character", key)}
		}
	}
	folded[f] = key
	return nil
}

func (c *canonicalizer) array(depth int) error {
	if depth > maxJSONDepth {
		return &canonError{errTooDeep, errTooDeep.Error()}
	}
	c.pos++ // [
	c.out = append(c.out, '[')
	first := true
	for {
		c.skipSpace()
		if c.in[c.pos] == ']' {
			c.pos++
			break
		}
		if c.in[c.pos] == ',' {
			c.pos++
			c.skipSpace()
		}
		if !first {
			c.out = append(c.out, ',')
		}
		first = false
		if err := c.value(depth); err != nil {
			return err
		}
	}
	c.out = append(c.out, ']')
	return nil
}

// str decodes the string at pos. It refuses escaped lone surrogates and U+0000.
func (c *canonicalizer) str() (string, error) {
	c.pos++ // opening quote
	start := c.pos
	for c.in[c.pos] != '"' && c.in[c.pos] != '\\' {
		c.pos++
	}
	if c.in[c.pos] == '"' { // no escapes: the bytes are the string
		s := string(c.in[start:c.pos])
		c.pos++
		return s, nil
	}
	var b strings.Builder
	b.Write(c.in[start:c.pos])
	for {
		switch ch := c.in[c.pos]; ch {
		case '"':
			c.pos++
			return b.String(), nil
		case '\\':
			if err := c.escape(&b); err != nil {
				return "", err
			}
		default:
			b.WriteByte(ch)
			c.pos++
		}
	}
}

var simpleEscapes = map[byte]byte{'"': '"', '\\': '\\', '/': '/', 'b': '\b', 'f': '\f', 'n': '\n', 'r': '\r', 't': '\t'}

// escape decodes the escape sequence at pos (a backslash) into b.
func (c *canonicalizer) escape(b *strings.Builder) error {
	e := c.in[c.pos+1]
	if r, ok := simpleEscapes[e]; ok {
		b.WriteByte(r)
		c.pos += 2
		return nil
	}
	r := hex4(c.in[c.pos+2 : c.pos+6])
	c.pos += 6
	switch {
	case r == 0:
		return &canonError{errAmbiguous, `a string holds the character U+0000 (\u0000)`}
	case utf16IsHigh(r) && c.pos+6 <= len(c.in) && c.in[c.pos] == '\\' && c.in[c.pos+1] == 'u':
		low := hex4(c.in[c.pos+2 : c.pos+6])
		if !utf16IsLow(low) {
			return loneSurrogate()
		}
		c.pos += 6
		b.WriteRune(0x10000 + (r-0xd800)<<10 + (low - 0xdc00))
	case utf16IsHigh(r) || utf16IsLow(r):
		return loneSurrogate()
	default:
		b.WriteRune(r)
	}
	return nil
}

func loneSurrogate() error {
	return &canonError{errAmbiguous, "a string holds an escaped lone UTF-16 surrogate, which JSON parsers read differently"}
}

func utf16IsHigh(r rune) bool { return r >= 0xd800 && r < 0xdc00 }
func utf16IsLow(r rune) bool  { return r >= 0xdc00 && r < 0xe000 }

func hex4(b []byte) rune {
	var r rune
	for _, h := range b {
		r <<= 4
		switch {
		case h >= '0' && h <= '9':
			r |= rune(h - '0')
		case h >= 'a' && h <= 'f':
			r |= rune(h - 'a' + 10)
		default:
			r |= rune(h - 'A' + 10)
		}
	}
	return r
}

// number copies a number as written, refusing those parsers read differently: integers beyond ±(2^53-1), and
// anything beyond the float64 range.
func (c *canonicalizer) number() error {
	start := c.pos
	integer := true
	for c.pos < len(c.in) {
		ch := c.in[c.pos]
		if ch == '.' || ch == 'e' || ch == 'E' {
			integer = false
		} else if (ch < '0' || ch > '9') && ch != '-' && ch != '+' {
			break
		}
		c.pos++
	}
	lit := c.in[start:c.pos]
	f, err := strconv.ParseFloat(string(lit), 64)
	switch {
	case err != nil || math.IsInf(f, 0):
		return &canonError{errAmbiguous, fmt.Sprintf("the number %.40s is beyond the float64 range", lit)}
	case integer && math.Abs(f) > maxSafeInteger:
		return &canonError{errAmbiguous, fmt.Sprintf(
			"the integer %.40s is beyond ±(2^53-1), which JSON parsers read differently; send it as a string", lit)}
	}
	c.out = append(c.out, lit...)
	return nil
}

// appendString writes s as a JSON string with the shortest escaping.
func appendString(out []byte, s string) []byte {
	out = append(out, '"')
	for i := 0; i < len(s); {
		b := s[i]
		switch {
		case b == '"' || b == '\\':
			out = append(out, '\\', b)
		case b < 0x20:
			switch b {
			case '\n':
				out = append(out, '\\', 'n')
			case '\r':
				out = append(out, '\\', 'r')
			case '\t':
				out = append(out, '\\', 't')
			case '\b':
				out = append(out, '\\', 'b')
			case '\f':
				out = append(out, '\\', 'f')
			default:
				out = append(out, '\\', 'u', '0', '0', hexDigit(b>>4), hexDigit(b&0xf))
			}
		default:
			if b < utf8.RuneSelf {
				out = append(out, b)
				break
			}
			_, n := utf8.DecodeRuneInString(s[i:])
			out = append(out, s[i:i+n]...)
			i += n
			continue
		}
		i++
	}
	return append(out, '"')
}

func hexDigit(b byte) byte { return "0123456789abcdef"[b] }

// jsonValid reports whether body is exactly one JSON value (surrounding whitespace allowed), without a byte order
// mark.
func jsonValid(body []byte) bool {
	return !bytes.HasPrefix(body, []byte("\xef\xbb\xbf")) && jsonValidStd(body)
}

func jsonValidStd(b []byte) bool { return json.Valid(b) }
