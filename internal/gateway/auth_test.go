package gateway

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	authnv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func requestWith(auth ...string) *http.Request {
	r, _ := http.NewRequest(http.MethodGet, "http://gw/", nil)
	for _, a := range auth {
		r.Header.Add("Authorization", a)
	}
	return r
}

func TestStaticTokens(t *testing.T) {
	t.Parallel()
	st := writeTokens(t)
	for _, tc := range []struct {
		name  string
		auth  []string
		agent string
	}{
		{name: "valid-a", auth: []string{"Bearer " + tokenA}, agent: agentA},
		{name: "valid-b-lowercase-scheme", auth: []string{"bearer " + tokenB}, agent: agentB},
		{name: "invalid-none"},
		{name: "invalid-basic", auth: []string{"Basic " + tokenA}},
		{name: "invalid-prefix", auth: []string{"Bearer " + tokenA[:20]}},
		{name: "invalid-two-headers", auth: []string{"Bearer " + tokenA, "Bearer " + tokenB}},
		{name: "invalid-empty", auth: []string{"Bearer "}},
	} {
		agent, err := st.Authenticate(requestWith(tc.auth...))
		if agent != tc.agent || (tc.agent == "") != errors.Is(err, ErrUnauthenticated) {
			t.Errorf("%s: agent %q err %v", tc.name, agent, err)
		}
	}
}

// A token file edit that cannot be applied whole never keeps access the new file takes away (red team finding 5: a
// revoked token kept working because the same edit had one bad line).
func TestTokenRevocationFailsClosed(t *testing.T) {
	t.Parallel()
	const tokenC = "token-of-agent-c-0123456789"
	for _, tc := range []struct {
		name, next string
		want       map[string]string // token → identity after the reload ("" : refused)
	}{
		{"revoked-with-bad-line", tokenA + " " + agentA + "\nthis line is bad\n",
			map[string]string{tokenA: agentA, tokenB: ""}},
		{"new-token-in-broken-file", tokenA + " " + agentA + "\n" + tokenC + " lab/agent-c\nshort x\n",
			map[string]string{tokenA: agentA, tokenB: "", tokenC: ""}},
		{"moved-to-another-identity", tokenA + " lab/agent-z\nbad\n", map[string]string{tokenA: "", tokenB: ""}},
		{"listed-twice", tokenA + " " + agentA + "\n" + tokenA + " lab/agent-z\n" + tokenB + " " + agentB + "\n",
			map[string]string{tokenA: "", tokenB: agentB}},
		{"bad-identity", tokenA + " " + agentA + "\n" + tokenB + " lab//agent-b\n", map[string]string{tokenA: agentA, tokenB: ""}},
		{"removed", "", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "tokens")
			if err := os.WriteFile(path, []byte(tokenA+" "+agentA+"\n"+tokenB+" "+agentB+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			st, err := NewStaticTokens(path)
			if err != nil {
				t.Fatal(err)
			}
			if tc.name == "removed" {
				os.Remove(path)
				tc.want = map[string]string{tokenA: "", tokenB: ""}
			} else {
				os.WriteFile(path, []byte(tc.next), 0o600)
			}
			if err := st.Reload(); err == nil {
				t.Fatal("a file with problems reloaded without an error")
			}
			for tok, want := range tc.want {
				if got, _ := st.Authenticate(requestWith("Bearer " + tok)); got != want {
					t.Errorf("token %s…: identity %q, want %q", tok[:12], got, want)
				}
			}
		})
	}
}

func TestStaticTokensFile(t *testing.T) {
	t.Parallel()
	for name, data := range map[string]string{
		"invalid-short-token": "short agent\n",
		"invalid-three-words": tokenA + " agent extra\n",
		"invalid-duplicate":   tokenA + " a\n" + tokenA + " b\n",
	} {
		if _, err := parseTokens([]byte(data)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	path := filepath.Join(t.TempDir(), "tokens")
	if err := os.WriteFile(path, []byte(tokenA+" "+agentA+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	st, err := NewStaticTokens(path)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(path, []byte(tokenA+" "+agentA+"\nbroken\n"), 0o600)
	if err := st.Reload(); err == nil {
		t.Fatal("a broken file reloaded")
	}
	if a, _ := st.Authenticate(requestWith("Bearer " + tokenA)); a != agentA {
		t.Fatal("a broken file dropped a token it still lists unchanged")
	}
	os.WriteFile(path, []byte(tokenB+" "+agentB+"\n"), 0o600)
	if err := st.Reload(); err != nil {
		t.Fatal(err)
	}
	if a, _ := st.Authenticate(requestWith("Bearer " + tokenA)); a != "" {
		t.Fatal("a revoked token still works")
	}
	if _, err := NewStaticTokens(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Fatal("a missing file loaded")
	}
}

// fakeReviewer answers TokenReviews from a table and counts the calls.
type fakeReviewer struct {
	users map[string]authnv1.TokenReviewStatus
	fail  atomic.Bool
	calls atomic.Int64
}

func (f *fakeReviewer) Create(_ context.Context, tr *authnv1.TokenReview, _ metav1.CreateOptions) (*authnv1.TokenReview, error) {
	f.calls.Add(1)
	if f.fail.Load() {
		return nil, errors.New("apiserver unavailable")
	}
	out := tr.DeepCopy()
	out.Status = f.users[tr.Spec.Token]
	return out, nil
}

func TestTokenReview(t *testing.T) {
	t.Parallel()
	sa := func(user string, aud ...string) authnv1.TokenReviewStatus {
		return authnv1.TokenReviewStatus{Authenticated: true, User: authnv1.UserInfo{Username: user}, Audiences: aud}
	}
	rev := &fakeReviewer{users: map[string]authnv1.TokenReviewStatus{
		"sa":        sa("system:serviceaccount:lab:agent-a", "agops"),
		"other-aud": sa("system:serviceaccount:lab:agent-a", "vault"),
		"human":     sa("alice", "agops"),
		"nested":    sa("system:serviceaccount:lab:a:b", "agops"),
		"refused":   {Authenticated: false, Error: "expired"},
	}}
	clock := &fakeClock{now: time.Unix(1000, 0)}
	tr, err := NewTokenReview(rev, "agops", TokenReviewOptions{Clock: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	for token, want := range map[string]string{"sa": "lab/agent-a", "other-aud": "", "human": "", "nested": "",
		"refused": "", "unknown": ""} {
		got, err := tr.Authenticate(requestWith("Bearer " + token))
		if got != want || (want == "") != errors.Is(err, ErrUnauthenticated) {
			t.Errorf("%s: agent %q err %v", token, got, err)
		}
	}
	n := rev.calls.Load()
	rev.fail.Store(true)
	if a, _ := tr.Authenticate(requestWith("Bearer sa")); a != "lab/agent-a" || rev.calls.Load() != n {
		t.Errorf("a positive answer was not cached")
	}
	clock.Advance(time.Minute)
	if a, err := tr.Authenticate(requestWith("Bearer sa")); a != "" || err == nil {
		t.Errorf("an expired cache entry or an API error let the token in")
	}
	rev.fail.Store(false)
	if _, err := tr.Authenticate(requestWith("Bearer human")); err == nil {
		t.Error("a refusal was cached as success")
	}
	if _, err := NewTokenReview(rev, "", TokenReviewOptions{}); err == nil {
		t.Error("no audience accepted")
	}
}

func TestServiceAccountAgent(t *testing.T) {
	t.Parallel()
	for user, want := range map[string]string{
		"system:serviceaccount:ai-lab:agent-worker": "ai-lab/agent-worker",
		"system:serviceaccount::x":                  "",
		"system:serviceaccount:x:":                  "",
		"system:serviceaccounts:x:y":                "",
		"x":                                         "",
	} {
		got, err := serviceAccountAgent(user)
		if got != want || (want == "") == (err == nil) {
			t.Errorf("%q: %q %v", user, got, err)
		}
		if err != nil && !strings.Contains(err.Error(), "service account") {
			t.Errorf("%q: error %v", user, err)
		}
	}
}
