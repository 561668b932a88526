package policy

import (
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestHasTraversal(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		want bool
	}{
		{"..", true},
		{"../etc/passwd", true},
		{"a/../../b", true},
		{"a/..", true},
		{"a/../b", true}, // stays inside, still refused: the helper does not resolve paths
		{`..\windows\win.ini`, true},
		{`a\..\b`, true},
		{"%2e%2e/x", true},
		{"%2E%2E%2Fx", true},
		{"..%2fx", true},
		{"..%5cx", true},
		{"%252e%252e%252fx", true},     // encoded twice
		{"%25252e%25252e/x", true},     // three times
		{"%2525252525252e%2e/x", true}, // deeper than maxDecodeRounds: refused
		{"%u002e%u002e/x", true},
		{"%c0%ae%c0%ae/x", true},            // over-long UTF-8, encoded
		{"\xc0\xae\xc0\xae\xc0\xafx", true}, // over-long UTF-8, raw
		{"..%c1%9cx", true},
		{"\uff0e\uff0e\uff0fx", true}, // full-width
		{"\u2025/x", true},            // two-dot leader
		{"x/\u2026/y", true},          // ellipsis: NFKC "..."
		{".../x", true},
		{"..../x", true},
		{".. /x", true},
		{"..;/x", true},
		{"..?x", true},
		{"..\x00.txt", true},
		{"", false},
		{"hello", false},
		{"a.b/c.d", false},
		{"./x", false},
		{".hidden/file", false},
		{"..hidden", false},
		{"x..y/z", false},
		{"wait... what", false},
		{"v1.2..3", false},
		{"https://example.com/a/b?c=d", false},
		{"100%", false},
		{"%zz%2", false},
		{"%2e/x", false},
		{"\u00e9t\u00e9", false},
	} {
		if got := hasTraversal(tc.in); got != tc.want {
			t.Errorf("hasTraversal(%q) = %t, want %t", tc.in, got, tc.want)
		}
	}
}

func TestIsAbsPath(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		want bool
	}{
		{"/etc/passwd", true},
		{"/", true},
		{`\windows`, true},
		{`\\server\share`, true},
		{"//server/share", true},
		{`C:\Windows`, true},
		{"c:/x", true},
		{"C:", true},
		{"~", true},
		{"~/.ssh/id_rsa", true},
		{"~root/.ssh", true},
		{"file:///etc/passwd", true},
		{"FILE:x", true},
		{"  /etc/passwd", true},
		{"\t\n/etc", true},
		{"%2fetc%2fpasswd", true},
		{"%252Fetc", true},
		{"\uff0fetc", true},
		{"\xc0\xafetc", true},
		{"", false},
		{"etc/passwd", false},
		{"./x", false},
		{"hello /world", false},
		{"A: yes", false},
		{"Cx:/y", false},
		{"~5 items", false},
		{"x~/y", false},
		{"https://example.com/x", false},
		{"noted: What is 20 plus 22?", false},
	} {
		if got := isAbsPath(tc.in); got != tc.want {
			t.Errorf("isAbsPath(%q) = %t, want %t", tc.in, got, tc.want)
		}
	}
}

// encodeAll percent-encodes every byte.
func encodeAll(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		fmt.Fprintf(&b, "%%%02X", s[i])
	}
	return b.String()
}

// FuzzPathChecks: the checks never panic, and a finding survives the spellings they promise to see through: every
// byte percent-encoded (once, and twice), every '/' written '\', and a prefix and suffix in other segments.
func FuzzPathChecks(f *testing.F) {
	for _, s := range []string{"../x", "a/../b", `..\x`, "%2e%2e/", "/etc", `C:\x`, "~/x", "\uff0e\uff0e/", "\xc0\xae", "x", "%", "%u", "%u12"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		trav, abs := hasTraversal(s), isAbsPath(s)
		if trav {
			for _, v := range []string{encodeAll(s), encodeAll(encodeAll(s)), strings.ReplaceAll(s, "/", `\`), "a/" + s + "/b"} {
				if !hasTraversal(v) {
					t.Fatalf("hasTraversal(%q) but not of %q", s, v)
				}
			}
		}
		if abs {
			for _, v := range []string{encodeAll(s), strings.ReplaceAll(s, "/", `\`), " " + s} {
				if !isAbsPath(v) {
					t.Fatalf("isAbsPath(%q) but not of %q", s, v)
				}
			}
		}
		// Plain spellings are always found.
		if utf8.ValidString(s) && (s == ".." || strings.HasPrefix(s, "../") || strings.Contains(s, "/../") || strings.HasSuffix(s, "/..")) && !trav {
			t.Fatalf("hasTraversal(%q) = false", s)
		}
		if strings.HasPrefix(s, "/") && !abs {
			t.Fatalf("isAbsPath(%q) = false", s)
		}
	})
}

// BenchmarkPathChecks: both checks on 64 KiB strings built to make them work hardest: many percent-encoding
// levels, every byte a look-alike or an over-long sequence, many short segments.
func BenchmarkPathChecks(b *testing.B) {
	const n = 64 << 10
	for _, in := range []struct{ name, s string }{
		{"plain", strings.Repeat("abcdefgh", n/8)},
		{"segments", strings.Repeat("a./", n/3)},
		{"percent-levels", strings.Repeat("%25", n/3)},
		{"percent-dots", strings.Repeat("%2e", n/3)},
		{"look-alikes", strings.Repeat("\uff0e\uff0f", n/6)},
		{"overlong", strings.Repeat("\xc0\xae\xc0\xb0", n/4)},
	} {
		b.Run(in.name, func(b *testing.B) {
			b.SetBytes(int64(len(in.s)))
			b.ReportAllocs()
			for b.Loop() {
				hasTraversal(in.s)
				isAbsPath(in.s)
			}
		})
	}
}
