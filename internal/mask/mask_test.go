package mask

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestArgs(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, in string
		shown    []string // substrings that must appear
		hidden   []string // substrings that must not
	}{
		{"plain", `{"path":"/tmp/report.txt","lines":3}`, []string{`"path":"/tmp/report.txt"`, `"lines":3`}, nil},
		{"names", `{"password":"hunter2","githubToken":"abc","api_key":"k","user_pin":"1234","spin":"fast","author":"ann"}`,
			[]string{`"password":"` + Masked, `"githubToken":"` + Masked, `"api_key":"` + Masked, `"user_pin":"` + Masked,
				`"spin":"fast"`, `"author":"ann"`}, []string{"hunter2", "1234"}},
		{"values", `{"h":"Bearer abcdefghijklmnop","k":"sk-proj-ABCDEFGHIJKLMNOPQRSTUV","g":"ghp_ABCDEFGHIJKLMNOPQRSTUVWXYZ0123",` +
			`"jwt":"eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.abc","aws":"AKIAABCDEFGHIJKLMNOP",` +
			`"random":"Zx8kQ2mN7pL4vR9tY3wB6cF1hJ5gD0sA","sentence":"Please summarise the quarterly numbers for the board"}`,
			[]string{`"sentence":"Please summarise`}, []string{"abcdefghijklmnop", "ABCDEFGHIJKLMNOPQRSTUV", "ghp_", "eyJ", "AKIA", "Zx8kQ2"}},
		{"url", `{"dsn":"postgres://app:s3cr3t@db:5432/app"}`, []string{`postgres://app:` + Masked + `@db:5432/app`}, []string{"s3cr3t"}},
		{"nested", `{"a":[{"b":{"token":"x"}}]}`, []string{`"token":"` + Masked}, nil},
		{"empty secret shown as empty", `{"password":""}`, []string{`"password":""`}, nil},
		{"not json", `{"a":`, []string{"not JSON"}, []string{`{"a"`}},
		{"two values", `{} {}`, []string{"not JSON"}, nil},
		{"private key", `{"k":"-----BEGIN RSA PRIVATE KEY-----\nMIIE"}`, nil, []string{"MIIE"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := Args([]byte(tc.in))
			for _, s := range tc.shown {
				if !strings.Contains(got, s) {
					t.Errorf("Args(%s) = %s, want it to show %s", tc.in, got, s)
				}
			}
			for _, s := range tc.hidden {
				if strings.Contains(got, s) {
					t.Errorf("Args(%s) = %s, shows %s", tc.in, got, s)
				}
			}
		})
	}
}

func TestArgsBounded(t *testing.T) {
	t.Parallel()
	deep := strings.Repeat(`{"a":`, 200) + "1" + strings.Repeat("}", 200)
	long := `{"s":"` + strings.Repeat("word ", 5000) + `"}`
	var many strings.Builder
	many.WriteString("[")
	for i := range 5000 {
		if i > 0 {
			many.WriteString(",")
		}
		many.WriteString(`"item"`)
	}
	many.WriteString("]")
	for _, in := range []string{deep, long, many.String()} {
		if got := Args([]byte(in)); len(got) > maxOutput+len(elided+cutNote) {
			t.Errorf("%d bytes out of %d in", len(got), len(in))
		}
	}
}

func FuzzArgs(f *testing.F) {
	for _, s := range []string{`{"password":"x"}`, `[1,"Bearer abcdefghijk"]`, `"postgres://a:b@c"`, `{`, ``, `null`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		out := Args(in)
		if len(out) > maxOutput+len(elided+cutNote) {
			t.Fatalf("%d bytes", len(out))
		}
		if !strings.HasSuffix(out, cutNote) && !json.Valid([]byte(out)) {
			t.Fatalf("not JSON: %q", out)
		}
	})
}
