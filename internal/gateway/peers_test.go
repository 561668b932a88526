package gateway

import (
	"context"
	"net/http"
	"sync/atomic"
	"testing"
)

// TestApprovalOnAnotherReplica: with two replicas, a call waits on one while the approver reaches the other (as a
// Service would send them): the listing there shows it, and the decision is passed on to the replica that holds
// it, once — a forwarded request is never passed on again.
func TestApprovalOnAnotherReplica(t *testing.T) {
	t.Parallel()
	var aAdmin, bAdmin atomic.Value
	a := newEnv(t, upstreamModes[0], func(e *env) {
		e.opts.Peers, e.opts.PeerToken = func(context.Context) []string { return []string{bAdmin.Load().(string)} }, peerToken
	})
	b := newEnv(t, upstreamModes[0], func(e *env) {
		e.opts.Peers, e.opts.PeerToken = func(context.Context) []string { return []string{aAdmin.Load().(string)} }, peerToken
	})
	aAdmin.Store(a.admin.URL)
	bAdmin.Store(b.admin.URL)

	ch := a.deployAsync(t.Context(), "prod")
	views := b.waitPending(1) // B holds nothing; it lists A's
	if views[0].Agent != agentA {
		t.Fatalf("pending on the other replica: %+v", views)
	}
	if code := b.decide("ap_nosuchapproval", true, "alice"); code != http.StatusNotFound {
		t.Errorf("an approval no replica holds: status %d", code)
	}
	if code := b.decide(views[0].ID, true, agentA); code != http.StatusForbidden {
		t.Errorf("self-approval through a peer: status %d", code)
	}
	if code := b.decide(views[0].ID, true, "alice"); code != http.StatusOK {
		t.Fatalf("approve through the other replica: status %d", code)
	}
	if r := wait(t, ch); r.err != nil || resultText(t, r.res) != "deploy done" {
		t.Fatalf("the approved call: %v", r.err)
	}
	// The holder audited it, by the approver's name.
	found := false
	for _, rec := range a.aud.records() {
		found = found || rec.Event == "approval" && rec.Decision == "approved"
	}
	if !found {
		t.Errorf("replica A did not audit the approval: %s", a.aud.dump())
	}
}
