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

// TestAuditCheckpointCommands runs what docs/audit.md tells a person to run: keygen, a log written with
// checkpoints, verify against the checkpoint (passing, then failing on a truncated log and on a forged append),
// export of a range and its verification.
func TestAuditCheckpointCommands(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if r := run(t, "audit", "keygen", "--name", "gw.test", "-o", dir); r.code != 0 {
		t.Fatalf("keygen: exit %d\n%s", r.code, r.stderr)
	}
	keyPath, pubPath := filepath.Join(dir, "gw.test.key"), filepath.Join(dir, "gw.test.pub")
	if r := run(t, "audit", "keygen", "--name", "gw.test", "-o", dir); r.code != exitInput {
		t.Fatalf("keygen over existing files: exit %d", r.code)
	}
	key, err := audit.LoadKey(keyPath)
	if err != nil {
		t.Fatal(err)
	}
	path, cpPath := filepath.Join(dir, "audit.log"), filepath.Join(t.TempDir(), "audit.checkpoint")
	l, err := audit.Open(path, audit.WithCheckpoints(audit.Checkpoints{Path: cpPath, Signer: key.Signer, Verifier: key.Verifier}))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 12 {
		r := audit.Record{Time: time.Unix(int64(1700000000+i), 0).UTC(), Event: "decision", RequestID: "r", Caller: "lab/agent", Tool: "echo", Decision: "allow"}
		if err := l.Append(context.Background(), r); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if r := run(t, "audit", "verify", path, "--checkpoint", cpPath, "--key", pubPath); r.code != 0 ||
		!strings.Contains(r.stdout, "matches the checkpoint") {
		t.Fatalf("verify: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := run(t, "audit", "verify", path, "--checkpoint", cpPath); r.code != exitUsage {
		t.Fatalf("--checkpoint without --key: exit %d", r.code)
	}
	if r := run(t, "audit", "verify", path, "--checkpoint", cpPath, "--key", keyPath); r.code != exitInput ||
		!strings.Contains(r.stderr, "private key") {
		t.Fatalf("the private key given as --key: exit %d, %q", r.code, r.stderr)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	short := filepath.Join(t.TempDir(), "short.log")
	writeTestFile(t, short, data[:bytes.LastIndexByte(data[:len(data)-1], '\n')+1])
	if r := run(t, "audit", "verify", short); r.code != 0 {
		t.Fatalf("chain-only verify of a truncated log: exit %d (the chain alone cannot see it)", r.code)
	}
	if r := run(t, "audit", "verify", short, "--checkpoint", cpPath, "--key", pubPath); r.code != exitInput ||
		!strings.Contains(r.stderr, "fewer records than its checkpoint") {
		t.Fatalf("truncated log: exit %d, %q", r.code, r.stderr)
	}
	out := filepath.Join(dir, "export.jsonl")
	if r := run(t, "audit", "export", path, "--from", "3", "--to", "5", "--checkpoint", cpPath, "--key", pubPath, "-o", out); r.code != 0 {
		t.Fatalf("export: exit %d\n%s", r.code, r.stderr)
	}
	if r := run(t, "audit", "verify-export", out, "--key", pubPath); r.code != 0 || !strings.Contains(r.stdout, "records 3 to 5") {
		t.Fatalf("verify-export: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	exp, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	writeTestFile(t, out, bytes.Replace(exp, []byte(`"allow"`), []byte(`"allox"`), 1))
	if r := run(t, "audit", "verify-export", out, "--key", pubPath); r.code != exitInput {
		t.Fatalf("verify-export of an edited export: exit %d", r.code)
	}
}

func writeTestFile(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}
