package gateway

import (
	"context"
	"net/http"
	"strings"
	"testing"
)

// consoleDecide posts a decision as the console, naming approvers (each value one X-Agops-Approver header).
func (e *env) consoleDecide(id, body string, approvers ...string) int {
	e.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, e.admin.URL+"/approvals/"+id, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+approverTokens["console:ops"])
	for _, a := range approvers {
		req.Header.Add(approverHeader, a)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestConsoleDecidesForAPerson: a console decides only in the name of one person its request names, never its own
// or another console's, never the agent's own call; the audit names the person, the console and the reason.
func TestConsoleDecidesForAPerson(t *testing.T) {
	t.Parallel()
	e := newEnv(t, upstreamModes[0])
	ch := e.deployAsync(t.Context(), "prod")
	v := e.waitPending(1)[0]
	if !strings.Contains(v.Args, `"text":"prod"`) {
		t.Errorf("the held call's arguments: %q", v.Args)
	}
	approve := `{"approve": true, "reason": "release window"}`
	for _, tc := range []struct {
		name      string
		approvers []string
		want      int
	}{
		{"nobody named", nil, http.StatusBadRequest},
		{"two people", []string{"alice", "bob"}, http.StatusBadRequest},
		{"the console itself", []string{"console:ops"}, http.StatusBadRequest},
		{"another console, other case", []string{"CONSOLE:other"}, http.StatusBadRequest},
		{"not an identity", []string{"alice bob"}, http.StatusBadRequest},
		{"the agent whose call it is", []string{agentA}, http.StatusForbidden},
		{"the agent, another spelling", []string{strings.ToUpper(agentA)}, http.StatusForbidden},
	} {
		if code := e.consoleDecide(v.ID, approve, tc.approvers...); code != tc.want {
			t.Errorf("%s: status %d, want %d", tc.name, code, tc.want)
		}
	}
	for _, body := range []string{`{"approve": true, "reason": "a\nb"}`, `{"approve": true, "reason": "` + strings.Repeat("x", 501) + `"}`,
		`{"approve": true, "by": "bob"}`} {
		if code := e.consoleDecide(v.ID, body, "alice"); code/100 != 4 {
			t.Errorf("%s: status %d", body, code)
		}
	}
	if e.up.runs("deploy") != 0 {
		t.Fatal("the call ran before a valid decision")
	}
	if code := e.consoleDecide(v.ID, approve, "alice"); code != http.StatusOK {
		t.Fatalf("the console deciding for alice: status %d", code)
	}
	if r := wait(t, ch); r.err != nil {
		t.Fatalf("approved call: %v", r.err)
	}
	recs := e.aud.find("approval", "approved")
	if len(recs) != 1 || recs[0].Reason != "approved by alice via console:ops: release window" {
		t.Errorf("audit: %s", e.aud.dump())
	}
	if len(e.aud.find("decision", "deny")) < 3 {
		t.Errorf("refused console decisions not audited: %s", e.aud.dump())
	}
}

// TestConsoleThroughAdminClient: the client a console uses names the person and passes the reason.
func TestConsoleThroughAdminClient(t *testing.T) {
	t.Parallel()
	e := newEnv(t, upstreamModes[0])
	ch := e.deployAsync(t.Context(), "prod")
	v := e.waitPending(1)[0]
	c := &AdminClient{BaseURL: e.admin.URL, Token: approverTokens["console:ops"], OnBehalfOf: "bob"}
	a, err := c.DecideWithReason(context.Background(), v.ID, false, "not in the release window")
	if err != nil || a.State != stateRejected || a.DecidedBy != "bob" {
		t.Fatalf("decision: %+v %v", a, err)
	}
	if r := wait(t, ch); r.err == nil || !strings.Contains(r.err.Error(), "rejected by bob") {
		t.Fatalf("rejected call: %v", r.err)
	}
	recs := e.aud.find("approval", "rejected")
	if len(recs) != 1 || recs[0].Reason != "rejected by bob via console:ops: not in the release window" {
		t.Errorf("audit: %s", e.aud.dump())
	}
}
