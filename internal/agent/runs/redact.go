package runs

import (
	"encoding/json"
	"regexp"
	"sort"
	"strings"
	"unicode"
)

// What a timeline shows of arguments and texts: they can hold credentials and personal data, and the console
// shows them to whoever may see runs.
const (
	maxValueRunes = 24  // an argument's string value
	maxArgsRunes  = 200 // all the arguments of a call
	maxTextRunes  = 160 // an answer, a tool result, a reason
	masked        = "***"
)

// secretKeyRE matches argument names whose values are credentials whatever they look like.
var secretKeyRE = regexp.MustCompile(`(?i)(pass(word|wd)?|pwd|secret|token|api[-_]?key|access[-_]?key|private[-_]?key|auth|credential|cookie|session|signature)`)

// secretTextRE matches what looks like a credential inside a text: well-known token shapes, a bearer token, a
// JWT, "password=..." and the like, and any long run of letters and digits mixed (a key, a hash).
var secretTextRE = regexp.MustCompile(`(?i)` + strings.Join([]string{
	`\b(sk|pk|rk)-[a-z0-9_-]{8,}`,
	`\bgh[pousr]_[a-z0-9]{16,}`, `\bgithub_pat_[a-z0-9_]{16,}`,
	`\bxox[abprs]-[a-z0-9-]{8,}`,
	`\bA[SK]IA[0-9A-Z]{16}\b`,
	`\beyJ[a-z0-9_-]{8,}\.[a-z0-9_-]{8,}\.[a-z0-9_-]*`,
	`\bbearer\s+\S+`,
	`\b(pass(word|wd)?|pwd|secret|token|api[-_]?key)\s*[:=]\s*\S+`,
}, "|"))

// longRunRE matches a long run of the characters keys and hashes are made of; one with letters and digits mixed
// is masked.
var longRunRE = regexp.MustCompile(`[A-Za-z0-9+/_=-]{32,}`)

// maskText makes a text safe to show: one line, credential-looking parts masked, cut short.
func maskText(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	s = secretTextRE.ReplaceAllString(s, masked)
	s = longRunRE.ReplaceAllStringFunc(s, func(m string) string {
		if strings.ContainsAny(m, "0123456789") && strings.IndexFunc(m, unicode.IsLetter) >= 0 {
			return masked
		}
		return m
	})
	return cutRunes(s, maxTextRunes)
}

// maskArgs shows a call's JSON arguments: every name, short cuts of the values, credentials masked.
func maskArgs(raw string) string {
	if strings.TrimSpace(raw) == "" {
		return ""
	}
	var v any
	if err := json.Unmarshal([]byte(raw), &v); err != nil {
		return "(not JSON)"
	}
	b, err := json.Marshal(maskValue(v, 0))
	if err != nil {
		return "(not shown)"
	}
	return cutRunes(string(b), maxArgsRunes)
}

func maskValue(v any, depth int) any {
	if depth > 3 {
		return "…"
	}
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for i, k := range keys {
			if i == 8 {
				out["…"] = len(keys) - i
				break
			}
			if secretKeyRE.MatchString(k) {
				out[k] = masked
			} else {
				out[k] = maskValue(x[k], depth+1)
			}
		}
		return out
	case []any:
		out := make([]any, 0, min(len(x), 4))
		for i, e := range x {
			if i == 4 {
				out = append(out, "…")
				break
			}
			out = append(out, maskValue(e, depth+1))
		}
		return out
	case string:
		if m := maskText(x); strings.Contains(m, masked) {
			return masked
		}
		return cutRunes(x, maxValueRunes)
	}
	return v
}

func cutRunes(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n]) + "…"
	}
	return s
}
