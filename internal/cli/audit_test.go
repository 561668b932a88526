package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/agops/agops/internal/audit"
)

func TestAuditVerify(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	l, err := audit.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	for i, d := range []string{"allow", "deny", "allow"} {
		r := audit.Record{Time: time.Unix(int64(1700000000+i), 0).UTC(), Event: "decision", RequestID: "r", Caller: "lab/agent", Tool: "echo", Decision: d}
		if err := l.Append(context.Background(), r); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	r := run(t, "audit", "verify", path)
	if r.code != 0 || !strings.Contains(r.stdout, "3 records") || !strings.Contains(r.stdout, "deny=1") {
		t.Fatalf("verify: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// A torn last line (a crash mid-write) is accepted, unless --strict.
	torn := filepath.Join(t.TempDir(), "torn.jsonl")
	if err := os.WriteFile(torn, append(append([]byte{}, data...), `{"v":1,"seq":4`...), 0o600); err != nil {
		t.Fatal(err)
	}
	if r := run(t, "audit", "verify", torn); r.code != 0 || !strings.Contains(r.stdout, "torn tail") {
		t.Errorf("torn tail: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := run(t, "audit", "verify", "--strict", torn); r.code != exitInput {
		t.Errorf("torn tail with --strict: exit %d", r.code)
	}
	// Any edit fails, naming the line.
	edited := filepath.Join(t.TempDir(), "edited.jsonl")
	if err := os.WriteFile(edited, bytes.Replace(data, []byte(`"deny"`), []byte(`"allo"`), 1), 0o600); err != nil {
		t.Fatal(err)
	}
	if r := run(t, "audit", "verify", edited); r.code != exitInput || !strings.Contains(r.stderr, ":2:") {
		t.Errorf("edited record: exit %d, stderr %q; want exit 1 naming line 2", r.code, r.stderr)
	}
}
