package gateway

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/agops/agops/internal/audit"
)

// Every route of the admin listener but the probes authenticates its caller, always: a human approver
// (Options.AdminAuthenticator, whose identity is the approver) or another replica (Options.PeerAuthenticator, or
// Options.PeerToken). Humans list and decide approvals and read metrics; replicas also read keys, read and spend
// approvals, and pass on a decision a human made on them, naming that human in approverHeader, which is read from
// replicas only. A body field never names the approver.
const approverHeader = "X-Agops-Approver"

// viaHeader names, on a decision a replica passes on, the console the human decided through; read from replicas
// only.
const viaHeader = "X-Agops-Via"

// ConsolePrefix begins the identity of a console in the approver token file ("TOKEN console:ops"): a console signs
// people in itself and acts in their name. It may list approvals and read metrics like a human, and decides an
// approval only in the name of the one person its request names in X-Agops-Approver — never its own, never
// another console's; the audit says "approved by alice via console:ops". Whoever holds a console's token can
// decide in anyone's name (but nobody's own call): give it only to a console.
const ConsolePrefix = "console:"

// IsConsole reports whether an identity is a console's.
func IsConsole(identity string) bool {
	return len(identity) > len(ConsolePrefix) && strings.EqualFold(identity[:len(ConsolePrefix)], ConsolePrefix)
}

// adminCaller is an authenticated caller of the admin listener.
type adminCaller struct {
	name    string
	peer    bool // another replica
	console bool // a console acting for the human it names
	viaName string
}

// via is the console a decision came through, "" for a human's own.
func (c adminCaller) via() string {
	if c.console {
		return c.name
	}
	return c.viaName
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
	return adminCaller{name: who, console: IsConsole(who)}, true
}

// approverOf returns who decides: the authenticated human, or the human a replica or a console names when it
// passes a decision on (with the console it came through, for a replica's). It answers 400 and returns false when
// they name nobody valid, or a console.
func (g *Gateway) approverOf(w http.ResponseWriter, r *http.Request, c *adminCaller) (string, bool) {
	if !c.peer && !c.console {
		return c.name, true
	}
	v := r.Header.Values(approverHeader)
	if len(v) != 1 || ValidIdentity(v[0]) != nil || IsConsole(v[0]) {
		g.auditAdminRefusal(r, c.name, r.PathValue("id"), "approval:approver",
			"a decision passed on must name its human approver once in "+approverHeader)
		writeJSONError(w, http.StatusBadRequest, "a decision passed on by a replica or a console must name its human approver once in "+approverHeader)
		return "", false
	}
	if c.peer {
		via := r.Header.Values(viaHeader)
		if len(via) > 1 || len(via) == 1 && !IsConsole(via[0]) || len(via) == 1 && ValidIdentity(via[0]) != nil {
			writeJSONError(w, http.StatusBadRequest, viaHeader+" names one console at most")
			return "", false
		}
		if len(via) == 1 {
			c.viaName = via[0]
		}
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
