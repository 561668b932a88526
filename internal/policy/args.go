package policy

import (
	"errors"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// Limits on a call's arguments, checked before any expression sees them.
const (
	defaultMaxArgsBytes = 1 << 20 // spec.defaults.maxArgsBytes
	maxArgsDepth        = 32      // nesting of objects and arrays, the arguments object itself being 1
)

// Argument errors. They never quote the arguments.
var (
	errArgsTooLarge  = errors.New("the arguments are larger than the policy allows")
	errArgsTooDeep   = errors.New("the arguments are nested more than 32 levels deep")
	errArgsNotObject = errors.New("the arguments are not a JSON object")
	errArgsSyntax    = errors.New("the arguments are not valid JSON")
	errArgsDupKey    = errors.New("the arguments repeat a key in one object")
	errArgsUTF8      = errors.New("the arguments hold invalid UTF-8 or a lone surrogate")
	errArgsNumber    = errors.New("the arguments hold a number out of range")
)

// decodeArgs checks and decodes a call's arguments: a JSON object (or no bytes, or null: an empty object) within the
// size and depth limits, with valid UTF-8 and no repeated keys (a repeated key would let the policy see one value
// and the server another). Objects become map[string]any, arrays []any, integral numbers int64 (when they fit),
// other numbers float64.
func decodeArgs(raw []byte, maxBytes int) (map[string]any, error) {
	v, err := parseArgs(raw, maxBytes)
	if err != nil {
		return nil, err
	}
	if m, ok := v.(map[string]any); ok {
		return m, nil
	}
	return map[string]any{}, nil
}

func parseArgs(raw []byte, maxBytes int) (any, error) {
	if len(raw) > maxBytes {
		return nil, errArgsTooLarge
	}
	if len(raw) == 0 {
		return nil, nil
	}
	p := &jsonParser{s: raw}
	p.space()
	if p.i == len(p.s) {
		return nil, errArgsSyntax
	}
	if p.s[p.i] != '{' && !p.literal("null") {
		return nil, errArgsNotObject
	}
	v, err := p.value(0)
	if err != nil {
		return nil, err
	}
	if p.space(); p.i != len(p.s) {
		return nil, errArgsSyntax
	}
	return v, nil
}

// jsonParser is a small strict JSON parser. encoding/json keeps the last of repeated keys and replaces bad UTF-8;
// a policy must refuse both.
type jsonParser struct {
	s []byte
	i int
}

func (p *jsonParser) space() {
	for p.i < len(p.s) {
		switch p.s[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

func (p *jsonParser) literal(lit string) bool {
	return len(p.s)-p.i >= len(lit) && string(p.s[p.i:p.i+len(lit)]) == lit
}

func (p *jsonParser) value(depth int) (any, error) {
	p.space()
	if p.i == len(p.s) {
		return nil, errArgsSyntax
	}
	switch c := p.s[p.i]; {
	case c == '{':
		return p.object(depth + 1)
	case c == '[':
		return p.array(depth + 1)
	case c == '"':
		return p.str()
	case c == '-' || (c >= '0' && c <= '9'):
		return p.number()
	}
	for _, lit := range [...]struct {
		s string
		v any
	}{{"true", true}, {"false", false}, {"null", nil}} {
		if p.literal(lit.s) {
			p.i += len(lit.s)
			return lit.v, nil
		}
	}
	return nil, errArgsSyntax
}

func (p *jsonParser) object(depth int) (any, error) {
	if depth > maxArgsDepth {
		return nil, errArgsTooDeep
	}
	p.i++ // {
	m := map[string]any{}
	for first := true; ; first = false {
		p.space()
		if p.i < len(p.s) && p.s[p.i] == '}' && first {
			p.i++
			return m, nil
		}
		if p.i >= len(p.s) || p.s[p.i] != '"' {
			return nil, errArgsSyntax
		}
		k, err := p.str()
		if err != nil {
			return nil, err
		}
		if _, dup := m[k]; dup {
			return nil, errArgsDupKey
		}
		if p.space(); p.i >= len(p.s) || p.s[p.i] != ':' {
			return nil, errArgsSyntax
		}
		p.i++
		v, err := p.value(depth)
		if err != nil {
			return nil, err
		}
		m[k] = v
		if done, err := p.next('}'); done || err != nil {
			return m, err
		}
	}
}

func (p *jsonParser) array(depth int) (any, error) {
	if depth > maxArgsDepth {
		return nil, errArgsTooDeep
	}
	p.i++ // [
	list := []any{}
	for first := true; ; first = false {
		p.space()
		if p.i < len(p.s) && p.s[p.i] == ']' && first {
			p.i++
			return list, nil
		}
		v, err := p.value(depth)
		if err != nil {
			return nil, err
		}
		list = append(list, v)
		if done, err := p.next(']'); done || err != nil {
			return list, err
		}
	}
}

// next consumes a ',' (more to come) or the closing byte (done).
func (p *jsonParser) next(closing byte) (done bool, err error) {
	p.space()
	if p.i >= len(p.s) {
		return true, errArgsSyntax
	}
	switch p.s[p.i] {
	case ',':
		p.i++
		return false, nil
	case closing:
		p.i++
		return true, nil
	}
	return true, errArgsSyntax
}

func (p *jsonParser) number() (any, error) {
	start, integral := p.i, true
	if p.s[p.i] == '-' {
		p.i++
	}
	if !p.digits() {
		return nil, errArgsSyntax
	}
	if p.s[start] == '0' && p.i-start > 1 || (p.s[start] == '-' && p.s[start+1] == '0' && p.i-start > 2) {
		return nil, errArgsSyntax // leading zero
	}
	if p.i < len(p.s) && p.s[p.i] == '.' {
		p.i, integral = p.i+1, false
		if !p.digits() {
			return nil, errArgsSyntax
		}
	}
	if p.i < len(p.s) && (p.s[p.i] == 'e' || p.s[p.i] == 'E') {
		p.i, integral = p.i+1, false
		if p.i < len(p.s) && (p.s[p.i] == '+' || p.s[p.i] == '-') {
			p.i++
		}
		if !p.digits() {
			return nil, errArgsSyntax
		}
	}
	text := string(p.s[start:p.i])
	if integral {
		if n, err := strconv.ParseInt(text, 10, 64); err == nil {
			return n, nil
		}
	}
	f, err := strconv.ParseFloat(text, 64)
	if err != nil { // out of float64's range, which encoding/json refuses too
		return nil, errArgsNumber
	}
	return f, nil
}

func (p *jsonParser) digits() bool {
	start := p.i
	for p.i < len(p.s) && p.s[p.i] >= '0' && p.s[p.i] <= '9' {
		p.i++
	}
	return p.i > start
}

// str reads a string, decoding escapes (so that "a" and "\\u0061" are the same key).
func (p *jsonParser) str() (string, error) {
	p.i++ // "
	start := p.i
	for p.i < len(p.s) {
		switch c := p.s[p.i]; {
		case c == '"':
			s := p.s[start:p.i]
			p.i++
			if !utf8.Valid(s) {
				return "", errArgsUTF8
			}
			return string(s), nil
		case c == '\\':
			return p.escaped(start)
		case c < 0x20:
			return "", errArgsSyntax
		default:
			p.i++
		}
	}
	return "", errArgsSyntax
}

// escaped finishes a string that has an escape, from its first byte at start.
func (p *jsonParser) escaped(start int) (string, error) {
	buf := append([]byte(nil), p.s[start:p.i]...)
	for p.i < len(p.s) {
		c := p.s[p.i]
		switch {
		case c == '"':
			p.i++
			if !utf8.Valid(buf) {
				return "", errArgsUTF8
			}
			return string(buf), nil
		case c < 0x20:
			return "", errArgsSyntax
		case c != '\\':
			buf = append(buf, c)
			p.i++
			continue
		}
		if p.i+1 >= len(p.s) {
			return "", errArgsSyntax
		}
		e := p.s[p.i+1]
		p.i += 2
		if r, ok := simpleEscape(e); ok {
			buf = append(buf, r)
			continue
		}
		if e != 'u' {
			return "", errArgsSyntax
		}
		r, err := p.unicodeEscape()
		if err != nil {
			return "", err
		}
		buf = utf8.AppendRune(buf, r)
	}
	return "", errArgsSyntax
}

func simpleEscape(e byte) (byte, bool) {
	switch e {
	case '"', '\\', '/':
		return e, true
	case 'b':
		return '\b', true
	case 'f':
		return '\f', true
	case 'n':
		return '\n', true
	case 'r':
		return '\r', true
	case 't':
		return '\t', true
	}
	return 0, false
}

// unicodeEscape reads the XXXX of \uXXXX (and a second \uXXXX for a surrogate pair).
func (p *jsonParser) unicodeEscape() (rune, error) {
	r, ok := p.hex4()
	if !ok {
		return 0, errArgsSyntax
	}
	if !utf16.IsSurrogate(r) {
		return r, nil
	}
	if !p.literal(`\u`) {
		return 0, errArgsUTF8
	}
	p.i += 2
	r2, ok := p.hex4()
	if !ok {
		return 0, errArgsSyntax
	}
	if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
		return dec, nil
	}
	return 0, errArgsUTF8
}

func (p *jsonParser) hex4() (rune, bool) {
	if len(p.s)-p.i < 4 {
		return 0, false
	}
	n, err := strconv.ParseUint(string(p.s[p.i:p.i+4]), 16, 32)
	if err != nil {
		return 0, false
	}
	p.i += 4
	return rune(n), true
}
