package console

import (
	"strings"
	"testing"
)

// FuzzParseUsers: a users file never panics, and a refused file never names a token of its lines.
func FuzzParseUsers(f *testing.F) {
	for _, s := range []string{"token-of-olga-0123456789 olga viewer\n", "# c\n\nshort a viewer", "t-0123456789abcdef console:x approver",
		"t-0123456789abcdef a/b/c approver\nt-0123456789abcdef d viewer", "t-0123456789abcdef a owner"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		people, sums, err := ParseUsers(data)
		if err != nil {
			for _, line := range strings.Split(string(data), "\n") {
				if fs := strings.Fields(line); len(fs) > 0 && len(fs[0]) >= minTokenLen && strings.Contains(err.Error(), fs[0]) {
					t.Fatalf("the error names a token: %v", err)
				}
			}
			return
		}
		if len(people) != len(sums) {
			t.Fatalf("%d people, %d sums", len(people), len(sums))
		}
		for _, p := range people {
			if p.Role != Viewer && p.Role != Approver {
				t.Fatalf("role %q", p.Role)
			}
		}
	})
}
