package gateway

import (
	"strings"
	"testing"
)

// FuzzParseTokens: any token file either loads or is refused with line-numbered problems; it never panics, never
// lets a token shorter than the minimum in, and never names a token in an error.
func FuzzParseTokens(f *testing.F) {
	f.Add([]byte("dev-token-0123456789abcdef local/dev-agent\n# comment\n\n"))
	f.Add([]byte("short agent\n"))
	f.Add([]byte("a-token-that-is-long-enough-1 x\na-token-that-is-long-enough-1 y\n"))
	f.Add([]byte("only-one-field-here-0123456789\n"))
	f.Add([]byte("\x00\xff token agent extra\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		entries, err := parseTokens(data)
		for _, e := range entries {
			if e.agent == "" {
				t.Fatalf("an entry without an agent: %+v", e)
			}
		}
		if err != nil {
			for _, line := range strings.Split(string(data), "\n") {
				fields := strings.Fields(line)
				if len(fields) == 2 && len(fields[0]) >= minTokenLen && strings.Contains(err.Error(), fields[0]) {
					t.Fatalf("the error names a token: %v", err)
				}
			}
		}
	})
}
