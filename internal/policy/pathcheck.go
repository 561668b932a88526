package policy

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Path checks for the hasTraversal and hasAbsPath helpers. A tool server may read a path argument after
// percent-decoding it (once or more), after mapping `\` to `/` (Windows), after Unicode compatibility
// normalisation (NFKC turns the full-width `．．／` into `../`), or with an old decoder that reads over-long UTF-8
// (`%c0%ae` as `.`). The checks look at every one of those readings, so that they err on the side of denying.

// maxDecodeRounds is how many times a string is percent-decoded. A string that still decodes further after that
// (`%2525252e`, five levels deep) counts as both a traversal and an absolute path: no honest argument is encoded so
// deep, and decoding it to the end would cost time quadratic in its length.
const maxDecodeRounds = 4

// hasTraversal reports whether s, read as a path, has a parent segment: `..` between separators (`/`, `\`, or a
// look-alike of either) or at either end, also `...` and `.. ` (Windows drops a segment's trailing dots and
// spaces) and `..;x`, `..?x`, `..#x` (a path parameter, query or fragment after it). Any such segment counts,
// even one that would stay inside (`a/../b`).
func hasTraversal(s string) bool { return anyReading(s, traversalIn) }

// isAbsPath reports whether s, read as a path, is not relative to a workspace: it starts (after leading white
// space) with `/` or `\` (a root, `//host`, `\\server\share`), a drive (`C:`, then a separator or nothing),
// `~` or `~user` (a home), or `file:`.
func isAbsPath(s string) bool { return anyReading(s, absoluteIn) }

// anyReading applies check to s and to each of its percent-decodings.
func anyReading(s string, check func(string) bool) bool {
	for round := 0; ; round++ {
		if check(s) {
			return true
		}
		d, changed := percentDecode(s)
		if !changed {
			return false
		}
		if round == maxDecodeRounds {
			return true
		}
		s = d
	}
}

// percentDecode decodes %XX (and IIS's %uXXXX) where they are well-formed and keeps everything else.
func percentDecode(s string) (string, bool) {
	if strings.IndexByte(s, '%') < 0 {
		return s, false
	}
	var b strings.Builder
	b.Grow(len(s))
	changed := false
	for i := 0; i < len(s); {
		if s[i] != '%' {
			b.WriteByte(s[i])
			i++
			continue
		}
		if n, ok := hexAt(s, i+1, 2); ok {
			b.WriteByte(byte(n))
			i, changed = i+3, true
		} else if n, ok := hexAt(s, i+2, 4); ok && s[i+1]|0x20 == 'u' {
			b.WriteRune(rune(n))
			i, changed = i+6, true
		} else {
			b.WriteByte('%')
			i++
		}
	}
	return b.String(), changed
}

// hexAt reads n hex digits at s[i:].
func hexAt(s string, i, n int) (int, bool) {
	if i+n > len(s) {
		return 0, false
	}
	v := 0
	for _, c := range []byte(s[i : i+n]) {
		switch {
		case c >= '0' && c <= '9':
			v = v<<4 | int(c-'0')
		case c|0x20 >= 'a' && c|0x20 <= 'f':
			v = v<<4 | int(c|0x20-'a'+10)
		default:
			return 0, false
		}
	}
	return v, true
}

// overlong are the over-long UTF-8 spellings of '.', '/' and '\' that old decoders accepted.
var overlong = []struct{ seq, ascii string }{
	{"\xc0\xae", "."}, {"\xc0\xaf", "/"}, {"\xc1\x9c", "/"}, {"\xe0\x80\xae", "."}, {"\xe0\x80\xaf", "/"},
}

// lookAlike spells '\' and the characters NFKC turns into '.', '/' or '\' as '.' or '/'; "" for any other rune.
func lookAlike(r rune) string {
	switch r {
	case '\\', '\uff0f', '\uff3c', '\ufe68':
		return "/"
	case '\uff0e', '\ufe52', '\u2024':
		return "."
	case '\u2025':
		return ".."
	case '\u2026':
		return "..."
	}
	return ""
}

// normalize spells separators '/' and dots '.'. Only a string with a backslash or a byte past ASCII can change.
func normalize(s string) string {
	if !strings.ContainsFunc(s, func(r rune) bool { return r == '\\' || r >= utf8.RuneSelf }) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); {
		if a, n := overlongAt(s[i:]); n > 0 {
			b.WriteString(a)
			i += n
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if a := lookAlike(r); a != "" {
			b.WriteString(a)
		} else {
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return b.String()
}

// overlongAt reads an over-long spelling of '.', '/' or '\' at the start of s: its ASCII and length, or n == 0.
func overlongAt(s string) (string, int) {
	if len(s) < 2 || s[0] != 0xc0 && s[0] != 0xc1 && s[0] != 0xe0 {
		return "", 0
	}
	for _, o := range overlong {
		if strings.HasPrefix(s, o.seq) {
			return o.ascii, len(o.seq)
		}
	}
	return "", 0
}

func traversalIn(s string) bool {
	if !strings.ContainsFunc(s, func(r rune) bool { return r == '.' || r >= utf8.RuneSelf }) {
		return false
	}
	s = normalize(s)
	for seg := range strings.SplitSeq(s, "/") {
		if parentSegment(seg) {
			return true
		}
	}
	return false
}

// parentSegment: two dots or more, then nothing, only dots and spaces, or a ';', '?', '#' or NUL and anything.
func parentSegment(seg string) bool {
	dots := 0
	for dots < len(seg) && seg[dots] == '.' {
		dots++
	}
	if dots < 2 {
		return false
	}
	rest := seg[dots:]
	if rest == "" || strings.Trim(rest, ". ") == "" {
		return true
	}
	return strings.IndexByte(";?#\x00", rest[0]) >= 0
}

func absoluteIn(s string) bool {
	s = normalize(strings.TrimLeftFunc(s, unicode.IsSpace))
	switch {
	case s == "":
		return false
	case s[0] == '/':
		return true
	case len(s) >= 2 && s[1] == ':' && isASCIILetter(s[0]):
		return len(s) == 2 || s[2] == '/'
	case len(s) >= 5 && strings.EqualFold(s[:5], "file:"):
		return true
	case s[0] == '~':
		first, _, _ := strings.Cut(s[1:], "/")
		return strings.IndexFunc(first, func(r rune) bool { return !isUserChar(r) }) < 0
	}
	return false
}

func isASCIILetter(c byte) bool { return c|0x20 >= 'a' && c|0x20 <= 'z' }

func isUserChar(r rune) bool {
	return r < utf8.RuneSelf && (isASCIILetter(byte(r)) || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-')
}
