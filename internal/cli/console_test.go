package cli

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuf is a writer the command and the test share.
type syncBuf struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestConsoleCommand: agops console serves the sign-in page and a signed-in page with a users file alone, and stops
// when its context ends; a users file with a bad line is refused with the line named.
func TestConsoleCommand(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	users := filepath.Join(dir, "users")
	if err := os.WriteFile(users, []byte("token-of-olga-0123456789 olga viewer\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var errOut syncBuf
	done := make(chan int, 1)
	go func() {
		done <- Run(ctx, []string{"console", "--listen", "127.0.0.1:0", "--users", users, "--no-temporal"},
			streams{in: strings.NewReader(""), out: io.Discard, err: &errOut})
	}()
	re := regexp.MustCompile(`console on (http://\S+)`)
	var base string
	for deadline := time.Now().Add(30 * time.Second); base == ""; time.Sleep(20 * time.Millisecond) {
		if m := re.FindStringSubmatch(errOut.String()); m != nil {
			base = m[1]
		}
		if time.Now().After(deadline) {
			t.Fatalf("agops console printed no address:\n%s", errOut.String())
		}
	}
	resp, err := http.Get(base + "/login")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `name="token"`) {
		t.Errorf("the sign-in page: %d\n%s", resp.StatusCode, body)
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("exit %d:\n%s", code, errOut.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatal("agops console did not stop")
	}

	if err := os.WriteFile(users, []byte("short olga viewer\ntoken-of-piet-0123456789 piet owner\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r := run(t, "console", "--listen", "127.0.0.1:0", "--users", users, "--no-temporal")
	if r.code == 0 || !strings.Contains(r.stderr, "line 1") || !strings.Contains(r.stderr, "line 2") || strings.Contains(r.stderr, "token-of-piet") {
		t.Errorf("a bad users file: exit %d\n%s", r.code, r.stderr)
	}
}
