package runs

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzMaskArgs: whatever a model writes as arguments, maskArgs neither panics nor shows more than its cut, and
// the value of an argument named like a credential never shows.
func FuzzMaskArgs(f *testing.F) {
	for _, seed := range []string{
		`{"text":"hi"}`, `{"token":"tok-value-1"}`, `{"a":{"b":[1,{"password":"pw-value-2"}]}}`, `[]`, `"x"`, `{`, ``,
		`{"api_key":"k","q":"sk-0123456789abcdef"}`, `{"` + strings.Repeat("k", 300) + `":1}`,
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		got := maskArgs(raw)
		if n := utf8.RuneCountInString(got); n > maxArgsRunes+1 {
			t.Fatalf("%d runes shown", n)
		}
		var m map[string]any
		if json.Unmarshal([]byte(raw), &m) != nil {
			return
		}
		for k, v := range m {
			q, _ := json.Marshal(v)
			if _, ok := v.(string); ok && secretKeyRE.MatchString(k) && strings.Contains(got, ":"+string(q)) && string(q) != `"***"` {
				t.Fatalf("the value of %q shows: %s", k, got)
			}
		}
	})
}

func FuzzMaskText(f *testing.F) {
	for _, seed := range []string{"plain words", "Bearer abc.def", "password=hunter2", "AKIAABCDEFGHIJKLMNOP", "\xff\xfe"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := maskText(s)
		if utf8.RuneCountInString(got) > maxTextRunes+1 || strings.ContainsAny(got, "\n\r\t") {
			t.Fatalf("maskText(%q) = %q", s, got)
		}
	})
}
