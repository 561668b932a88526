package e2e

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/agops/agops/internal/audit"
	"github.com/agops/agops/internal/browsertest"
	"github.com/agops/agops/internal/devserver"
	"github.com/agops/agops/internal/mcptest"
)

const viewerToken = "viewer-token-of-the-console-test-0123"

// TestConsoleInABrowser is the operator console as docs/console.md shows it, in headless Chromium: `agops dev` with
// the example's policy, the README's MCP server and the demo model prints a sign-in link; the approver opens it,
// the example team's run asks for approval and the call appears without a reload; a page on another origin that
// posts a decision with the approver's cookie, and a viewer, are refused; the approver approves with a reason, the
// run finishes, and the audit view shows the decision in the approver's name on a verified chain, the call's
// records side by side; then a byte of the log is edited and the audit view flags the chain. Each page's
// screenshot is written to $AGOPS_SCREENSHOTS (docs/console) when set.
func TestConsoleInABrowser(t *testing.T) {
	t.Parallel()
	everything := mcptest.StartEverything(t)
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(file), "..", "..", "..")
	dir := t.TempDir()
	state, lab, users := filepath.Join(dir, "dev"), filepath.Join(dir, "out"), filepath.Join(dir, "users")
	if err := os.WriteFile(users, []byte(viewerToken+" vera viewer\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	migrate := startAgops(t, "migrate", "migrate", "-f", filepath.Join(root, "examples", "ai-lab", "compose.yaml"), "-o", lab)
	if err := migrate.wait(time.Minute); err != nil {
		t.Fatalf("agops migrate: %v\n%s", err, migrate.output())
	}
	port, err := devserver.FreeBase()
	if err != nil {
		t.Fatal(err)
	}
	temporal := "127.0.0.1:" + strconv.Itoa(port)
	dev := startAgops(t, "dev", "dev", "--state", state, "--port", strconv.Itoa(port),
		"--policy", filepath.Join(root, "examples", "ai-lab", "policy.yaml"), "--upstream", "mcp-tools="+everything.URL,
		"--demo-model", "--gateway-listen", freeAddr(t), "--gateway-admin-listen", freeAddr(t),
		"--console-listen", freeAddr(t), "--console-users", users, "--lab", lab)
	dev.waitLog("dev ready", 2*time.Minute)
	m := regexp.MustCompile(`agops: console (http://\S+/login\?token=\S+)`).FindStringSubmatch(dev.output())
	if m == nil {
		t.Fatalf("agops dev printed no console link:\n%s", dev.output())
	}
	link := m[1]
	base := link[:strings.Index(link, "/login")]

	// The approver opens the link: signed in, on the approvals page, nothing waiting yet.
	// The approver's browser sees one console error on purpose: the console's 403 to the other origin's form.
	b := browsertest.New(t, browsertest.WithTimeout(5*time.Minute), browsertest.AllowConsoleErrors())
	defer func() {
		for _, m := range b.ConsoleErrors() {
			if !strings.Contains(m.Text, "403") {
				t.Errorf("the console's pages logged an error: %+v", m)
			}
		}
	}()
	b.Run(chromedp.Navigate(link), chromedp.WaitVisible(chromedp.CSS("#no-approvals")))
	if loc := browsertest.Get(b, chromedp.Location()); loc != base+"/approvals" {
		t.Errorf("after the sign-in link: %s, want the approvals page without the token", loc)
	}
	person := browsertest.Get(b, chromedp.Text(chromedp.CSS("#person"))) // $USER, as agops dev names its approver
	if role := browsertest.Get(b, chromedp.Text(chromedp.CSS(".role"))); person == "" || role != "approver" {
		t.Errorf("signed in as %q, %s", person, role)
	}

	// The example team runs; its researcher's call waits, and the page shows it without being reloaded.
	run := startAgops(t, "run", "run", filepath.Join(root, "examples", "ai-lab", "team.yaml"),
		"--input", "What is 20 plus 22?", "--temporal", temporal)
	b.Run(chromedp.WaitVisible(chromedp.CSS("article.held form.decide")))
	held := browsertest.Get(b, chromedp.Text(chromedp.CSS("article.held")))
	for _, want := range []string{"mcp-tools · trigger-long-running-operation", "local/dev-worker", "research", "researcher"} {
		if !strings.Contains(held, want) {
			t.Errorf("the held call lacks %q:\n%s", want, held)
		}
	}
	id := browsertest.Get(b, chromedp.Evaluate[string](`document.querySelector("article.held").dataset.id`))
	b.Screenshot("approvals")

	// A page on another origin posts a decision with the approver's cookie; a viewer tries through the page's own
	// form data. Both are refused and the call stays held.
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprintf(w, `<form id="f" method="post" action="%s/approvals/%s"><input name="decision" value="approve"></form>`+
			`<script>document.getElementById("f").submit()</script>`, base, id)
	}))
	t.Cleanup(evil.Close)
	b.Run(chromedp.Navigate(evil.URL), chromedp.Poll[chromedp.Void](fmt.Sprintf(`location.href.startsWith(%q)`, base)),
		chromedp.WaitVisible(chromedp.CSS("body")))
	if body := browsertest.Get(b, chromedp.Text(chromedp.CSS("body"))); !strings.Contains(body, "CSRF") {
		t.Errorf("a form from another origin was not refused: %q", body)
	}
	v := browsertest.New(t, browsertest.AllowConsoleErrors())
	v.Run(chromedp.Navigate(base+"/login"), chromedp.SendKeys(chromedp.CSS("#token"), viewerToken))
	v.Screenshot("login")
	v.Run(chromedp.Submit(chromedp.CSS("#token")), chromedp.WaitVisible(chromedp.CSS("#person, .error")))
	if loc := browsertest.Get(v, chromedp.Location()); loc != base+"/approvals" {
		t.Fatalf("the viewer's sign-in: at %s\n%s", loc, browsertest.Get(v, chromedp.Text(chromedp.CSS("body"))))
	}
	v.Run(chromedp.WaitVisible(chromedp.CSS("article.held")))
	if n := browsertest.Get(v, chromedp.Evaluate[int](`document.querySelectorAll("button.approve").length`)); n != 0 {
		t.Error("the viewer is offered the approve button")
	}
	status := browsertest.Get(v, chromedp.Evaluate[int](fmt.Sprintf(`(async () => {
		const csrf = document.querySelector('input[name=csrf]').value;
		const r = await fetch('/approvals/%s', {method: 'POST', body: new URLSearchParams({csrf, decision: 'approve'})});
		return r.status; })()`, id), chromedp.EvalAwaitPromise))
	if status != http.StatusForbidden {
		t.Errorf("the viewer's decision: %d, want 403", status)
	}

	// The approver approves with a reason; the run finishes.
	b.Run(chromedp.Navigate(base+"/approvals"), chromedp.WaitVisible(chromedp.CSS("article.held form.decide")),
		chromedp.SendKeys(chromedp.CSS(`article.held input[name=reason]`), "numbers only"),
		chromedp.Click(chromedp.CSS("article.held button.approve")), chromedp.WaitVisible(chromedp.CSS(".flash")))
	if flash := browsertest.Get(b, chromedp.Text(chromedp.CSS(".flash"))); !strings.Contains(flash, "Approved "+id) {
		t.Errorf("after approving: %q", flash)
	}
	if err := run.wait(2 * time.Minute); err != nil {
		t.Fatalf("agops run: %v\n%s", err, run.output())
	}
	runID := regexp.MustCompile(`run (\S+)`).FindStringSubmatch(run.output())
	b.Run(chromedp.Navigate(base+"/runs"), chromedp.WaitVisible(chromedp.CSS("#runs tbody a")))
	b.Screenshot("runs")
	b.Run(chromedp.Click(chromedp.CSS("#runs tbody a")), chromedp.WaitVisible(chromedp.CSS("#timeline")))
	if st := browsertest.Get(b, chromedp.Text(chromedp.CSS("#run-state"))); !strings.HasPrefix(st, "Completed") {
		t.Errorf("the run's state: %q (%v)", st, runID)
	}
	timeline := browsertest.Get(b, chromedp.Text(chromedp.CSS("#timeline")))
	for _, want := range []string{"trigger-long-running-operation", "approv"} {
		if !strings.Contains(timeline, want) {
			t.Errorf("the run's timeline lacks %q:\n%s", want, timeline)
		}
	}
	b.Screenshot("run")

	// The audit view: the decision in the approver's name, the chain verified; the call's records side by side.
	b.Run(chromedp.Navigate(base+"/audit?decision=approved"), chromedp.WaitVisible(chromedp.CSS("#records")))
	records := browsertest.Get(b, chromedp.Text(chromedp.CSS("#records")))
	if want := "approved by " + person + " via console:dev: numbers only"; !strings.Contains(records, want) {
		t.Errorf("the audit view lacks %q:\n%s", want, records)
	}
	if chain := browsertest.Get(b, chromedp.Text(chromedp.CSS("#chain"))); !strings.Contains(chain, "Chain verified") {
		t.Errorf("chain: %q", chain)
	}
	b.Run(chromedp.Navigate(base+"/audit"), chromedp.WaitVisible(chromedp.CSS("#records")))
	b.Screenshot("audit")
	b.Run(chromedp.Navigate(base+"/audit?tool=trigger-long-running-operation&event=result"),
		chromedp.Click(chromedp.CSS(`#records a[href^="/audit/call/"]`)), chromedp.WaitVisible(chromedp.CSS("#decision")))
	call := browsertest.Get(b, chromedp.Text(chromedp.CSS("main")))
	for _, want := range []string{"allow", "ok", "approved by " + person} {
		if !strings.Contains(call, want) {
			t.Errorf("the call's page lacks %q:\n%s", want, call)
		}
	}
	b.Screenshot("audit-call")
	b.Run(chromedp.Navigate(base+"/policy"), chromedp.WaitVisible(chromedp.CSS(".agent-policy")))
	b.Screenshot("policy")
	b.Run(chromedp.Navigate(base+"/lab"), chromedp.WaitVisible(chromedp.CSS("#lab-map svg")))
	b.Screenshot("lab")

	// A byte of the log is edited under the running gateway: the audit view flags the chain.
	logPath := filepath.Join(state, "audit.jsonl")
	data, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatal(err)
	}
	i := bytes.Index(data, []byte(`"decision":"allow"`))
	if i < 0 {
		t.Fatal("no allow record")
	}
	f, err := os.OpenFile(logPath, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte(`"decision":"deny" `), int64(i)); err != nil {
		t.Fatal(err)
	}
	f.Close()
	b.Run(chromedp.Navigate(base+"/audit"), chromedp.WaitVisible(chromedp.CSS("#chain.broken")))
	b.Screenshot("audit-tampered")
	if _, err := audit.VerifyFile(logPath); err == nil {
		t.Error("agops audit verify accepts the edited log")
	}
}
