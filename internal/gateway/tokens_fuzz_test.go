package gateway

import (
	"net/url"
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

// FuzzParseAuditQuery: any query string of GET /audit/records gives a query or an error, never a panic, and a query
// it gives survives a round trip through AuditQueryValues.
func FuzzParseAuditQuery(f *testing.F) {
	for _, s := range []string{"agent=a&decision=deny&limit=20", "since=2026-12-07T04:00:00Z&until=x", "before=-1", "limit=100000",
		"rule=teams%5Bresearch%5D&request=rq_1&call=1", "%zz"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		v, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		q, err := ParseAuditQuery(v)
		if err != nil {
			return
		}
		again, err := ParseAuditQuery(AuditQueryValues(q))
		if err != nil || !again.Since.Equal(q.Since) || !again.Until.Equal(q.Until) || again.Caller != q.Caller ||
			again.Rule != q.Rule || again.Before != q.Before || again.Limit != q.Limit {
			t.Fatalf("round trip of %+v: %+v, %v", q, again, err)
		}
	})
}
