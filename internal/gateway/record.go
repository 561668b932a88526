package gateway

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/agops/agops/internal/audit"
	"github.com/agops/agops/internal/policy"
)

// call is one judged call (an MCP tools/call or a plain HTTP request) on its way through the gateway.
type call struct {
	requestID string
	remote    string
	pol       *policyState
	up        upstream
	c         policy.Call
	digest    string          // "sha256:<hex>" of the arguments
	rpcMethod string          // "tools/call" for MCP, "" for HTTP
	id        json.RawMessage // JSON-RPC id, nil for HTTP
	key       *callKey        // the call's Idempotency-Key, nil without one
	nowait    bool            // X-Agops-Approval: nowait
}

// record returns an audit record describing the call, without event or decision.
func (c *call) record(now time.Time) audit.Record {
	method := c.rpcMethod
	if method == "" {
		method = c.c.Method
	}
	rec := audit.Record{
		Time: now, RequestID: c.requestID, Caller: c.c.Agent, Remote: c.remote, Server: c.c.Server,
		Tool: c.c.Tool, Method: method, Path: c.c.Path, ArgsDigest: c.digest,
	}
	if c.key != nil {
		rec.IdempotencyKey = c.key.raw
	}
	return rec
}

// fingerprint is what an idempotency key of the call is bound to.
func (c *call) fingerprint() fingerprint {
	return fingerprint{tool: c.c.Tool, method: c.c.Method, path: c.c.Path, digest: c.digest}
}

// answerDenial writes a judgement of the call: a JSON-RPC error on the call's id for MCP (HTTP 200, so that MCP
// clients report it as the call's error), or with a plain HTTP status (403, 429, 503) for plain HTTP callers.
func answerDenial(w http.ResponseWriter, c *call, e *rpcError) {
	if c.rpcMethod == "" {
		plain := *e
		plain.Status = plainStatus(e)
		writeRPCError(w, nil, &plain, c.requestID)
		return
	}
	writeRPCError(w, c.id, e, c.requestID)
}

// appendAudit writes r and keeps the metrics and readiness in step. It returns the Appender's error.
func (g *Gateway) appendAudit(ctx context.Context, r audit.Record) error {
	ctx, end := g.traceAudit(ctx, r)
	start := time.Now()
	err := g.opts.Audit.Append(ctx, r)
	end(err)
	g.metrics.auditLatency.Observe(time.Since(start).Seconds())
	g.auditFailed.Store(err != nil)
	if err != nil {
		g.metrics.auditErrors.Inc()
		g.log.Error("audit append failed", "request", r.RequestID, "event", r.Event, "err", err)
	}
	return err
}

// argsDigest is "sha256:<hex>" of the canonical JSON of args: keys sorted, no insignificant whitespace, numbers as
// written, no HTML escaping. Absent arguments digest as null.
func argsDigest(args json.RawMessage) (string, error) {
	canon := []byte("null")
	if len(args) != 0 {
		var v any
		dec := json.NewDecoder(bytes.NewReader(args))
		dec.UseNumber()
		if err := dec.Decode(&v); err != nil {
			return "", fmt.Errorf("canonicalizing arguments: %w", err)
		}
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(v); err != nil {
			return "", fmt.Errorf("canonicalizing arguments: %w", err)
		}
		canon = bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	}
	return rawDigest(canon), nil
}

// canonicalArgsDigest is argsDigest of arguments already in canonical form (a member of a canonicalised message):
// that form is what argsDigest's re-encoding writes, except that encoding/json escapes U+2028 and U+2029, so any
// other arguments are hashed as they are, without decoding and encoding them again (FuzzCanonicalize holds the two
// to the same digest).
func canonicalArgsDigest(args json.RawMessage) (string, error) {
	if len(args) == 0 {
		return rawDigest([]byte("null")), nil
	}
	if bytes.Contains(args, []byte("\u2028")) || bytes.Contains(args, []byte("\u2029")) {
		return argsDigest(args)
	}
	return rawDigest(args), nil
}

func rawDigest(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// newID returns prefix followed by 16 random bytes in hex.
func newID(prefix string) string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails: since Go 1.24 crypto/rand crashes the program rather than return an error
	return prefix + hex.EncodeToString(b[:])
}

// errNoPolicy is returned while no policy is loaded.
var errNoPolicy = errors.New("no policy loaded")
