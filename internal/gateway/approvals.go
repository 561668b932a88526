package gateway

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"time"
	"unicode/utf8"

	"github.com/agops/agops/internal/audit"
	"github.com/agops/agops/internal/mask"
	"github.com/agops/agops/internal/policy"
)

// approvalKey identifies a call across retries and restarts: same agent, server, tool (or method and path) and
// arguments.
func approvalKey(c *call) string {
	h := sha256.New()
	for _, s := range []string{c.c.Agent, c.c.Server, c.c.Tool, c.c.Method, c.c.Path, c.digest} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}

// awaitApproval blocks until a human approves the call (its approval is then used up), rejects it, or time runs
// out. It returns the approval's ID, or the denial. A call sent with nowait does not wait: see pendingDenial. With
// no approval of the call here, the peers are asked first (see peerApproval): one they hold is used, waited for or
// told about as a local one would be; only when none has it is a new approval created here.
func (g *Gateway) awaitApproval(ctx context.Context, c *call, d policy.Decision) (string, *rpcError) {
	g.expireDue(ctx)
	now := g.now()
	f, done, ok := g.approvals.find(approvalKey(c), now, g.opts.ApprovalValidity)
	if !ok {
		held, aerr := g.peerApproval(ctx, c)
		switch {
		case aerr != nil:
			return "", aerr
		case held.live():
			return g.usePeerApproval(ctx, c, held)
		}
		if c.nowait {
			if ended, found := g.approvals.ended(approvalKey(c), now, g.opts.ApprovalValidity); found {
				return g.useApproval(c, ended.ID) // tells why it ended
			}
			if held.pc != nil { // ended on a peer
				return "", endedDenial(held.a.ID, held.a.State, held.a.DecidedBy)
			}
		}
		if f, done, aerr = g.requestApproval(ctx, c, d, now); aerr != nil {
			return "", aerr
		}
	}
	return g.awaitLocal(ctx, c, f, done, now)
}

// awaitLocal waits, unless the call was sent with nowait, until approval f of this replica leaves pending (done is
// closed), expires or the caller goes away; then it uses the approval up, or says why it cannot.
func (g *Gateway) awaitLocal(ctx context.Context, c *call, f approvalFile, done <-chan struct{}, now time.Time) (string, *rpcError) {
	if f.State == statePending && c.nowait {
		return "", pendingDenial(f)
	}
	if f.State == statePending {
		timer := time.NewTimer(f.Expires.Sub(now))
		defer timer.Stop()
		select {
		case <-done:
		case <-timer.C:
			g.expire(ctx, f.ID)
		case <-ctx.Done():
		}
	}
	if ctx.Err() != nil {
		return "", abandonedDenial(f.ID)
	}
	return g.useApproval(c, f.ID)
}

// abandonedDenial answers a caller gone while its call waited for approval id. The approval stays as it is: a retry
// of the same call finds it.
func abandonedDenial(id string) *rpcError {
	return newRPCError(http.StatusOK, CodeApproval, "approval:abandoned",
		"the caller went away while waiting for approval "+id)
}

// requestApproval creates, audits and persists the pending approval of a call.
func (g *Gateway) requestApproval(ctx context.Context, c *call, d policy.Decision, now time.Time) (approvalFile, <-chan struct{}, *rpcError) {
	timeout := d.ApprovalTimeout
	if timeout <= 0 {
		timeout = g.opts.ApprovalTimeout
	}
	f := approvalFile{
		Version: 1, ID: newID("ap_"), Key: approvalKey(c), Agent: c.c.Agent, Server: c.c.Server, Tool: c.c.Tool,
		Method: c.c.Method, Path: c.c.Path, ArgsDigest: c.digest, Args: mask.Args(c.c.Args), Rule: d.Rule, Reason: d.Reason,
		RequestID: c.requestID, State: statePending, Created: now, Expires: now.Add(timeout),
	}
	rec := g.approvalRecord(f, "approval", "approval requested: "+d.Reason)
	if c.key != nil {
		rec.IdempotencyKey = c.key.raw
	}
	if g.approvals.pendingOf(c.c.Agent, now) >= g.opts.MaxPendingApprovals {
		return f, nil, tooManyPending(g.opts.MaxPendingApprovals)
	}
	if err := g.appendAudit(ctx, rec); err != nil {
		return f, nil, internalDenial("audit log unavailable")
	}
	f, done, err := g.approvals.create(f, g.opts.MaxPendingApprovals)
	if errors.Is(err, errTooManyPending) {
		return f, nil, tooManyPending(g.opts.MaxPendingApprovals)
	}
	if err != nil {
		g.log.Error("approval store", "request", c.requestID, "err", err)
		return f, nil, internalDenial("approval store unavailable")
	}
	g.log.Info("approval requested", "request", c.requestID, "approval", f.ID, "agent", c.c.Agent,
		"server", c.c.Server, "tool", c.c.Tool, "nowait", c.nowait)
	return f, done, nil
}

func tooManyPending(n int) *rpcError {
	return newRPCError(http.StatusOK, CodeLimited, "limits:pendingApprovals",
		fmt.Sprintf("the agent already has %d calls waiting for a human; wait until they are decided", n))
}

// useApproval spends approval id on the call, once.
func (g *Gateway) useApproval(c *call, id string) (string, *rpcError) {
	f, err := g.spend(id, c.requestID)
	if err == nil {
		return id, nil
	}
	if !errors.Is(err, errApprovalState) {
		g.log.Error("approval store", "request", c.requestID, "err", err)
		return "", internalDenial("approval store unavailable")
	}
	return "", endedDenial(id, f.State, f.DecidedBy)
}

// spend moves approval id from approved to used by request requestID (a call of this replica or of a peer's). On
// errApprovalState the approval returned says what it is instead.
func (g *Gateway) spend(id, requestID string) (approvalFile, error) {
	return g.approvals.transition(id, []string{stateApproved}, func(f *approvalFile) {
		f.State, f.UsedBy, f.UsedAt = stateUsed, requestID, g.now()
	})
}

// endedDenial is the refusal of a call whose approval id cannot be used, being in state (decided by decidedBy).
func endedDenial(id, state, decidedBy string) *rpcError {
	switch state {
	case stateRejected:
		return newRPCError(http.StatusOK, CodeApproval, "approval:rejected",
			fmt.Sprintf("approval %s rejected by %s", id, decidedBy))
	case stateExpired, statePending:
		return newRPCError(http.StatusOK, CodeApproval, "approval:expired", "approval "+id+" timed out")
	default:
		return newRPCError(http.StatusOK, CodeApproval, "approval:used", "approval "+id+" was already used")
	}
}

// expireDue expires, and audits, every approval whose time ran out.
func (g *Gateway) expireDue(ctx context.Context) {
	for _, id := range g.approvals.due(g.now(), g.opts.ApprovalValidity) {
		g.expire(ctx, id)
	}
}

func (g *Gateway) expire(ctx context.Context, id string) {
	f, err := g.approvals.transition(id, []string{statePending, stateApproved}, func(f *approvalFile) {
		f.State = stateExpired
	})
	if err != nil {
		if !errors.Is(err, errApprovalState) {
			g.log.Error("approval store", "approval", id, "err", err)
		}
		return
	}
	_ = g.auditApproval(context.WithoutCancel(ctx), f, "expired", "approval timed out")
}

// auditApproval appends an approval event for f.
func (g *Gateway) auditApproval(ctx context.Context, f approvalFile, decision, reason string) error {
	return g.appendAudit(ctx, g.approvalRecord(f, decision, reason))
}

func (g *Gateway) approvalRecord(f approvalFile, decision, reason string) audit.Record {
	return audit.Record{
		Time: g.now(), Event: "approval", RequestID: f.RequestID, Caller: f.Agent, Server: f.Server, Tool: f.Tool,
		Method: methodOf(f), Path: f.Path, ArgsDigest: f.ArgsDigest, Decision: decision, Rule: f.Rule,
		Reason: reason, ApprovalID: f.ID,
	}
}

func methodOf(f approvalFile) string {
	if f.Tool != "" {
		return "tools/call"
	}
	return f.Method
}

// Approval is a held call as the admin API shows it.
type Approval struct {
	ID         string `json:"id"`
	Key        string `json:"key,omitempty"` // the approval key of the call: "sha256:<hex>"
	Agent      string `json:"agent"`
	Server     string `json:"server"`
	Tool       string `json:"tool,omitempty"`
	Method     string `json:"method,omitempty"`
	Path       string `json:"path,omitempty"`
	ArgsDigest string `json:"argsDigest"`
	// Args are the arguments, credential-looking values masked ("" for a call held before they were kept).
	Args      string    `json:"args,omitempty"`
	Rule      string    `json:"rule,omitempty"`
	Reason    string    `json:"reason,omitempty"`
	State     string    `json:"state"`
	Created   time.Time `json:"created"`
	Expires   time.Time `json:"expires"`
	DecidedBy string    `json:"decidedBy,omitempty"`
	DecidedAt time.Time `json:"decidedAt,omitzero"`
	UsedBy    string    `json:"usedBy,omitempty"` // the request that used the approval, on whichever replica
	UsedAt    time.Time `json:"usedAt,omitzero"`
}

func viewOf(f approvalFile) Approval {
	return Approval{ID: f.ID, Key: f.Key, Agent: f.Agent, Server: f.Server, Tool: f.Tool, Method: f.Method,
		Path: f.Path, ArgsDigest: f.ArgsDigest, Args: f.Args, Rule: f.Rule, Reason: f.Reason, State: f.State, Created: f.Created,
		Expires: f.Expires, DecidedBy: f.DecidedBy, DecidedAt: f.DecidedAt, UsedBy: f.UsedBy, UsedAt: f.UsedAt}
}

// listApprovals serves GET /approvals: the pending approvals, oldest first.
func (g *Gateway) listApprovals(w http.ResponseWriter, r *http.Request) {
	if _, ok := g.admin(w, r, humansAndPeers); !ok {
		return
	}
	g.expireDue(r.Context())
	views := []Approval{}
	for _, f := range g.approvals.pending(g.now()) {
		views = append(views, viewOf(f))
	}
	views = append(views, g.peerPending(r)...)
	writeJSON(w, http.StatusOK, views)
}

// decideApproval serves POST /approvals/{id} with {"approve": bool}. The approver is the authenticated caller (or
// the human a replica names when it passes a decision on); a "by" in the body, kept for older clients, must name
// that same identity.
func (g *Gateway) decideApproval(w http.ResponseWriter, r *http.Request) {
	caller, ok := g.admin(w, r, humansAndPeers)
	if !ok {
		return
	}
	who, ok := g.approverOf(w, r, &caller)
	if !ok {
		return
	}
	var body struct {
		Approve *bool  `json:"approve"`
		By      string `json:"by"`
		Reason  string `json:"reason"`
	}
	raw, err := readAdminBody(w, r, 4096)
	if err != nil {
		writeJSONError(w, http.StatusBadRequest, `want {"approve": true|false}`)
		return
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil || body.Approve == nil {
		writeJSONError(w, http.StatusBadRequest, `want {"approve": true|false, "reason": TEXT}`)
		return
	}
	if err := validDecisionReason(body.Reason); err != nil {
		writeJSONError(w, http.StatusBadRequest, err.Error())
		return
	}
	if body.By != "" && !SameIdentity(body.By, who) {
		g.auditAdminRefusal(r, who, r.PathValue("id"), "approval:by", "the body names another approver than the caller")
		writeJSONError(w, http.StatusForbidden, fmt.Sprintf("\"by\" names %q, but the caller is %q: the approver is whoever authenticated", body.By, who))
		return
	}
	g.expireDue(r.Context())
	id := r.PathValue("id")
	f, found := g.approvals.get(id)
	switch {
	case !found && !caller.peer && g.forwardDecision(w, r, id, raw, who, caller.via()):
		return // another replica holds it and answered
	case !found:
		writeJSONError(w, http.StatusNotFound, "no such approval")
		return
	case f.State != statePending:
		writeJSONError(w, http.StatusConflict, "approval is "+f.State)
		return
	case SameIdentity(who, f.Agent):
		g.auditAdminRefusal(r, who, id, "approval:self", "nobody approves their own call")
		writeJSONError(w, http.StatusForbidden, "nobody approves their own call: "+who+" made it")
		return
	}
	g.decide(w, r, f, *body.Approve, decider{who: who, via: caller.via(), reason: body.Reason})
}

// decider is who decides an approval: the human, the console that passed the decision on in their name (or ""),
// and the reason they gave.
type decider struct{ who, via, reason string }

// auditReason is what the approval record says of the decision: "approved by alice via console:ops: looks safe".
func (d decider) auditReason(verb string) string {
	s := verb + " by " + d.who
	if d.via != "" {
		s += " via " + d.via
	}
	if d.reason != "" {
		s += ": " + d.reason
	}
	return s
}

// maxDecisionReason bounds the reason a human gives with a decision.
const maxDecisionReason = 500

func validDecisionReason(s string) error {
	if len(s) > maxDecisionReason {
		return fmt.Errorf("the reason has %d bytes; at most %d", len(s), maxDecisionReason)
	}
	for _, c := range s {
		if c < 0x20 || c == 0x7f || c == utf8.RuneError {
			return errors.New("the reason holds a control character or invalid UTF-8")
		}
	}
	return nil
}

// decide records a human's decision on pending approval f and answers with the approval as decided.
func (g *Gateway) decide(w http.ResponseWriter, r *http.Request, f approvalFile, approve bool, d decider) {
	who := d.who
	state, verb := stateRejected, "rejected"
	if approve {
		state, verb = stateApproved, "approved"
	}
	if err := g.auditApproval(r.Context(), f, verb, d.auditReason(verb)); err != nil {
		writeJSONError(w, http.StatusServiceUnavailable, "audit log unavailable; nothing decided")
		return
	}
	f, err := g.approvals.transition(f.ID, []string{statePending}, func(f *approvalFile) {
		f.State, f.DecidedBy, f.DecidedAt = state, who, g.now()
	})
	switch {
	case errors.Is(err, errApprovalState):
		writeJSONError(w, http.StatusConflict, "approval is "+f.State)
		return
	case errors.Is(err, os.ErrNotExist):
		writeJSONError(w, http.StatusNotFound, "no such approval")
		return
	case err != nil:
		g.log.Error("approval store", "approval", f.ID, "err", err)
		writeJSONError(w, http.StatusInternalServerError, "approval store unavailable")
		return
	}
	g.log.Info("approval decided", "approval", f.ID, "state", state, "by", who)
	writeJSON(w, http.StatusOK, viewOf(f))
}

func internalDenial(reason string) *rpcError {
	return newRPCError(http.StatusOK, codeInternal, "gateway:internal", reason+"; call denied")
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func writeJSONError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}
