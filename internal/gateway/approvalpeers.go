package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"strings"
	"time"
)

// A gateway with several replicas keeps each approval on the replica where the call first asked for it. An
// approval-gated call that finds no approval of its approval key here asks the peers (Options.Peers) before it
// creates one: GET /approvals/by-key/{key} on their admin listeners, which answer from their own store only and never
// ask further. A peer's approved approval is spent there (POST /approvals/{id}/use) and the call goes on here; a
// peer's pending approval is what a nowait call is told about, and what a waiting call waits for (asking every
// peerPoll); a peer's rejected or expired one denies a nowait call as a local one would.
//
// A peer that cannot be reached (or serves no /approvals/by-key, an older version) is passed over with a warning,
// and the call creates its approval here if no other peer has one: a second approval of the same call, for a human
// to decide, rather than calls refused while a replica is down. Spending needs no such choice: an approval spent on
// its replica is used up for every replica. A peer that answers, but not with an approval of the key, is a fault:
// the call is denied (gateway:internal), as when a peer fails while a call waits for or spends its approval.

// approvalNone is the state GET /approvals/by-key/{key} answers when the replica holds no approval of the key.
const approvalNone = "none"

// ApprovalUse is the answer of POST /approvals/{id}/use: HTTP 200 when the request spent the approval, 409 when it
// could not.
type ApprovalUse struct {
	// Spent is true when this request spent the approval: it is now used, by the request it named.
	Spent bool `json:"spent"`
	// Approval is the approval after the request; when it was not spent, its State says why: pending, rejected,
	// expired, or used already.
	Approval Approval `json:"approval"`
	// Error is, when the approval was not spent, the reason in words.
	Error string `json:"error,omitempty"`
}

// heldState reports whether state is one an approval can be in.
func heldState(state string) bool {
	switch state {
	case statePending, stateApproved, stateRejected, stateExpired, stateUsed:
		return true
	}
	return false
}

// isApprovalKey reports whether key is an approval key as approvalKey makes it: "sha256:" and 64 lowercase
// hexadecimal digits.
func isApprovalKey(key string) bool {
	hex, ok := strings.CutPrefix(key, "sha256:")
	return ok && isKeyName(hex)
}

// isGatewayID reports whether id is an ID newID made with prefix: prefix and 32 lowercase hexadecimal digits.
func isGatewayID(id, prefix string) bool {
	hex, ok := strings.CutPrefix(id, prefix)
	return ok && len(hex) == 32 && isLowerHex(hex)
}

// validUse reports whether u is a coherent answer to spending approval id on the call requestID.
func validUse(u ApprovalUse, id, requestID string) bool {
	spentNow := u.Approval.State == stateUsed && u.Approval.UsedBy == requestID
	return u.Approval.ID == id && heldState(u.Approval.State) && u.Spent == spentNow
}

// serveApprovalByKey serves GET /approvals/by-key/{key}: the approval of an approval key this replica holds that an
// identical call would use (approved and still valid, else pending) or be told about (rejected or expired less than
// ApprovalValidity ago), from its own store only; {"state": "none"} when there is none. A peer asks it before
// creating an approval; it is never passed on to other replicas.
func (g *Gateway) serveApprovalByKey(w http.ResponseWriter, r *http.Request) {
	if _, ok := g.admin(w, r, peersOnly); !ok {
		return
	}
	key := r.PathValue("key")
	if !isApprovalKey(key) {
		writeJSONError(w, http.StatusBadRequest, `not an approval key ("sha256:" and 64 lowercase hexadecimal digits)`)
		return
	}
	g.expireDue(r.Context())
	now := g.now()
	f, _, ok := g.approvals.find(key, now, g.opts.ApprovalValidity)
	if !ok {
		f, ok = g.approvals.ended(key, now, g.opts.ApprovalValidity)
	}
	if !ok {
		writeJSON(w, http.StatusOK, map[string]string{"state": approvalNone})
		return
	}
	writeJSON(w, http.StatusOK, viewOf(f))
}

// serveUseApproval serves POST /approvals/{id}/use with {"requestId": "rq_…"}: it spends approved approval id, held
// by this replica, on a call of another replica, as useApproval does for a call here. It answers an ApprovalUse, or
// 404 for an approval this replica does not hold (never passed on).
func (g *Gateway) serveUseApproval(w http.ResponseWriter, r *http.Request) {
	caller, ok := g.admin(w, r, peersOnly)
	if !ok {
		return
	}
	var body struct {
		RequestID string `json:"requestId"`
	}
	raw, err := readAdminBody(w, r, 4096)
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err != nil || dec.Decode(&body) != nil || !isGatewayID(body.RequestID, "rq_") {
		writeJSONError(w, http.StatusBadRequest, `want {"requestId": "rq_<32 hexadecimal digits>"}`)
		return
	}
	g.expireDue(r.Context())
	id := r.PathValue("id")
	f, err := g.spend(id, body.RequestID)
	switch {
	case errors.Is(err, os.ErrNotExist):
		writeJSONError(w, http.StatusNotFound, "no such approval")
	case errors.Is(err, errApprovalState):
		writeJSON(w, http.StatusConflict, ApprovalUse{Approval: viewOf(f), Error: "approval is " + f.State})
	case err != nil:
		g.log.Error("approval store", "approval", id, "err", err)
		writeJSONError(w, http.StatusInternalServerError, "approval store unavailable")
	default:
		g.log.Info("approval used by a peer", "approval", id, "request", body.RequestID, "by", caller.name)
		writeJSON(w, http.StatusOK, ApprovalUse{Spent: true, Approval: viewOf(f)})
	}
}

// heldApproval is an approval of a call's key that a peer holds.
type heldApproval struct {
	pc *AdminClient // nil: no peer holds one
	a  Approval
}

// live reports whether the call uses the peer's approval (approved) or waits for it (pending).
func (h heldApproval) live() bool {
	return h.pc != nil && (h.a.State == stateApproved || h.a.State == statePending)
}

// peerApproval asks the peers for an approval of c's key and returns the best answer: approved, else pending, else
// ended (rejected or expired). It returns none without Options.Peers; unreachable peers are passed over with a
// warning; any other failure of a peer denies the call.
func (g *Gateway) peerApproval(ctx context.Context, c *call) (heldApproval, *rpcError) {
	var best heldApproval
	if g.opts.Peers == nil {
		return best, nil
	}
	key := approvalKey(c)
	for _, peer := range g.opts.Peers(ctx) {
		pc := g.peerAdmin(peer)
		a, found, err := pc.ApprovalByKey(ctx, key)
		var ae *AdminError
		switch {
		case err == nil && found && (best.pc == nil || a.State == stateApproved || !best.live() && a.State == statePending):
			best = heldApproval{pc: pc, a: a}
		case err == nil: // nothing there, or nothing better
		case ctx.Err() != nil:
			return best, newRPCError(http.StatusOK, CodeApproval, "approval:abandoned",
				"the caller went away while the other replicas were asked for its approval")
		case errors.As(err, &ae) && ae.Status == http.StatusNotFound, unreachable(err):
			g.log.Warn("approval peer unreachable; passed over", "peer", peer, "request", c.requestID, "err", err)
		default:
			g.log.Error("approval peers", "peer", peer, "request", c.requestID, "err", err)
			return best, internalDenial("approval peer unusable")
		}
		if best.a.State == stateApproved {
			break
		}
	}
	if best.pc != nil {
		g.log.Info("approval on a peer", "request", c.requestID, "peer", best.pc.BaseURL, "approval", best.a.ID,
			"state", best.a.State)
	}
	return best, nil
}

// usePeerApproval is awaitLocal for an approval a peer holds, approved or pending: a nowait call is told it is
// pending; a waiting call waits for its decision (see pollPeerApproval); then the call spends it there.
func (g *Gateway) usePeerApproval(ctx context.Context, c *call, h heldApproval) (string, *rpcError) {
	if h.a.State == statePending && c.nowait {
		return "", pendingDenial(approvalFile{ID: h.a.ID, Expires: h.a.Expires})
	}
	if h.a.State == statePending {
		if err := g.pollPeerApproval(ctx, h); err != nil {
			g.log.Warn("approval peer stopped answering", "request", c.requestID, "peer", h.pc.BaseURL,
				"approval", h.a.ID, "err", err)
			return "", internalDenial("approval peer unusable")
		}
	}
	if ctx.Err() != nil {
		return "", abandonedDenial(h.a.ID)
	}
	return g.spendOnPeer(ctx, c, h)
}

// pollPeerApproval asks h's peer about h's key every peerPoll until h's approval is no longer the pending one there
// (decided, used, or gone), it expires by this replica's clock, or ctx ends. An error means the peer stopped
// answering meanwhile.
func (g *Gateway) pollPeerApproval(ctx context.Context, h heldApproval) error {
	timeout := time.NewTimer(h.a.Expires.Sub(g.now()))
	defer timeout.Stop()
	tick := time.NewTicker(peerPoll)
	defer tick.Stop()
	for {
		select {
		case <-timeout.C:
			return nil
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		a, found, err := h.pc.ApprovalByKey(ctx, h.a.Key)
		switch {
		case err != nil && ctx.Err() != nil:
			return nil
		case err != nil:
			return err
		case !found || a.ID != h.a.ID || a.State != statePending:
			return nil
		}
	}
}

// spendOnPeer spends h's approval on its peer for c, and says why it cannot: as useApproval, an approval spent by
// someone else first is used. The spend is not cut short when the caller goes away, so that its outcome is known.
func (g *Gateway) spendOnPeer(ctx context.Context, c *call, h heldApproval) (string, *rpcError) {
	u, err := h.pc.UseApproval(context.WithoutCancel(ctx), h.a.ID, c.requestID)
	if err != nil {
		g.log.Error("approval peers", "peer", h.pc.BaseURL, "request", c.requestID, "approval", h.a.ID, "err", err)
		return "", internalDenial("approval peer unusable")
	}
	if !u.Spent {
		return "", endedDenial(h.a.ID, u.Approval.State, u.Approval.DecidedBy)
	}
	g.log.Info("approval used on a peer", "request", c.requestID, "peer", h.pc.BaseURL, "approval", h.a.ID)
	return h.a.ID, nil
}
