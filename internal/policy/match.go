package policy

import (
	"path"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Limits on what a call may name. Matching is byte-exact: no case folding, no Unicode normalisation, no trimming.
const (
	maxToolName = 128 // the MCP specification's recommended maximum
	maxPath     = 2048
)

var (
	nameRE     = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$`)
	identityRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:@-]{0,252}(/[A-Za-z0-9][A-Za-z0-9._:@-]{0,252})?$`)
	methodRE   = regexp.MustCompile(`^([A-Z]{1,20}|\*)$`)
)

// toolNameProblem says why a tool name in a call is not canonical, or "" when it is. A name with a space, a control
// or invisible character (zero-width space, BOM, bidi mark), or invalid UTF-8 is refused before matching, so a
// server that trims or normalises names cannot be reached through a look-alike.
func toolNameProblem(s string) string {
	switch {
	case s == "":
		return "the tool name is empty"
	case len(s) > maxToolName:
		return "the tool name is longer than 128 bytes"
	case !utf8.ValidString(s):
		return "the tool name is not valid UTF-8"
	case !visible(s, false):
		return "the tool name contains a space, control or invisible character"
	}
	return ""
}

// visible reports whether every rune is printable, and not a space unless spaces are allowed.
func visible(s string, spaces bool) bool {
	for _, r := range s {
		if (r == ' ' && !spaces) || !unicode.IsPrint(r) {
			return false
		}
	}
	return true
}

// pathProblem says why an HTTP path in a call is not canonical, or "" when it is.
func pathProblem(p string) string {
	switch {
	case !strings.HasPrefix(p, "/"):
		return "the path does not start with /"
	case len(p) > maxPath:
		return "the path is longer than 2048 bytes"
	case !utf8.ValidString(p) || !visible(p, true):
		return "the path contains invalid UTF-8 or a control or invisible character"
	case !isClean(p):
		return "the path is not clean (it has //, /./ or /../)"
	}
	return ""
}

func isClean(p string) bool {
	c := path.Clean(p)
	return c == p || (c != "/" && c+"/" == p)
}

// toolGlobProblem checks a tools entry of a grant or rule.
func toolGlobProblem(g string) string {
	if strings.Trim(g, "*") == "" && g != "" {
		return "" // "*": every tool
	}
	if p := toolNameProblem(g); p != "" {
		return strings.Replace(p, "the tool name", "the tool pattern", 1)
	}
	return ""
}

// pathGlobProblem checks a routes[].path pattern: absolute, clean, `*` within a segment, `**` only as the whole
// last segment.
func pathGlobProblem(g string) string {
	if p := pathProblem(g); p != "" {
		return strings.Replace(p, "the path", "the path pattern", 1)
	}
	segs := strings.Split(g[1:], "/")
	for i, s := range segs {
		if strings.Contains(s, "**") && (s != "**" || i != len(segs)-1) {
			return "** must be the whole last segment (/files/**)"
		}
	}
	return ""
}

// matchGlob matches s against a pattern where each `*` stands for any run of bytes (none included). It is the
// classic linear-time wildcard match with one backtrack point.
func matchGlob(pattern, s string) bool {
	px, sx := 0, 0
	starPx, starSx := -1, 0
	for px < len(pattern) || sx < len(s) {
		if px < len(pattern) {
			switch c := pattern[px]; {
			case c == '*':
				starPx, starSx = px, sx
				px++
				continue
			case sx < len(s) && c == s[sx]:
				px++
				sx++
				continue
			}
		}
		if starPx < 0 || starSx >= len(s) {
			return false
		}
		starSx++
		px, sx = starPx+1, starSx
	}
	return true
}

// matchPath matches an absolute, clean path against a route pattern segment by segment: `*` never crosses a `/`;
// a last segment `**` matches one or more remaining segments.
func matchPath(pattern, p string) bool {
	if !strings.HasPrefix(pattern, "/") || !strings.HasPrefix(p, "/") {
		return false
	}
	pattern, p = pattern[1:], p[1:]
	for {
		pseg, prest, pmore := strings.Cut(pattern, "/")
		if pseg == "**" && !pmore {
			return true
		}
		sseg, srest, smore := strings.Cut(p, "/")
		if !matchGlob(pseg, sseg) || pmore != smore {
			return false
		}
		if !pmore {
			return true
		}
		pattern, p = prest, srest
	}
}

// isGlob reports whether a pattern has a wildcard.
func isGlob(s string) bool { return strings.Contains(s, "*") }
