package gateway

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"time"
)

// A gateway with several replicas keeps each idempotency key on the replica that ran its call. A keyed call that
// finds nothing of its key here asks the peers (Options.Peers) before it claims the key: GET /keys/{name} on their
// admin listeners, which answer from their own store only and never ask further. A peer's done call is replayed here
// (and its entry kept here too), a peer's running call is waited for, a peer's call of unknown outcome is refused.
//
// A peer that cannot be reached is passed over with a warning, and the call runs here if no other peer has its
// key: an unreachable replica cannot be told from one that lost its volume, and refusing every new keyed call while
// a replica is down would stop the agents. That is availability over exactly-once: a retry that reaches a replica
// while the one that ran its call is down may run the call a second time. A peer that answers, but not with a key's
// state, is a fault: the call is refused, not run.

// peerPoll is how often a retry asks the peer running the earlier call with its key whether that call is over.
const peerPoll = 200 * time.Millisecond

// KeyState is what one replica knows of an idempotency key: the answer of GET /keys/{name} on its admin listener.
type KeyState struct {
	// State is "none" (no entry), "started", "done" or "unknown" (see docs/gateway.md).
	State string `json:"state"`
	// InFlight is true while a call with the key is handled by that replica: judged, waiting for an approval, or
	// forwarded.
	InFlight bool `json:"inFlight"`
	// Tool, or Method and Path for plain HTTP, and ArgsDigest are the call the key is bound to.
	Tool       string `json:"tool,omitempty"`
	Method     string `json:"method,omitempty"`
	Path       string `json:"path,omitempty"`
	ArgsDigest string `json:"argsDigest,omitempty"`
	// RequestID is the gateway's ID of the call that ran; Expires is when the entry will be forgotten.
	RequestID string    `json:"requestId,omitempty"`
	Expires   time.Time `json:"expires,omitzero"`
	// Answer is, once done, the recorded JSON-RPC response to an MCP call.
	Answer json.RawMessage `json:"answer,omitempty"`
	// HTTP is, once done, the recorded answer to a plain HTTP call.
	HTTP *HTTPAnswer `json:"http,omitempty"`
	// TooLarge marks a done call whose answer was over the response limit: it was not kept.
	TooLarge bool `json:"tooLarge"`
}

// HTTPAnswer is a plain HTTP tool server's answer, as a replica keeps it for a retry.
type HTTPAnswer struct {
	Status      int    `json:"status"`
	ContentType string `json:"contentType,omitempty"`
	Body        []byte `json:"body,omitempty"`
}

// running reports whether the call with the key is still under way there: no final entry yet.
func (s KeyState) running() bool {
	return s.InFlight && (s.State == keyNone || s.State == keyStarted)
}

// validKeyState reports whether state is one of the states a replica answers.
func validKeyState(state string) bool {
	switch state {
	case keyNone, keyStarted, keyDone, keyUnknown:
		return true
	}
	return false
}

// isKeyName reports whether name can be a keyName: 64 lowercase hexadecimal digits.
func isKeyName(name string) bool {
	return len(name) == 2*sha256.Size && isLowerHex(name)
}

// isLowerHex reports whether s holds only lowercase hexadecimal digits.
func isLowerHex(s string) bool {
	for i := range len(s) {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// serveKey serves GET /keys/{name}: what this replica knows of one idempotency key, from its own store only. A peer
// asks it before running a keyed call it knows nothing of; it is never passed on to other replicas.
func (g *Gateway) serveKey(w http.ResponseWriter, r *http.Request) {
	if _, ok := g.admin(w, r, peersOnly); !ok {
		return
	}
	name := r.PathValue("name")
	if !isKeyName(name) {
		writeJSONError(w, http.StatusBadRequest, "not an idempotency key name (64 lowercase hexadecimal digits)")
		return
	}
	if g.keys == nil { // keyed calls are refused here: this replica never holds a key
		writeJSON(w, http.StatusOK, KeyState{State: keyNone})
		return
	}
	e, found, inFlight, err := g.keys.peek(name)
	if err != nil {
		g.log.Error("idempotency store", "key", name, "err", err)
		writeJSONError(w, http.StatusInternalServerError, "idempotency store unavailable")
		return
	}
	writeJSON(w, http.StatusOK, keyStateOf(e, found, inFlight))
}

// keyStateOf is the KeyState of entry e (found false: there is none).
func keyStateOf(e keyFile, found, inFlight bool) KeyState {
	if !found {
		return KeyState{State: keyNone, InFlight: inFlight}
	}
	return KeyState{
		State: e.State, InFlight: inFlight, Tool: e.Tool, Method: e.Method, Path: e.Path, ArgsDigest: e.ArgsDigest,
		RequestID: e.RequestID, Expires: e.Expires, Answer: e.Response, HTTP: e.HTTP,
		TooLarge: e.TooLarge,
	}
}

// entryOf is the entry of c's key that a peer's state st stands for, as this replica would keep it.
func (g *Gateway) entryOf(c *call, st KeyState) keyFile {
	now := g.now()
	expires := st.Expires
	if expires.IsZero() || expires.After(now.Add(g.opts.IdempotencyTTL)) {
		expires = now.Add(g.opts.IdempotencyTTL)
	}
	return keyFile{
		Version: 1, Agent: c.c.Agent, Server: c.c.Server, Key: c.key.raw, Tool: st.Tool, Method: st.Method,
		Path: st.Path, ArgsDigest: st.ArgsDigest, State: st.State, RequestID: st.RequestID, Created: now,
		Expires: expires, Response: st.Answer, HTTP: st.HTTP, TooLarge: st.TooLarge,
	}
}

// peerKey looks for c's key on the peers when this replica knows nothing of it, before c claims it here. It reports
// whether it answered c: with a peer's recorded result (replayed as a local one would be, and kept here for later
// retries), after waiting for a peer's call in flight, or with a refusal. false: no peer has the key (or one freed
// it), and c claims it here as usual.
func (g *Gateway) peerKey(w http.ResponseWriter, r *http.Request, c *call) bool {
	if g.opts.Peers == nil {
		return false
	}
	if _, found, inFlight, err := g.keys.peek(c.key.name); err != nil || found || inFlight {
		return false // the local claim answers; it refuses an entry it cannot read
	}
	ctx := r.Context()
	pc, st, err := g.askPeers(ctx, c.key.name)
	switch {
	case err != nil && ctx.Err() != nil:
		answerDenial(w, c, g.deny(ctx, c, idempotencyDenial("gateway:idempotency-abandoned",
			"the caller went away while the other replicas were asked for this key")))
		return true
	case err != nil:
		g.log.Error("idempotency peers", "request", c.requestID, "err", err)
		answerDenial(w, c, g.deny(ctx, c, internalDenial("idempotency peer unusable")))
		return true
	case pc == nil:
		return false
	}
	g.log.Info("idempotency key on a peer", "request", c.requestID, "peer", pc.BaseURL, "state", st.State,
		"inFlight", st.InFlight)
	if g.awaitable(c, st) {
		if st, err = g.awaitPeer(ctx, pc, c.key.name, st); err != nil {
			g.log.Warn("idempotency peer stopped answering", "request", c.requestID, "peer", pc.BaseURL, "err", err)
			answerDenial(w, c, g.deny(ctx, c, idempotencyDenial(RuleIdempotencyUnknown,
				"the earlier call with this key ran on another replica, which stopped answering; its outcome is "+
					"unknown; it is not repeated")))
			return true
		}
	}
	return g.peerSettled(w, r, c, st)
}

// peerSettled answers c from st, a peer's state of its key, as settled answers from a local entry; it reports false
// when the key is free (the peer's call ended without an entry): c then claims it here.
func (g *Gateway) peerSettled(w http.ResponseWriter, r *http.Request, c *call, st KeyState) bool {
	e := g.entryOf(c, st)
	switch {
	case st.State == keyNone && !st.InFlight:
		return false
	case g.awaitable(c, st):
		answerDenial(w, c, g.deny(r.Context(), c, idempotencyDenial(RuleIdempotencyInFlight,
			"the earlier call with this key is still running on another replica; ask again later")))
		return true
	case st.State == keyDone:
		g.keepPeerEntry(c, e)
	}
	g.settled(w, r, c, e) // a mismatch, an outcome unknown, or the result to replay
	return true
}

// awaitable reports whether a peer still runs the call with c's key, and that call may be c's: c waits for it.
func (g *Gateway) awaitable(c *call, st KeyState) bool {
	return st.running() && (st.State == keyNone || c.fingerprint().of(g.entryOf(c, st)))
}

// askPeers asks each peer what it knows of key name and returns the first that knows something (nil: none does).
// A peer that cannot be reached, or serves no /keys (an older version), is passed over with a warning; any other
// failure is an error, for which the call is refused rather than run.
func (g *Gateway) askPeers(ctx context.Context, name string) (*AdminClient, KeyState, error) {
	for _, peer := range g.opts.Peers(ctx) {
		pc := g.peerAdmin(peer)
		st, err := pc.Key(ctx, name)
		var ae *AdminError
		switch {
		case err == nil && (st.State != keyNone || st.InFlight):
			return pc, st, nil
		case err == nil: // this peer knows nothing of it
		case ctx.Err() != nil:
			return nil, st, ctx.Err()
		case errors.As(err, &ae) && ae.Status == http.StatusNotFound, unreachable(err):
			g.log.Warn("idempotency peer unreachable; passed over", "peer", peer, "key", name, "err", err)
		default:
			return nil, st, fmt.Errorf("peer %s: %w", peer, err)
		}
	}
	return nil, KeyState{}, nil
}

// unreachable reports whether err says that a peer could not be reached (or its answer could not be read), rather
// than that it answered wrongly.
func unreachable(err error) bool {
	var ue *url.Error
	var ne net.Error
	return errors.As(err, &ue) || errors.As(err, &ne)
}

// peerAdmin is the client that reaches one peer's admin listener, its requests marked as forwarded.
func (g *Gateway) peerAdmin(peer string) *AdminClient {
	return &AdminClient{BaseURL: peer, HTTP: peerClient, Token: g.opts.PeerToken,
		header: http.Header{forwardedHeader: {"1"}}}
}

// awaitPeer asks pc about key name every peerPoll until the call with it is no longer running there, CallTimeout
// has passed or ctx ends, and returns the last state it got. An error means the peer stopped answering meanwhile.
func (g *Gateway) awaitPeer(ctx context.Context, pc *AdminClient, name string, st KeyState) (KeyState, error) {
	timeout := time.NewTimer(g.opts.CallTimeout)
	defer timeout.Stop()
	tick := time.NewTicker(peerPoll)
	defer tick.Stop()
	for st.running() {
		select {
		case <-timeout.C:
			return st, nil
		case <-ctx.Done():
			return st, nil
		case <-tick.C:
		}
		next, err := pc.Key(ctx, name)
		if err != nil && ctx.Err() != nil {
			return st, nil
		}
		if err != nil {
			return st, err
		}
		st = next
	}
	return st, nil
}

// keepPeerEntry stores a peer's done entry of c's key here too, so that later retries here need no peer. Only the
// flight of a key writes its entry: if a call holds the key here now, or left an entry meanwhile, nothing is
// written. Failing to keep it is logged: the peer still holds the entry.
func (g *Gateway) keepPeerEntry(c *call, e keyFile) {
	cl, err := g.keys.claim(c.key.name, fingerprint{e.Tool, e.Method, e.Path, e.ArgsDigest})
	if err == nil && !cl.own {
		return
	}
	if err == nil {
		defer g.keys.release(cl.flight)
		err = g.keys.write(c.key.name, e)
	}
	if err != nil {
		g.log.Error("idempotency store", "request", c.requestID, "err", err)
	}
}
