// Package mask hides credential-looking values in what people are shown: a held call's arguments on the console and
// in the gateway's approval files, a run's tool arguments. It owns the one judgement of what looks like a credential,
// so every page masks the same values. Masking is a heuristic for display, never a guard: a value that does not look
// like a credential is shown.
package mask

import (
	"bytes"
	"encoding/json"
	"regexp"
	"sort"
	"strings"
	"unicode/utf8"
)

// Masked replaces a hidden value.
const Masked = "••••••"

// Limits of what Args returns.
const (
	maxString = 200  // characters of one string value
	maxOutput = 4096 // bytes of the whole rendering
	maxDepth  = 16   // nesting kept; deeper values are elided
	maxItems  = 100  // members of one object or array
	elided    = "…"  // marks a cut
	cutNote   = " (cut)"
)

// secretKey matches member names whose values are credentials, whatever they look like: a name ending in one of
// the long words (githubToken, db_password), or one of the short ones standing alone or after a separator (pin,
// user_pin — not spin).
var secretKey = regexp.MustCompile(`(?i)(pass(word|wd|phrase)|secret|token|api[-_]?key|access[-_]?key|private[-_]?key|` +
	`credentials?|authorization|cookie|session[-_]?id|signature)$|(^|[-_.])(pass|pwd|auth|key|pin|otp|ssn|cvv|card[-_]?number)$`)

// secretValue matches values that look like credentials wherever they appear.
var secretValue = regexp.MustCompile(`(?i)^(bearer|basic|token)\s+\S{8,}$|` + // an Authorization header's value
	`^(sk|rk|pk)[-_](live[-_]|test[-_]|proj[-_])?[A-Za-z0-9_-]{16,}$|` + // OpenAI, Stripe-style keys
	`^(ghp|gho|ghu|ghs|ghr|github_pat)_[A-Za-z0-9_]{20,}$|` + // GitHub tokens
	`^(xox[abprs])-[A-Za-z0-9-]{10,}$|` + // Slack tokens
	`^AKIA[0-9A-Z]{16}$|` + // AWS access key IDs
	`^AIza[0-9A-Za-z_-]{35}$|` + // Google API keys
	`^eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*$|` + // JWTs
	`-----BEGIN [A-Z ]*PRIVATE KEY-----`)

// urlPassword matches the password of a URL's user information (postgres://user:PASSWORD@host).
var urlPassword = regexp.MustCompile(`(?i)([a-z][a-z0-9+.-]*://[^:/@\s]+:)([^@\s]+)(@)`)

// String returns s with a credential-looking value hidden, or the password of a URL in it.
func String(s string) string {
	t := strings.TrimSpace(s)
	if secretValue.MatchString(t) || looksRandom(t) {
		return Masked
	}
	return urlPassword.ReplaceAllString(s, "${1}"+Masked+"${3}")
}

// looksRandom reports a long unbroken run of letters and digits of both kinds, as API keys are: 32 characters or
// more without a space, mixing upper case, lower case and digits.
func looksRandom(s string) bool {
	if len(s) < 32 || strings.ContainsAny(s, " \t\n/.") {
		return false
	}
	var upper, lower, digit bool
	for _, c := range s {
		switch {
		case c >= 'A' && c <= 'Z':
			upper = true
		case c >= 'a' && c <= 'z':
			lower = true
		case c >= '0' && c <= '9':
			digit = true
		case c == '-' || c == '_' || c == '+' || c == '=':
		default:
			return false
		}
	}
	return upper && lower && digit
}

// Args renders a JSON value (a tool call's arguments) for display: members whose names say they hold credentials
// and values that look like credentials are replaced by Masked; long strings, deep nesting and large objects are
// cut; the result is compact JSON of at most about 4 KiB. Bytes that are not JSON are never shown: they render as
// a note saying so.
func Args(raw []byte) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return "{}"
	}
	var v any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil || dec.More() {
		return `"(not JSON: not shown)"`
	}
	out, _ := json.Marshal(value(v, 0))
	if len(out) > maxOutput {
		cut := out[:maxOutput]
		for !utf8.Valid(cut) {
			cut = cut[:len(cut)-1]
		}
		return string(cut) + elided + cutNote
	}
	return string(out)
}

// Value masks a decoded JSON value the way Args does, for callers that render it themselves.
func Value(v any) any { return value(v, 0) }

func value(v any, depth int) any {
	if depth >= maxDepth {
		return elided
	}
	switch x := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		out := make(map[string]any, min(len(x), maxItems))
		for i, k := range keys {
			if i == maxItems {
				out[elided] = "more members not shown"
				break
			}
			if secretKey.MatchString(strings.TrimSpace(k)) && !empty(x[k]) {
				out[k] = Masked
				continue
			}
			out[k] = value(x[k], depth+1)
		}
		return out
	case []any:
		out := make([]any, 0, min(len(x), maxItems+1))
		for i, e := range x {
			if i == maxItems {
				out = append(out, elided)
				break
			}
			out = append(out, value(e, depth+1))
		}
		return out
	case string:
		s := String(x)
		if utf8.RuneCountInString(s) > maxString {
			s = string([]rune(s)[:maxString]) + elided
		}
		return s
	default:
		return v
	}
}

func empty(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case string:
		return x == ""
	}
	return false
}
