package audit

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// docBlock returns the fenced code block that follows marker in docs/audit.md.
func docBlock(t *testing.T, marker string) []byte {
	t.Helper()
	doc := readFile(t, filepath.Join("..", "..", "docs", "audit.md"))
	_, after, ok := bytes.Cut(doc, []byte("<!-- "+marker))
	if !ok {
		t.Fatalf("docs/audit.md has no %q marker", marker)
	}
	_, after, ok = bytes.Cut(after, []byte("```"))
	if ok {
		_, after, ok = bytes.Cut(after, []byte("\n")) // the fence's language
	}
	block, _, closed := bytes.Cut(after, []byte("\n```"))
	if !ok || !closed {
		t.Fatalf("no fenced block after %q in docs/audit.md", marker)
	}
	return append(block, '\n')
}

func TestDocExampleVerifies(t *testing.T) {
	t.Parallel()
	sum, err := Verify(bytes.NewReader(docBlock(t, "example-log")))
	if err != nil || sum.Records != 2 {
		t.Fatalf("the example in docs/audit.md: %d records, %v", sum.Records, err)
	}
}

// TestDocPythonVerifier runs the documentation's independent verifier on logs this package wrote: it must accept a
// valid log with the same head, and reject tampered ones.
func TestDocPythonVerifier(t *testing.T) {
	t.Parallel()
	python, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not found")
	}
	dir := t.TempDir()
	script := filepath.Join(dir, "verify.py")
	writeFile(t, script, docBlock(t, "verify-py"))
	path, data := newLogFile(t, 5)
	run := func(data []byte) (string, error) {
		p := filepath.Join(dir, "audit.log")
		writeFile(t, p, data)
		out, err := exec.Command(python, script, p).CombinedOutput()
		return strings.TrimSpace(string(out)), err
	}
	sum, err := VerifyFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if out, err := run(data); err != nil || out != fmt.Sprintf("%d %s", sum.Records, sum.Head) {
		t.Fatalf("python verifier on a valid log: %q, %v; want %d %s", out, err, sum.Records, sum.Head)
	}
	if out, err := run(docBlock(t, "example-log")); err != nil || !strings.HasPrefix(out, "2 sha256:c87c45cf") {
		t.Fatalf("python verifier on the documentation's example: %q, %v", out, err)
	}
	if out, err := run(nil); err != nil || out != "0 "+Genesis {
		t.Fatalf("python verifier on an empty log: %q, %v", out, err)
	}
	ls := lines(data)
	for name, bad := range map[string][]byte{
		"edited":    bytes.Replace(data, []byte("req-3"), []byte("req-4"), 1),
		"deleted":   join([][]byte{ls[0], ls[1], ls[3], ls[4]}),
		"swapped":   join([][]byte{ls[0], ls[2], ls[1], ls[3], ls[4]}),
		"duplicate": join([][]byte{ls[0], ls[1], ls[1], ls[2]}),
		"forged":    join([][]byte{ls[0], rehash(bytes.Replace(ls[1], []byte("req-2"), []byte("req-X"), 1)), ls[2]}),
		"torn":      data[:len(data)-1],
	} {
		out, err := run(bad)
		var exit *exec.ExitError
		if !errors.As(err, &exit) {
			t.Errorf("python verifier accepted the %s log: %q, %v", name, out, err)
		}
	}
	if err := os.Remove(filepath.Join(dir, "audit.log")); err != nil {
		t.Fatal(err)
	}
}

// TestDocPythonRoot runs the documentation's Python tree root on logs this package wrote, of sizes around powers of
// two: it must print the record count and the root VerifyFile computes.
func TestDocPythonRoot(t *testing.T) {
	t.Parallel()
	python, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not found")
	}
	script := filepath.Join(t.TempDir(), "root.py")
	writeFile(t, script, docBlock(t, "root-py"))
	for _, n := range []int{0, 1, 2, 3, 4, 5, 7, 8, 9, 13} {
		path, _ := newLogFile(t, n)
		sum, err := VerifyFile(path)
		if err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(python, script, path).CombinedOutput()
		want := fmt.Sprintf("%d %s", n, base64.StdEncoding.EncodeToString(sum.Root))
		if err != nil || strings.TrimSpace(string(out)) != want {
			t.Errorf("%d records: python says %q, %v; want %q", n, out, err, want)
		}
	}
}
