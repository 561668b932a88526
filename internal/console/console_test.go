package console

import (
	"bytes"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/agops/agops/internal/audit"
)

// TestApproveInTheConsole: a held call shows up with its arguments (the credential masked), an approver approves
// it with a reason, the call runs, and the audit view shows the decision in the approver's name beside the call's
// own records.
func TestApproveInTheConsole(t *testing.T) {
	t.Parallel()
	st := newStack(t)
	alice := st.browser()
	if code := alice.signIn(aliceToken); code != http.StatusSeeOther {
		t.Fatalf("sign-in: %d", code)
	}
	done := st.callAsync("read_file", map[string]any{"path": "notes/q3.txt"})
	id := alice.waitHeld(1)[0]
	_, page := alice.get("/approvals")
	for _, want := range []string{agentID, "tools · read_file", "notes/q3.txt", "agents[lab/worker].grants[1]", "Approve"} {
		if !strings.Contains(page, want) {
			t.Errorf("the approvals page lacks %q", want)
		}
	}
	code, flash := alice.post("/approvals/"+id, url.Values{"csrf": {alice.csrf()}, "decision": {"approve"},
		"reason": {"quarterly report"}}, nil)
	if code != http.StatusSeeOther || !strings.Contains(flash, "Approved") {
		t.Fatalf("approve: %d %q", code, flash)
	}
	if err := <-done; err != nil {
		t.Fatalf("the approved call: %v", err)
	}
	if _, page := alice.get("/approvals/live"); !strings.Contains(page, "Nothing is waiting") {
		t.Errorf("the approval is still listed:\n%s", page)
	}
	_, page = alice.get("/audit?decision=approved")
	if !strings.Contains(page, "approved by alice via console:test: quarterly report") || !strings.Contains(page, "Chain verified") {
		t.Errorf("the audit view lacks the decision or the chain's state:\n%s", page)
	}
	_, page = alice.get("/audit?tool=read_file&event=decision")
	rid := regexpFind(t, page, `/audit/call/(rq_[^"]+)`)
	_, call := alice.get("/audit/call/" + rid)
	for _, want := range []string{`id="decision"`, "allow", `id="result"`, "ok", `id="approval"`, "approved by alice"} {
		if !strings.Contains(call, want) {
			t.Errorf("the call's page lacks %q:\n%s", want, call)
		}
	}
}

// TestRolesAndCSRF: a viewer sees held calls but cannot decide; a decision without the session's CSRF token, with
// another session's, from another origin or from a signed-out browser is refused; nobody approves their own call.
// None of it lets the call run.
func TestRolesAndCSRF(t *testing.T) {
	t.Parallel()
	st := newStack(t)
	alice, victor, worker, nobody := st.browser(), st.browser(), st.browser(), st.browser()
	for _, b := range []struct {
		b   *browser
		tok string
	}{{alice, aliceToken}, {victor, victorToken}, {worker, workerToken}} {
		if code := b.b.signIn(b.tok); code != http.StatusSeeOther {
			t.Fatalf("sign-in: %d", code)
		}
	}
	done := st.callAsync("read_file", map[string]any{"path": "x"})
	id := victor.waitHeld(1)[0]
	if _, page := victor.get("/approvals"); strings.Contains(page, `value="approve"`) || !strings.Contains(page, "You are a viewer") {
		t.Error("a viewer is offered the decision")
	}
	approve := func(csrf string) url.Values {
		return url.Values{"csrf": {csrf}, "decision": {"approve"}}
	}
	aliceCSRF, victorCSRF := alice.csrf(), victor.csrf()
	for _, tc := range []struct {
		name   string
		b      *browser
		form   url.Values
		header http.Header
		want   int
	}{
		{"viewer", victor, approve(victorCSRF), nil, http.StatusForbidden},
		{"no CSRF token", alice, approve(""), nil, http.StatusForbidden},
		{"another session's CSRF token", alice, approve(victorCSRF), nil, http.StatusForbidden},
		{"another origin", alice, approve(aliceCSRF), http.Header{"Origin": {"http://evil.example"}, "Sec-Fetch-Site": {"cross-site"}}, http.StatusForbidden},
		{"an origin that only looks alike", alice, approve(aliceCSRF), http.Header{"Origin": {st.console.URL + ".evil.example"}, "Sec-Fetch-Site": {""}}, http.StatusForbidden},
		{"signed out", nobody, approve(aliceCSRF), nil, http.StatusUnauthorized},
	} {
		if code, body := tc.b.post("/approvals/"+id, tc.form, tc.header); code != tc.want {
			t.Errorf("%s: %d %q, want %d", tc.name, code, body, tc.want)
		}
	}
	// The agent's own identity, signed in as an approver: the gateway refuses.
	if code, flash := worker.post("/approvals/"+id, approve(worker.csrf()), nil); code != http.StatusSeeOther ||
		!strings.Contains(flash, "nobody approves their own call") {
		t.Errorf("self-approval: %d %q", code, flash)
	}
	if len(alice.waitHeld(1)) != 1 {
		t.Fatal("the call is no longer held")
	}
	select {
	case err := <-done:
		t.Fatalf("the held call returned: %v", err)
	default:
	}
	// Alice rejects it.
	if code, flash := alice.post("/approvals/"+id, url.Values{"csrf": {aliceCSRF}, "decision": {"reject"}, "reason": {"no"}}, nil); code != http.StatusSeeOther || !strings.Contains(flash, "Rejected") {
		t.Fatalf("reject: %d %q", code, flash)
	}
	if err := <-done; err == nil || !strings.Contains(err.Error(), "rejected by alice") {
		t.Errorf("the rejected call: %v", err)
	}
	if calls, err := st.tools.Calls(); err != nil || len(calls) != 0 {
		t.Errorf("the tool server was called: %v %v", calls, err)
	}
}

// TestSignIn: wrong tokens are refused, a one-time link works once, a "next" address never leaves the console,
// a new sign-in gets a new session, and signing out ends it.
func TestSignIn(t *testing.T) {
	t.Parallel()
	st := newStack(t)
	b := st.browser()
	if code, _ := b.get("/approvals"); code != http.StatusSeeOther {
		t.Errorf("signed out: %d, want a redirect to sign in", code)
	}
	if code := b.signIn("wrong-token-0123456789"); code != http.StatusUnauthorized {
		t.Errorf("a wrong token: %d", code)
	}
	link, err := st.srv.o.OneTime.Issue(Person{Name: "dana", Role: Approver}, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := b.http.Get(st.console.URL + "/login?token=" + link + "&next=" + url.QueryEscape("//evil.example/x"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/approvals" {
		t.Errorf("one-time link: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if _, page := b.get("/approvals"); !strings.Contains(page, `id="person">dana`) {
		t.Error("not signed in as dana")
	}
	other := st.browser()
	if code, _ := other.get("/login?token=" + link); code != http.StatusUnauthorized {
		t.Errorf("the link used twice: %d", code)
	}
	cookies := b.http.Jar.Cookies(mustURL(st.console.URL))
	if code := b.signIn(aliceToken); code != http.StatusSeeOther {
		t.Fatal("sign-in")
	}
	if after := b.http.Jar.Cookies(mustURL(st.console.URL)); len(after) != 1 || len(cookies) != 1 || after[0].Value == cookies[0].Value {
		t.Error("a new sign-in kept the session")
	}
	csrf := b.csrf()
	if code, _ := b.post("/logout", url.Values{"csrf": {csrf}}, nil); code != http.StatusSeeOther {
		t.Fatal("sign out")
	}
	if code, _ := b.get("/approvals"); code != http.StatusSeeOther {
		t.Errorf("after signing out: %d", code)
	}
}

// TestTamperedLogFlagged: a byte edited in the middle of the audit log is shown as a broken chain at its record,
// and the records after it as unverified.
func TestTamperedLogFlagged(t *testing.T) {
	t.Parallel()
	st := newStack(t)
	for range 3 {
		if err := <-st.callAsync("echo", map[string]any{"message": "hello"}); err != nil {
			t.Fatal(err)
		}
	}
	data, err := os.ReadFile(filepath.Join(st.dir, "audit.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	lines := bytes.SplitAfter(data, []byte("\n"))
	if len(lines) < 4 {
		t.Fatalf("%d lines", len(lines))
	}
	if !bytes.Contains(lines[2], []byte(`"decision":"allow"`)) {
		t.Fatalf("line 3 is not the second call's decision: %s", lines[2])
	}
	lines[2] = bytes.Replace(lines[2], []byte(`"decision":"allow"`), []byte(`"decision":"deny" `), 1)
	tampered := filepath.Join(st.dir, "tampered.jsonl")
	if err := os.WriteFile(tampered, bytes.Join(lines, nil), 0o600); err != nil {
		t.Fatal(err)
	}
	su, _ := NewStaticUsers(filepath.Join(st.dir, "users"))
	srv, err := New(Options{AuditLog: tampered, SignIns: []TokenSignIn{su}})
	if err != nil {
		t.Fatal(err)
	}
	st.console.Config.Handler = srv.Handler()
	b := st.browser()
	b.signIn(victorToken)
	_, page := b.get("/audit")
	if !strings.Contains(page, `class="chain broken"`) || !strings.Contains(page, "Records 1 to 2 verify") ||
		!strings.Contains(page, "unverified") {
		t.Errorf("the tampered log is not flagged:\n%s", page)
	}
}

// TestAuditExportVerifies: the export of a time range is JSON lines with a proof that audit.VerifyExport accepts,
// read from the log file and, the same, through the gateway's admin listener.
func TestAuditExportVerifies(t *testing.T) {
	t.Parallel()
	st := newStack(t, func(o *Options) {
		o.AuditReplicas = []AuditReplica{{Name: "gateway", Client: o.Gateway}}
	})
	for range 3 {
		if err := <-st.callAsync("echo", map[string]any{"message": "hello"}); err != nil {
			t.Fatal(err)
		}
	}
	b := st.browser()
	b.signIn(victorToken)
	v, err := audit.LoadVerifier(filepath.Join(st.dir, "audit.jsonl.pub"))
	if err != nil {
		t.Fatal(err)
	}
	for _, log := range []string{"audit log", "gateway"} {
		exportVerifies(t, b, v, "/audit/export?log="+url.QueryEscape(log))
	}
}

func exportVerifies(t *testing.T, b *browser, v note.Verifier, path string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		code, body := b.get(path)
		if code == http.StatusOK {
			got, err := audit.VerifyExport(strings.NewReader(body), v)
			if err != nil {
				t.Fatalf("the export does not verify: %v", err)
			}
			if got.From != 1 {
				t.Fatalf("exported %d to %d", got.From, got.To)
			}
			if got.To == 6 { // every record, once a checkpoint covers them all
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("export: %d %s", code, body)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func regexpFind(t *testing.T, s, expr string) string {
	t.Helper()
	m := regexp.MustCompile(expr).FindStringSubmatch(s)
	if m == nil {
		t.Fatalf("no %s in:\n%s", expr, s)
	}
	return m[1]
}

func mustURL(s string) *url.URL {
	u, _ := url.Parse(s)
	return u
}

// TestAgentTextIsEscaped: what an agent chooses — a tool's name, arguments — reaches the pages as text, never as
// markup: a name built to run a script in an approver's browser is shown escaped.
func TestAgentTextIsEscaped(t *testing.T) {
	t.Parallel()
	st := newStack(t)
	const evil = `<img src=x onerror=alert(1)>`
	if err := <-st.callAsync(evil, map[string]any{"x": `</pre><script>alert(2)</script>`}); err == nil {
		t.Fatal("the gateway let an unknown tool through")
	}
	done := st.callAsync("read_file", map[string]any{"path": `</pre><script>alert(3)</script>`})
	b := st.browser()
	b.signIn(aliceToken)
	id := b.waitHeld(1)[0]
	for _, path := range []string{"/audit", "/approvals"} {
		_, page := b.get(path)
		for _, bad := range []string{"<img src=x", "<script>alert"} {
			if strings.Contains(page, bad) {
				t.Errorf("%s carries the agent's markup %q", path, bad)
			}
		}
	}
	_, page := b.get("/audit")
	if !strings.Contains(page, "&lt;img src=x onerror=alert(1)&gt;") {
		t.Errorf("the audit page does not show the tool's name as text:\n%s", page)
	}
	b.post("/approvals/"+id, url.Values{"csrf": {b.csrf()}, "decision": {"reject"}}, nil)
	<-done
}

// TestPolicyPage: an agent's effective policy — each granted tool's verdict and origin, its limits as one line — and
// today's use, counted by the gateway.
func TestPolicyPage(t *testing.T) {
	t.Parallel()
	st := newStack(t)
	if err := <-st.callAsync("echo", map[string]any{"message": "hi"}); err != nil {
		t.Fatal(err)
	}
	b := st.browser()
	b.signIn(victorToken)
	_, page := b.get("/policy")
	for _, want := range []string{`id="agent-lab/worker"`, "echo", "allowed", "read_file", "approval (within 2m0s)",
		`<dd class="limits">1000 calls/day</dd>`, "1 calls, 0 tokens"} {
		if !strings.Contains(page, want) {
			t.Errorf("the policy page lacks %q:\n%s", want, page)
		}
	}
}
