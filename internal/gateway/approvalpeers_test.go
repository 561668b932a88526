package gateway

import (
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"
)

// longApprovals gives approvals an hour before they expire.
func longApprovals(e *env) { e.pol.timeout = time.Hour }

// deployBody is agent A's approval-gated call, always the same but for its JSON-RPC id.
func deployBody(id any) string { return toolCallBody(id, "deploy", `{"text":"prod"}`) }

func nowaitHeader() http.Header { return http.Header{HeaderApproval: {ApprovalNoWait}} }

// pendingID wants the answer to a nowait call whose approval is pending, and returns the approval's ID.
func pendingID(t *testing.T, r reply) string {
	t.Helper()
	if r.rule() != RuleApprovalPending || r.Error.Data.ApprovalID == "" || r.Error.Data.Expires.IsZero() {
		t.Fatalf("want approval:pending, got %s %+v", r.text(), r.Error)
	}
	return r.Error.Data.ApprovalID
}

// deployPending sends the nowait deploy call to e and returns the ID of its pending approval.
func deployPending(t *testing.T, e *env) string {
	t.Helper()
	return pendingID(t, e.mustCall(tokenA, deployBody(1), nowaitHeader()))
}

// The case of the durable run: pending on A, approved through B, the identical call reaches B and runs there,
// spending A's approval. The approval is then used up on every replica: the identical call asks anew.
func TestApprovalUsedOnAnotherReplica(t *testing.T) {
	t.Parallel()
	p := newPair(t, longApprovals)
	id := deployPending(t, p.a)
	if code := p.b.decide(id, true, "alice"); code != http.StatusOK {
		t.Fatalf("approve through B: status %d", code)
	}
	if r := p.b.mustCall(tokenA, deployBody(2), nowaitHeader()); r.text() != "deploy done" {
		t.Fatalf("the identical call on B: %s %+v", r.text(), r.Error)
	}
	f, _ := p.a.gw.approvals.get(id)
	allows := p.b.aud.find("decision", "allow")
	if f.State != stateUsed || len(allows) != 1 || allows[0].ApprovalID != id || f.UsedBy != allows[0].RequestID {
		t.Fatalf("A's approval %+v; B's allows: %s", f, p.b.aud.dump())
	}
	if p.a.up.runs("deploy") != 1 || len(p.b.aud.find("approval", "")) != 0 {
		t.Fatalf("deploy ran %d times; B's records: %s", p.a.up.runs("deploy"), p.b.aud.dump())
	}
	// The replay, on either replica, needs a new approval: B creates it, A's identical call shares it.
	again := deployPending(t, p.b)
	if onA := deployPending(t, p.a); again == id || onA != again || p.a.up.runs("deploy") != 1 {
		t.Fatalf("replays: %s on B, %s on A (first %s); deploy ran %d times", again, onA, id, p.a.up.runs("deploy"))
	}
}

// What a durable run does, with its Idempotency-Key: pending on A, approved, run on B; the retry on A gets B's
// result.
func TestApprovalNoWaitWithKeyAcrossReplicas(t *testing.T) {
	t.Parallel()
	p := newPair(t, longApprovals)
	hdr := nowaitHeader()
	hdr.Set(HeaderIdempotencyKey, "wf-3/deploy")
	id := pendingID(t, p.a.mustCall(tokenA, deployBody(1), hdr))
	if code := p.a.decide(id, true, "alice"); code != http.StatusOK {
		t.Fatalf("approve: status %d", code)
	}
	for _, e := range []*env{p.b, p.a, p.b} {
		if r := e.mustCall(tokenA, deployBody(2), hdr); r.text() != "deploy done" {
			t.Fatalf("after approval: %s %+v", r.text(), r.Error)
		}
	}
	if p.a.up.runs("deploy") != 1 || len(p.a.aud.find("decision", "replay")) != 1 {
		t.Fatalf("deploy ran %d times; A's records: %s", p.a.up.runs("deploy"), p.a.aud.dump())
	}
}

// Pending on A: the identical nowait call on B is told about A's approval, and creates none.
func TestApprovalPendingOnAnotherReplica(t *testing.T) {
	t.Parallel()
	p := newPair(t, longApprovals)
	id := deployPending(t, p.a)
	for _, e := range []*env{p.b, p.a, p.b} {
		if got := deployPending(t, e); got != id {
			t.Fatalf("the identical call: approval %s, want %s", got, id)
		}
	}
	for _, e := range []*env{p.a, p.b} {
		if v := e.waitPending(1); v[0].ID != id {
			t.Fatalf("listed %+v, want %s only", v, id)
		}
	}
	denies := p.b.aud.find("decision", "deny")
	if len(p.b.gw.approvals.pending(time.Now())) != 0 || len(denies) != 2 || denies[1].ApprovalID != id ||
		denies[1].Rule != RuleApprovalPending {
		t.Fatalf("B's records: %s", p.b.aud.dump())
	}
	// A call that needs no approval asks no peer.
	asked := p.byKeyA.Load()
	if r := p.b.mustCall(tokenA, toolCallBody(3, "echo", `{"text":"hi"}`), nowaitHeader()); r.text() != "echo: hi" {
		t.Fatalf("echo on B: %s", r.text())
	}
	if p.byKeyA.Load() != asked {
		t.Errorf("a call without approval asked A for one")
	}
}

// A call that waits, on B, for the approval A holds returns once a human decides, through either replica.
func TestApprovalAwaitedOnAnotherReplica(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		through func(*pair) *env
		approve bool
	}{
		{"approved through A", func(p *pair) *env { return p.a }, true},
		{"approved through B", func(p *pair) *env { return p.b }, true},
		{"rejected through B", func(p *pair) *env { return p.b }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := newPair(t, longApprovals)
			id := deployPending(t, p.a)
			waiting := make(chan reply, 1)
			go func() {
				r, err := p.b.postCall(t.Context(), tokenA, deployBody(2), nil)
				if err != nil {
					r.status = -1
				}
				waiting <- r
			}()
			if !eventually(func() bool { return p.byKeyA.Load() >= 2 }) { // asked, then polled
				t.Fatal("B does not wait for A's approval")
			}
			if code := tc.through(p).decide(id, tc.approve, "alice"); code != http.StatusOK {
				t.Fatalf("decide: status %d", code)
			}
			r := <-waiting
			f, _ := p.a.gw.approvals.get(id)
			switch {
			case tc.approve && (r.text() != "deploy done" || f.State != stateUsed || p.a.up.runs("deploy") != 1):
				t.Fatalf("approved: %s %+v; approval %s; deploy ran %d times", r.text(), r.Error, f.State,
					p.a.up.runs("deploy"))
			case !tc.approve && (r.rule() != "approval:rejected" || !p.b.aud.hasDeny("approval:rejected")):
				t.Fatalf("rejected: %s %+v", r.text(), r.Error)
			}
			if len(p.b.gw.approvals.pending(time.Now())) != 0 || len(p.b.aud.find("approval", "")) != 0 {
				t.Errorf("B created an approval: %s", p.b.aud.dump())
			}
		})
	}
}

// Rejected on A: the identical nowait call on B is told so, by whom, and the tool never runs.
func TestApprovalRejectedOnAnotherReplica(t *testing.T) {
	t.Parallel()
	p := newPair(t, longApprovals)
	id := deployPending(t, p.a)
	if code := p.a.decide(id, false, "bob"); code != http.StatusOK {
		t.Fatalf("reject: status %d", code)
	}
	r := p.b.mustCall(tokenA, deployBody(2), nowaitHeader())
	if r.rule() != "approval:rejected" || !strings.Contains(r.Error.Message, "bob") || !p.b.aud.hasDeny("approval:rejected") {
		t.Fatalf("on B after the rejection: %s %+v", r.text(), r.Error)
	}
	if p.a.up.runs("deploy") != 0 || len(p.b.aud.find("approval", "")) != 0 {
		t.Fatalf("deploy ran %d times; B's records: %s", p.a.up.runs("deploy"), p.b.aud.dump())
	}
}

// An approval spent by someone else between B's question and B's spending is used: B's call is denied.
func TestApprovalSpentFirstByAnother(t *testing.T) {
	t.Parallel()
	p := newPair(t, longApprovals)
	id := deployPending(t, p.a)
	p.a.decide(id, true, "alice")
	other := newID("rq_")
	spendFirst := func() { _, _ = p.a.gw.spend(id, other) }
	p.afterByKeyA.Store(&spendFirst)
	r := p.b.mustCall(tokenA, deployBody(2), nowaitHeader())
	if f, _ := p.a.gw.approvals.get(id); r.rule() != "approval:used" || f.UsedBy != other || p.a.up.runs("deploy") != 0 {
		t.Fatalf("B's call: %s %+v; approval used by %s; deploy ran %d times", r.text(), r.Error, f.UsedBy,
			p.a.up.runs("deploy"))
	}
	if !p.b.aud.hasDeny("approval:used") {
		t.Errorf("not audited: %s", p.b.aud.dump())
	}
}

// The trade-off: with A down, B cannot see A's approval; it warns and creates its own.
func TestApprovalWithPeerDown(t *testing.T) {
	t.Parallel()
	var logs syncBuffer
	p := newPair(t, longApprovals, func(e *env) { e.opts.Logger = slog.New(slog.NewTextHandler(&logs, nil)) })
	id := deployPending(t, p.a)
	p.stopA()
	if own := deployPending(t, p.b); own == id {
		t.Fatalf("B answered with A's approval %s while A is down", id)
	}
	if len(p.b.aud.find("approval", "approval")) != 1 || !strings.Contains(logs.String(), "approval peer unreachable") {
		t.Errorf("B's records: %s\nlogs:\n%s", p.b.aud.dump(), logs.String())
	}
}

// Replicas reach each other's approvals with their PeerToken; nobody else may read an approval by key or spend one
// (red team finding 3: sending another agent's approval back to pending); a peer that refuses is a fault, and the
// call is denied rather than given a second approval.
func TestApprovalPeersAuthenticated(t *testing.T) {
	t.Parallel()
	auth := func(token string) func(*env) {
		return func(e *env) { e.opts.PeerToken = token }
	}
	p := newPair(t, longApprovals, auth(peerToken))
	for _, tok := range []string{"", approverTokens["alice"], tokenA, "not-a-token-at-all-0123456789"} {
		if code := p.a.adminAs(tok, http.MethodGet, "/approvals/by-key/sha256:"+strings.Repeat("0", 64), "", nil); code != http.StatusUnauthorized && code != http.StatusForbidden {
			t.Errorf("by key with token %q: status %d", tok, code)
		}
		if code := p.a.adminAs(tok, http.MethodPost, "/approvals/ap_x/use", `{"requestId": "rq_x"}`, nil); code != http.StatusUnauthorized && code != http.StatusForbidden {
			t.Errorf("use with token %q: status %d", tok, code)
		}
	}
	id := deployPending(t, p.a)
	if r := p.b.mustCall(tokenA, deployBody(2), nowaitHeader()); r.Error == nil || r.Error.Data.ApprovalID != id {
		t.Fatalf("with a peer token: %s %+v", r.text(), r.Error)
	}
	refused := newPair(t, longApprovals, auth(""))
	r := refused.b.mustCall(tokenA, deployBody(1), nowaitHeader())
	if r.rule() != "gateway:internal" || len(refused.b.aud.find("approval", "")) != 0 {
		t.Fatalf("refused by the peer: %s %+v", r.text(), r.Error)
	}
}

// GET /approvals/by-key/{key} and POST /approvals/{id}/use answer from the replica's own store only.
func TestApprovalPeerEndpoints(t *testing.T) {
	t.Parallel()
	p := newPair(t, longApprovals)
	id := deployPending(t, p.a)
	key := p.a.waitPending(1)[0].Key
	ac := &AdminClient{BaseURL: p.a.admin.URL, Token: peerToken}
	if a, found, err := ac.ApprovalByKey(t.Context(), key); err != nil || !found || a.ID != id || a.State != statePending {
		t.Fatalf("by key on A: %+v %v %v", a, found, err)
	}
	if _, found, err := (&AdminClient{BaseURL: p.b.admin.URL, Token: peerToken}).ApprovalByKey(t.Context(), key); err != nil || found {
		t.Fatalf("by key on B (never passed on): %v %v", found, err)
	}
	for _, bad := range []string{"short", key[7:], strings.ToUpper(key), key + "0", "sha256:" + strings.Repeat("g", 64)} {
		if code := p.a.adminAs(peerToken, http.MethodGet, "/approvals/by-key/"+bad, "", nil); code != http.StatusBadRequest {
			t.Errorf("GET /approvals/by-key/%s: status %d", bad, code)
		}
		if _, _, err := ac.ApprovalByKey(t.Context(), bad); err == nil {
			t.Errorf("ApprovalByKey(%q) accepted", bad)
		}
	}
	for _, body := range []string{`{}`, `{"requestId": "x"}`, `{"requestId": "rq_00", "more": 1}`, `not json`} {
		if code := p.a.adminAs(peerToken, http.MethodPost, "/approvals/"+id+"/use", body, nil); code != http.StatusBadRequest {
			t.Errorf("use with %s: status %d", body, code)
		}
	}
	spend := func(id string) (ApprovalUse, error) { return ac.UseApproval(t.Context(), id, newID("rq_")) }
	if u, err := spend(id); err != nil || u.Spent || u.Approval.State != statePending {
		t.Fatalf("spending a pending approval: %+v %v", u, err)
	}
	if _, err := (&AdminClient{BaseURL: p.b.admin.URL, Token: peerToken}).UseApproval(t.Context(), id, newID("rq_")); !isStatus(err, http.StatusNotFound) {
		t.Fatalf("spending on B what A holds: %v", err)
	}
	p.a.decide(id, true, "alice")
	if u, err := spend(id); err != nil || !u.Spent || u.Approval.State != stateUsed {
		t.Fatalf("spending an approved approval: %+v %v", u, err)
	}
	if u, err := spend(id); err != nil || u.Spent || u.Approval.State != stateUsed || u.Error == "" {
		t.Fatalf("spending it twice: %+v %v", u, err)
	}
	if _, found, _ := ac.ApprovalByKey(t.Context(), key); found {
		t.Errorf("a used approval is still offered by key")
	}
}

// isStatus reports whether err is an AdminError with status.
func isStatus(err error, status int) bool {
	var ae *AdminError
	return errors.As(err, &ae) && ae.Status == status
}
