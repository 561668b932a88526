package gateway

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptrace"
	"sync/atomic"
	"time"
)

// callKey is the Idempotency-Key of a judged call, and what the gateway knows of its entry.
type callKey struct {
	raw    string  // as sent
	name   string  // keyName: the file of its entry
	flight *flight // held while the call runs here
	entry  keyFile // the started entry, once written
	sent   atomic.Bool
}

// trace notes when the call's request reaches the wire: before that, the tool server cannot have seen it.
func (k *callKey) trace() *httptrace.ClientTrace {
	return &httptrace.ClientTrace{WroteHeaders: func() { k.sent.Store(true) }}
}

// maxKeyLength bounds an Idempotency-Key.
const maxKeyLength = 200

// idempotencyKeyOf reads the Idempotency-Key header: "" when there is none.
func idempotencyKeyOf(r *http.Request) (string, *rpcError) {
	v, ok := r.Header[HeaderIdempotencyKey]
	if !ok {
		return "", nil
	}
	if len(v) != 1 || len(v[0]) == 0 || len(v[0]) > maxKeyLength {
		return "", keyRefusal()
	}
	for i := 0; i < len(v[0]); i++ {
		if v[0][i] < 0x20 || v[0][i] > 0x7e {
			return "", keyRefusal()
		}
	}
	return v[0], nil
}

func keyRefusal() *rpcError {
	return newRPCError(http.StatusBadRequest, codeInvalidRequest, RuleIdempotencyKey,
		fmt.Sprintf("send one %s header of 1 to %d printable ASCII characters", HeaderIdempotencyKey, maxKeyLength))
}

func idempotencyDenial(rule, reason string) *rpcError {
	return newRPCError(http.StatusOK, CodeIdempotency, rule, reason)
}

// keyed applies the Idempotency-Key of call c. It returns run=true when c is to be judged and forwarded: then, if c
// has a key, c.key holds its flight, and end must be called once the call is over. Otherwise it has answered the
// request, with the recorded result of the earlier call (kept here or on a peer) or with a refusal.
func (g *Gateway) keyed(w http.ResponseWriter, r *http.Request, c *call) (end func(), run bool) {
	key, kerr := idempotencyKeyOf(r)
	switch {
	case kerr != nil:
		answerDenial(w, c, g.deny(r.Context(), c, kerr))
		return nil, false
	case key == "":
		return func() {}, true
	}
	c.key = &callKey{raw: key, name: keyName(c.c.Agent, c.c.Server, key)}
	if g.keys == nil {
		answerDenial(w, c, g.deny(r.Context(), c, idempotencyDenial(RuleIdempotencyUnavailable,
			"this gateway keeps no idempotency keys (it has no idempotency directory): the call would not be "+
				"protected from running twice; send it without "+HeaderIdempotencyKey)))
		return nil, false
	}
	if g.peerKey(w, r, c) {
		return nil, false
	}
	f, ok := g.claimKey(w, r, c)
	if !ok {
		return nil, false
	}
	c.key.flight = f
	return func() { g.keys.release(f) }, true
}

// claimKey returns the new flight of c's key, or answers c: by replaying a settled call, after waiting for one
// running here, or with a refusal.
func (g *Gateway) claimKey(w http.ResponseWriter, r *http.Request, c *call) (*flight, bool) {
	timer := time.NewTimer(g.opts.CallTimeout)
	defer timer.Stop()
	for {
		cl, err := g.keys.claim(c.key.name, c.fingerprint())
		switch {
		case err != nil:
			g.log.Error("idempotency store", "request", c.requestID, "err", err)
			answerDenial(w, c, g.deny(r.Context(), c, internalDenial("idempotency store unavailable")))
		case cl.own:
			return cl.flight, true
		case cl.flight == nil:
			g.settled(w, r, c, cl.entry)
		case cl.flight.fp != c.fingerprint():
			answerDenial(w, c, g.deny(r.Context(), c, mismatch()))
		case g.keys.wait(cl.flight, timer.C, r.Context().Done()):
			continue // it is over: look again
		default:
			answerDenial(w, c, g.deny(r.Context(), c, idempotencyDenial(RuleIdempotencyInFlight,
				"the earlier call with this key is still running; ask again later")))
		}
		return nil, false
	}
}

func mismatch() *rpcError {
	return idempotencyDenial(RuleIdempotencyMismatch, "this key was used for another tool or other arguments")
}

// settled answers c from the stored entry of its key.
func (g *Gateway) settled(w http.ResponseWriter, r *http.Request, c *call, e keyFile) {
	switch {
	case !c.fingerprint().of(e):
		answerDenial(w, c, g.deny(r.Context(), c, mismatch()))
	case e.State != keyDone:
		answerDenial(w, c, g.deny(r.Context(), c, idempotencyDenial(RuleIdempotencyUnknown, fmt.Sprintf(
			"the outcome of the earlier call with this key (request %s) is unknown; it is not repeated", e.RequestID))))
	default:
		g.replay(w, r, c, e)
	}
}

// replay answers c with the recorded result of the earlier call with its key, if the policy still allows c. The
// tool is not called and no limit is counted.
func (g *Gateway) replay(w http.ResponseWriter, r *http.Request, c *call, e keyFile) {
	ctx := r.Context()
	d, ok := safeDecide(c.pol.p, c.c)
	if derr := verdictDenial(d, ok); derr != nil {
		answerDenial(w, c, g.deny(ctx, c, derr))
		return
	}
	if e.TooLarge {
		answerDenial(w, c, g.deny(ctx, c, idempotencyDenial(RuleIdempotencyTooLarge, fmt.Sprintf(
			"the earlier call with this key (request %s) ran, but its result was too large to keep", e.RequestID))))
		return
	}
	status, contentType, body, err := recorded(c, e)
	if err != nil {
		g.log.Error("idempotency store", "request", c.requestID, "err", err)
		answerDenial(w, c, g.deny(ctx, c, internalDenial("recorded result unreadable")))
		return
	}
	rec := c.record(g.now())
	rec.Event, rec.Decision, rec.Rule = "decision", "replay", d.Rule
	rec.Reason = "the result of request " + e.RequestID + " given back; the tool is not called again"
	if err := g.appendAudit(ctx, rec); err != nil {
		answerDenial(w, c, g.deny(ctx, c, internalDenial("audit log unavailable")))
		return
	}
	g.metrics.call(c.c.Server, c.c.Tool, "replay")
	g.log.Info("call replayed", "request", c.requestID, "agent", c.c.Agent, "server", c.c.Server, "tool", c.c.Tool,
		"method", c.c.Method, "path", c.c.Path, "of", e.RequestID)
	if contentType != "" {
		w.Header().Set("Content-Type", contentType)
	}
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// recorded is the answer kept in e, for c: an MCP response with c's JSON-RPC id, or a plain HTTP answer.
func recorded(c *call, e keyFile) (status int, contentType string, body []byte, err error) {
	if c.rpcMethod == "" {
		if e.HTTP == nil {
			return 0, "", nil, errors.New("no HTTP result kept")
		}
		return e.HTTP.Status, e.HTTP.ContentType, e.HTTP.Body, nil
	}
	var msg map[string]json.RawMessage
	if err := json.Unmarshal(e.Response, &msg); err != nil {
		return 0, "", nil, fmt.Errorf("recorded response: %w", err)
	}
	msg["id"] = c.id
	return http.StatusOK, "application/json", marshal(msg), nil
}

// keyStarted writes the started entry of a keyed call: after its decision record, before it is forwarded.
func (g *Gateway) keyStarted(c *call) error {
	now := g.now()
	c.key.entry = keyFile{
		Version: 1, Agent: c.c.Agent, Server: c.c.Server, Key: c.key.raw, Tool: c.c.Tool, Method: c.c.Method,
		Path: c.c.Path, ArgsDigest: c.digest, State: keyStarted, RequestID: c.requestID, Created: now,
		Expires: now.Add(g.opts.IdempotencyTTL),
	}
	return g.keys.write(c.key.name, c.key.entry)
}

// keyAnswered keeps the answer the tool server gave to a keyed call (msg for MCP, res for plain HTTP); an answer
// over Options.MaxResponseBytes is only marked.
func (g *Gateway) keyAnswered(c *call, msg []byte, res *HTTPAnswer) {
	if c.key == nil {
		return
	}
	e := c.key.entry
	e.State = keyDone
	size := len(msg)
	if res != nil {
		size = len(res.Body)
	}
	if int64(size) > g.opts.MaxResponseBytes {
		e.TooLarge = true
	} else {
		e.Response, e.HTTP = msg, res
	}
	g.settleKey(c, e)
}

// keyLost settles a keyed call whose answer the gateway did not get (status: the tool server's HTTP status, 0 if
// none; err: what went wrong). A call that cannot have run frees its key, so that a retry may try again: nothing
// was sent, or an MCP server refused the request (HTTP 4xx) without answering the call. Otherwise the outcome is
// unknown, or known to be too large to keep.
func (g *Gateway) keyLost(c *call, status int, err error) {
	if c.key == nil {
		return
	}
	tooLarge := errors.Is(err, errResponseTooLarge)
	if !c.key.sent.Load() || c.rpcMethod != "" && status/100 == 4 && !tooLarge {
		if rerr := g.keys.remove(c.key.name); rerr != nil {
			g.log.Error("idempotency store", "request", c.requestID, "err", rerr)
		}
		return
	}
	e := c.key.entry
	e.State, e.TooLarge = keyUnknown, tooLarge
	if tooLarge {
		e.State = keyDone
	}
	g.settleKey(c, e)
}

// settleKey writes the final entry of a keyed call. If it cannot, the started entry stays: retries are refused as
// of unknown outcome, never run again.
func (g *Gateway) settleKey(c *call, e keyFile) {
	if err := g.keys.write(c.key.name, e); err != nil {
		g.log.Error("idempotency store", "request", c.requestID, "err", err)
	}
}

// detachedWriter relays to a client that may go away: once a write fails, later ones are dropped, so that the call
// is read to its end and its answer kept for a retry.
type detachedWriter struct {
	http.ResponseWriter
	gone bool
}

func (d *detachedWriter) Write(p []byte) (int, error) {
	if !d.gone {
		if _, err := d.ResponseWriter.Write(p); err != nil {
			d.gone = true
		}
	}
	return len(p), nil
}

// Unwrap lets http.ResponseController flush the client's connection.
func (d *detachedWriter) Unwrap() http.ResponseWriter { return d.ResponseWriter }
