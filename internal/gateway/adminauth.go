package gateway

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/agops/agops/internal/audit"
)

// Every route of the admin listener but the probes authenticates its caller, always: a human approver
// (Options.AdminAuthenticator, whose identity is the approver) or another replica (Options.PeerAuthenticator, or
// Options.PeerToken). Humans list and decide approvals and read metrics; replicas also read keys, read and spend
// approvals, and pass on a decision a human made on them, naming that human in approverHeader, which is read from
// replicas only. A body field never names the approver.
const approverHeader = "X-Agops-Approver"

// adminCaller is an authenticated caller of the admin listener.
type adminCaller struct {
	name string
	peer bool // another replica
}

// Who may call an admin route.
type adminAccess int

const (
	humansAndPeers adminAccess = iota
	peersOnly
)

// admin authenticates the caller of an admin route, or answers 401 (403 for a human on a replicas' route).
func (g *Gateway) admin(w http.ResponseWriter, r *http.Request, access adminAccess) (adminCaller, bool) {
	if g.peerAuth != nil {
		if name, err := g.peerAuth.Authenticate(r); err == nil && name != "" {
			return adminCaller{name: name, peer: true}, true
		}
	}
	who, err := g.opts.AdminAuthenticator.Authenticate(r)
	if err != nil || who == "" || ValidIdentity(who) != nil {
		g.log.Warn("admin authentication failed", "remote", r.RemoteAddr, "path", r.URL.Path, "err", err)
		g.auditAuthFailure(context.WithoutCancel(r.Context()), audit.Record{
			Time: g.now(), Event: "decision", RequestID: newID("rq_"), Remote: r.RemoteAddr, Method: r.Method,
			Path: r.URL.Path, Decision: "deny", Rule: "gateway:admin-authentication",
			Reason: "admin listener: missing or invalid bearer token",
		})
		w.Header().Set("Connection", "close")
		w.Header().Set("WWW-Authenticate", `Bearer realm="agops-admin"`)
		writeJSONError(w, http.StatusUnauthorized, "unauthenticated")
		return adminCaller{}, false
	}
	if access == peersOnly {
		g.auditAdminRefusal(r, who, "", "gateway:admin-peers-only", "only the gateway's replicas may use this route")
		writeJSONError(w, http.StatusForbidden, "only the gateway's replicas may use this route")
		return adminCaller{}, false
	}
	return adminCaller{name: who}, true
}

// approverOf returns who decides: the authenticated human, or the human a replica names when it passes a decision
// on. It answers 400 and returns false when a replica names nobody valid.
func (g *Gateway) approverOf(w http.ResponseWriter, r *http.Request, c adminCaller) (string, bool) {
	if !c.peer {
		return c.name, true
	}
	v := r.Header.Values(approverHeader)
	if len(v) != 1 || ValidIdentity(v[0]) != nil {
		writeJSONError(w, http.StatusBadRequest, "a decision passed on by a replica must name its approver once in "+approverHeader)
		return "", false
	}
	return v[0], true
}

// metricsHandler serves /metrics to authenticated admin callers.
func (g *Gateway) metricsHandler() http.Handler {
	h := g.metrics.handler()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, ok := g.admin(w, r, humansAndPeers); ok {
			h.ServeHTTP(w, r)
		}
	})
}

// peerTokenAuth accepts the one bearer token the replicas share (Options.PeerToken).
type peerTokenAuth struct{ sum [sha256.Size]byte }

func (p peerTokenAuth) Authenticate(r *http.Request) (string, error) {
	token, err := bearerToken(r)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256([]byte(token))
	if subtle.ConstantTimeCompare(sum[:], p.sum[:]) != 1 {
		return "", fmt.Errorf("%w: not the replicas' token", ErrUnauthenticated)
	}
	return "gateway:peer", nil
}

// auditAdminRefusal audits an admin action refused to an authenticated caller (who): an approver using a replicas'
// route, approving their own call, or naming someone else.
func (g *Gateway) auditAdminRefusal(r *http.Request, who, approvalID, rule, reason string) {
	_ = g.appendAudit(context.WithoutCancel(r.Context()), audit.Record{
		Time: g.now(), Event: "decision", RequestID: newID("rq_"), Caller: who, Remote: r.RemoteAddr, Method: r.Method,
		Path: r.URL.Path, Decision: "deny", Rule: rule, Reason: reason, ApprovalID: approvalID,
	})
}

// adminBodyTimeout bounds the time an admin request's body may take to arrive.
const adminBodyTimeout = 10 * time.Second

// readAdminBody reads at most limit bytes of an admin request's body within adminBodyTimeout; a body that stalls
// fails and its connection is closed.
func readAdminBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Now().Add(adminBodyTimeout))
	defer func() { _ = rc.SetReadDeadline(time.Time{}) }()
	b, err := io.ReadAll(io.LimitReader(r.Body, limit))
	if err != nil {
		w.Header().Set("Connection", "close")
	}
	return b, err
}
