package k8s

import (
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"

	yaml "go.yaml.in/yaml/v2"
)

// EncodeYAML writes a generic value (maps with string keys, []any, strings, int64, float64, bool, nil) exactly as
// yaml.v2's Marshal does, without its reflection and event machinery: at 1,000 services that encoder was most of the
// time spent writing the tree. Whatever the fast path does not handle (non-ASCII or control characters, multi-line
// strings, long keys, other types) makes the whole document go through yaml.v2 instead, so the output is the same
// byte for byte; FuzzEncodeYAML holds the two equal.
func EncodeYAML(v any) ([]byte, error) {
	e := yamlEncoder{buf: make([]byte, 0, 2048)}
	if e.root(v) {
		return e.buf, nil
	}
	return yaml.Marshal(v)
}

// yamlEncoder replays libyaml's block emitter (best indent 2, best width 80) for the values it knows.
type yamlEncoder struct {
	buf    []byte
	column int
}

const (
	bestWidth    = 80
	maxSimpleKey = 128
)

func (e *yamlEncoder) root(v any) bool {
	switch t := v.(type) {
	case map[string]any:
		if len(t) == 0 {
			e.write("{}")
		} else if !e.mapping(t, 0, true) {
			return false
		}
	case []map[string]any:
		if len(t) == 0 {
			e.write("[]")
		} else {
			for i, m := range t {
				if !e.seqItem(m, 0, i == 0) {
					return false
				}
			}
		}
	case []any:
		if len(t) == 0 {
			e.write("[]")
		} else if !e.sequence(t, 0, true) {
			return false
		}
	default:
		return false
	}
	e.newline()
	return true
}

func (e *yamlEncoder) write(s string) {
	e.buf = append(e.buf, s...)
	e.column += len(s) // ASCII only: the fast path refuses everything else
}

func (e *yamlEncoder) newline() {
	e.buf = append(e.buf, '\n')
	e.column = 0
}

// indent starts a new line at the indentation, unless the line so far is exactly that indentation (after "- ").
func (e *yamlEncoder) indent(n int, sameLine bool) {
	if !sameLine {
		e.newline()
	}
	for e.column < n {
		e.buf = append(e.buf, ' ')
		e.column++
	}
}

// mapping writes a block mapping whose keys sit at column ind; sameLine tells that the first key goes where the
// cursor stands (after "- ", or at the document's start).
func (e *yamlEncoder) mapping(m map[string]any, ind int, sameLine bool) bool {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keyLess(keys[i], keys[j]) })
	for i, k := range keys {
		e.indent(ind, i == 0 && sameLine)
		if len(k) > maxSimpleKey || !e.scalar(k, ind, true) {
			return false
		}
		e.write(":")
		if !e.value(m[k], ind, true) {
			return false
		}
	}
	return true
}

// value writes the value of a mapping key (inMap) or of a sequence item, the container's indentation being ind.
func (e *yamlEncoder) value(v any, ind int, inMap bool) bool {
	switch t := v.(type) {
	case map[string]any:
		if len(t) == 0 {
			e.write(" {}")
			return true
		}
		if inMap {
			return e.mapping(t, ind+2, false)
		}
		e.write(" ")
		return e.mapping(t, ind+2, true)
	case []any:
		if len(t) == 0 {
			e.write(" []")
			return true
		}
		if inMap {
			return e.sequence(t, ind, false) // libyaml does not indent a sequence inside a mapping
		}
		e.write(" ")
		return e.sequence(t, ind+2, true)
	case string:
		e.write(" ")
		return e.scalar(t, ind+2, false)
	case int64:
		e.write(" ")
		e.write(strconv.FormatInt(t, 10))
	case float64:
		e.write(" ")
		e.write(formatFloat(t))
	case bool:
		e.write(" ")
		e.write(strconv.FormatBool(t))
	case nil:
		e.write(" null")
	default:
		return false
	}
	return true
}

func (e *yamlEncoder) sequence(l []any, ind int, sameLine bool) bool {
	for i, v := range l {
		if !e.seqItem(v, ind, i == 0 && sameLine) {
			return false
		}
	}
	return true
}

func (e *yamlEncoder) seqItem(v any, ind int, sameLine bool) bool {
	e.indent(ind, sameLine)
	e.write("-")
	return e.value(v, ind, false)
}

func formatFloat(f float64) string {
	switch {
	case math.IsInf(f, 1):
		return ".inf"
	case math.IsInf(f, -1):
		return "-.inf"
	case math.IsNaN(f):
		return ".nan"
	}
	return strconv.FormatFloat(f, 'g', -1, 64)
}

// scalar writes a string as yaml.v2 styles it: plain when it reads back as the same string, else single-quoted when
// only its first or last characters are in the way, else double-quoted; long values fold at spaces past column 80,
// continuing at ind. It refuses what the fast path does not handle.
func (e *yamlEncoder) scalar(s string, ind int, key bool) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	switch {
	case plainIsString(s) && !isBase60Float(s):
		if blockPlainAllowed(s) {
			e.folded(s, ind, !key, 0)
		} else {
			e.single(s, ind, !key)
		}
	default:
		e.double(s, ind, !key)
	}
	return true
}

// folded writes s (no quoting needed, quote doubled when q is set), breaking lines as libyaml does at a space past
// the best width; quoted scalars never break at their first or last character.
func (e *yamlEncoder) folded(s string, ind int, breaks bool, q byte) {
	spaces := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == ' ' {
			next := i+1 < len(s) && s[i+1] == ' '
			inner := q == 0 || i > 0 && i < len(s)-1
			if breaks && !spaces && e.column > bestWidth && inner && (q == '"' || !next) {
				e.indent(ind, false)
				if q == '"' && next {
					e.buf = append(e.buf, '\\')
					e.column++
				}
			} else {
				e.buf = append(e.buf, ' ')
				e.column++
			}
			spaces = true
			continue
		}
		switch {
		case q == '\'' && c == '\'':
			e.buf = append(e.buf, '\'', '\'')
			e.column += 2
		case q == '"' && (c == '"' || c == '\\'):
			e.buf = append(e.buf, '\\', c)
			e.column += 2
		default:
			e.buf = append(e.buf, c)
			e.column++
		}
		spaces = false
	}
}

func (e *yamlEncoder) single(s string, ind int, breaks bool) {
	e.write("'")
	e.folded(s, ind, breaks, '\'')
	e.write("'")
}

func (e *yamlEncoder) double(s string, ind int, breaks bool) {
	e.write(`"`)
	e.folded(s, ind, breaks, '"')
	e.write(`"`)
}

// blockPlainAllowed is libyaml's analysis of a printable ASCII scalar: no leading or trailing space, no indicator
// at its start, no ": " or " #" inside, not a document marker.
func blockPlainAllowed(s string) bool {
	if s == "" {
		return true
	}
	if s[0] == ' ' || s[len(s)-1] == ' ' {
		return false
	}
	if strings.HasPrefix(s, "---") || strings.HasPrefix(s, "...") {
		return false
	}
	for i := 0; i < len(s); i++ {
		followedBySpace := i+1 >= len(s) || s[i+1] == ' '
		switch c := s[i]; {
		case i == 0 && strings.IndexByte("#,[]{}&*!|>'\"%@`", c) >= 0:
			return false
		case i == 0 && (c == '?' || c == ':' || c == '-') && followedBySpace:
			return false
		case i > 0 && c == ':' && followedBySpace:
			return false
		case i > 0 && c == '#' && s[i-1] == ' ':
			return false
		}
	}
	return true
}

// plainIsString tells whether s, written plain, reads back as the string s (yaml.v2's resolve).
func plainIsString(s string) bool {
	if s == "" {
		return false
	}
	switch c := s[0]; {
	case c == '+' || c == '-' || c >= '0' && c <= '9':
		return !resolvesNumberOrTime(s)
	case c == '.':
		if isSpecialWord(s) {
			return false
		}
		_, err := strconv.ParseFloat(s, 64)
		return err != nil
	case strings.IndexByte("yYnNtTfFoO~", c) >= 0:
		return !isSpecialWord(s)
	}
	return true
}

func isSpecialWord(s string) bool {
	switch s {
	case "y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON",
		"n", "N", "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF",
		"~", "null", "Null", "NULL", ".nan", ".NaN", ".NAN", ".inf", ".Inf", ".INF",
		"+.inf", "+.Inf", "+.INF", "-.inf", "-.Inf", "-.INF":
		return true
	}
	return false
}

var yamlStyleFloat = regexp.MustCompile(`^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$`)

var base60float = regexp.MustCompile(`^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$`)

func isBase60Float(s string) bool {
	if s == "" {
		return false
	}
	c := s[0]
	if !(c == '+' || c == '-' || c >= '0' && c <= '9') || strings.IndexByte(s, ':') < 0 {
		return false
	}
	return base60float.MatchString(s)
}

// resolvesNumberOrTime is resolve's branch for a value starting with a sign or a digit.
func resolvesNumberOrTime(s string) bool {
	if isSpecialWord(s) || isTimestamp(s) {
		return true
	}
	plain := strings.ReplaceAll(s, "_", "")
	if _, err := strconv.ParseInt(plain, 0, 64); err == nil {
		return true
	}
	if _, err := strconv.ParseUint(plain, 0, 64); err == nil {
		return true
	}
	if yamlStyleFloat.MatchString(plain) {
		if _, err := strconv.ParseFloat(plain, 64); err == nil {
			return true
		}
	}
	if rest, ok := strings.CutPrefix(plain, "0b"); ok {
		if _, err := strconv.ParseInt(rest, 2, 64); err == nil {
			return true
		}
		if _, err := strconv.ParseUint(rest, 2, 64); err == nil {
			return true
		}
	} else if rest, ok := strings.CutPrefix(plain, "-0b"); ok {
		if _, err := strconv.ParseInt("-"+rest, 2, 64); err == nil {
			return true
		}
	}
	return false
}

var timestampFormats = []string{
	"2006-1-2T15:4:5.999999999Z07:00",
	"2006-1-2t15:4:5.999999999Z07:00",
	"2006-1-2 15:4:5.999999999",
	"2006-1-2",
}

func isTimestamp(s string) bool {
	i := 0
	for ; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
	}
	if i != 4 || i == len(s) || s[i] != '-' {
		return false
	}
	for _, f := range timestampFormats {
		if _, err := time.Parse(f, s); err == nil {
			return true
		}
	}
	return false
}

// keyLess is yaml.v2's order of string keys: letters before other characters, runs of digits by their value.
func keyLess(a, b string) bool {
	var abuf, bbuf [64]rune
	ar, br := appendRunes(abuf[:0], a), appendRunes(bbuf[:0], b)
	for i := 0; i < len(ar) && i < len(br); i++ {
		if ar[i] == br[i] {
			continue
		}
		al := unicode.IsLetter(ar[i])
		bl := unicode.IsLetter(br[i])
		if al && bl {
			return ar[i] < br[i]
		}
		if al || bl {
			return bl
		}
		var ai, bi int
		var an, bn int64
		if ar[i] == '0' || br[i] == '0' {
			for j := i - 1; j >= 0 && unicode.IsDigit(ar[j]); j-- {
				if ar[j] != '0' {
					an = 1
					bn = 1
					break
				}
			}
		}
		for ai = i; ai < len(ar) && unicode.IsDigit(ar[ai]); ai++ {
			an = an*10 + int64(ar[ai]-'0')
		}
		for bi = i; bi < len(br) && unicode.IsDigit(br[bi]); bi++ {
			bn = bn*10 + int64(br[bi]-'0')
		}
		if an != bn {
			return an < bn
		}
		if ai != bi {
			return ai < bi
		}
		return ar[i] < br[i]
	}
	return len(ar) < len(br)
}

func appendRunes(dst []rune, s string) []rune {
	for _, r := range s {
		dst = append(dst, r)
	}
	return dst
}
