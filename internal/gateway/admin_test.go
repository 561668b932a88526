package gateway

import (
	"errors"
	"net/http"
	"testing"
)

// TestAdminClient drives the approval flow through the client `agops approve` uses.
func TestAdminClient(t *testing.T) {
	t.Parallel()
	e := newEnv(t, upstreamModes[0])
	c := &AdminClient{BaseURL: e.admin.URL + "/", Token: approverTokens["alice"]}
	ch := e.deployAsync(t.Context(), "prod")
	e.waitPending(1)
	pending, err := c.Pending(t.Context())
	if err != nil || len(pending) != 1 || pending[0].Tool != "deploy" || pending[0].State != "pending" {
		t.Fatalf("Pending = %+v, %v", pending, err)
	}
	var ae *AdminError
	if _, err := c.Decide(t.Context(), pending[0].ID, true, agentA); !errors.As(err, &ae) || ae.Status != http.StatusForbidden {
		t.Errorf("self-approval: %v", err)
	}
	if _, err := c.Decide(t.Context(), "ap_nosuch", true, "alice"); !errors.As(err, &ae) || ae.Status != http.StatusNotFound ||
		ae.Message != "no such approval" {
		t.Errorf("unknown ID: %v", err)
	}
	if _, err := c.Decide(t.Context(), "../approvals", true, "alice"); err == nil {
		t.Error("an ID with a slash was sent")
	}
	a, err := c.Decide(t.Context(), pending[0].ID, true, "alice")
	if err != nil || a.State != "approved" || a.DecidedBy != "alice" {
		t.Fatalf("Decide = %+v, %v", a, err)
	}
	if r := wait(t, ch); r.err != nil || resultText(t, r.res) != "deploy done" {
		t.Fatalf("approved call: %v", r.err)
	}
	if pending, err := c.Pending(t.Context()); err != nil || len(pending) != 0 {
		t.Errorf("after the decision: %+v, %v", pending, err)
	}
	if _, err := (&AdminClient{BaseURL: "http://127.0.0.1:1"}).Pending(t.Context()); err == nil {
		t.Error("no error from an address nobody listens on")
	}
}
