package gateway

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/agops/agops/internal/policy"
)

// pair is two gateways in front of one upstream, each the other's peer. Each reaches the other's admin listener
// through a front that counts the key and approval queries passing it.
type pair struct {
	a, b           *env
	toA, toB       *httptest.Server // what b, a reach of the other
	askedA, askedB atomic.Int64     // GET /keys requests that reached a, b from the other
	byKeyA, byKeyB atomic.Int64     // GET /approvals/by-key requests that reached a, b from the other
	// afterByKeyA, when set, runs after A has answered a GET /approvals/by-key and before B reads the answer.
	afterByKeyA atomic.Pointer[func()]
}

// newPair starts the two replicas; tweaks apply to both, after they share the upstream.
func newPair(t *testing.T, tweak ...func(*env)) *pair {
	t.Helper()
	p := &pair{}
	var toA, toB atomic.Value
	peer := func(v *atomic.Value) func(context.Context) []string {
		return func(context.Context) []string {
			if u, ok := v.Load().(string); ok {
				return []string{u}
			}
			return nil
		}
	}
	p.a = newEnv(t, upstreamModes[3], append([]func(*env){func(e *env) { e.opts.Peers, e.opts.PeerToken = peer(&toB), peerToken }}, tweak...)...)
	share := func(e *env) {
		e.up, e.pol = p.a.up, newPolicy(p.a.up.URL)
		e.opts.Peers, e.opts.PeerToken = peer(&toA), peerToken
	}
	p.b = newEnv(t, upstreamModes[3], append([]func(*env){share}, tweak...)...)
	p.toA, p.toB = p.front(p.a, &p.askedA, &p.byKeyA, &p.afterByKeyA), p.front(p.b, &p.askedB, &p.byKeyB, nil)
	toA.Store(p.toA.URL)
	toB.Store(p.toB.URL)
	return p
}

func (p *pair) front(e *env, asked, byKey *atomic.Int64, after *atomic.Pointer[func()]) *httptest.Server {
	h := e.gw.AdminHandler()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/keys/") {
			asked.Add(1)
		}
		if !strings.HasPrefix(r.URL.Path, "/approvals/by-key/") {
			h.ServeHTTP(w, r)
			return
		}
		byKey.Add(1)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		if after != nil && after.Load() != nil {
			(*after.Load())()
		}
		w.Header().Set("Content-Type", rec.Header().Get("Content-Type"))
		w.WriteHeader(rec.Code)
		_, _ = w.Write(rec.Body.Bytes())
	}))
	e.t.Cleanup(srv.Close)
	return srv
}

// stopA stops replica A: its listeners and the way B reaches it.
func (p *pair) stopA() {
	p.a.srv.Close()
	p.a.admin.Close()
	p.toA.Close()
}

// keyState reads GET /keys/{name} on e's admin listener.
func (e *env) keyState(name string) (int, KeyState) {
	e.t.Helper()
	var st KeyState
	req, _ := http.NewRequest(http.MethodGet, e.admin.URL+"/keys/"+name, nil)
	if e.opts.PeerToken != "" {
		req.Header.Set("Authorization", "Bearer "+e.opts.PeerToken)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	if err := decodeJSON(resp, &st); err != nil && resp.StatusCode == http.StatusOK {
		e.t.Fatal(err)
	}
	return resp.StatusCode, st
}

// A call done on A is replayed by B, which keeps it: a third try on B needs A no more.
func TestKeyedCallOnAnotherReplica(t *testing.T) {
	t.Parallel()
	p := newPair(t)
	body, key := toolCallBody(1, "echo", `{"text":"hi"}`), keyHeader("order-21")
	if r := p.a.mustCall(tokenA, body, key); r.text() != "echo: hi" {
		t.Fatalf("first call on A: %s", r.text())
	}
	r := p.b.mustCall(tokenA, toolCallBody("two", "echo", `{"text":"hi"}`), key)
	if r.text() != "echo: hi" || string(r.ID) != `"two"` {
		t.Fatalf("retry on B: %s (id %s)", r.text(), r.ID)
	}
	if n := keyedRecords(t, p.b.aud, "order-21"); n["decision/replay"] != 1 || n["decision/allow"] != 0 {
		t.Errorf("B's records of the key: %v\n%s", n, p.b.aud.dump())
	}
	p.stopA()
	if r := p.b.mustCall(tokenA, toolCallBody(3, "echo", `{"text":"hi"}`), key); r.text() != "echo: hi" {
		t.Fatalf("third try on B, A stopped: %s", r.text())
	}
	if p.a.up.runs("echo") != 1 || p.askedA.Load() != 1 {
		t.Fatalf("echo ran %d times; B asked A %d times", p.a.up.runs("echo"), p.askedA.Load())
	}
	if _, st := p.b.keyState(keyName(agentA, "tools", "order-21")); st.State != keyDone || st.InFlight {
		t.Errorf("B's own entry: %+v", st)
	}
}

// A retry on B while the call runs on A waits for it and gets its answer.
func TestKeyedCallInFlightOnAnotherReplica(t *testing.T) {
	t.Parallel()
	p := newPair(t, withSlow)
	t.Cleanup(p.a.up.releaseSlow)
	body, key := toolCallBody(1, "slow", `{"text":"x"}`), keyHeader("step-5")
	first := make(chan reply, 1)
	go func() { first <- p.a.mustCall(tokenA, body, key) }()
	arrived(t, p.a.up)
	if _, st := p.a.keyState(keyName(agentA, "tools", "step-5")); st.State != keyStarted || !st.InFlight || st.Tool != "slow" {
		t.Fatalf("A's key while its call runs: %+v", st)
	}
	retry := make(chan reply, 1)
	go func() { retry <- p.b.mustCall(tokenA, toolCallBody(2, "slow", `{"text":"x"}`), key) }()
	if !eventually(func() bool { return p.askedA.Load() >= 2 }) { // asked, then polled
		t.Fatal("B does not wait for A's call")
	}
	p.a.up.releaseSlow()
	if r := <-retry; r.text() != "slow: x" || string(r.ID) != "2" {
		t.Fatalf("retry on B: %s (id %s)", r.text(), r.ID)
	}
	if r := <-first; r.text() != "slow: x" {
		t.Fatalf("first call on A: %s", r.text())
	}
	if p.a.up.runs("slow") != 1 || p.a.up.toolCalls.Load() != 1 {
		t.Fatalf("slow ran %d times", p.a.up.runs("slow"))
	}
}

// A key stays bound to its call and its agent across replicas.
func TestKeyAcrossReplicasBoundToCall(t *testing.T) {
	t.Parallel()
	p := newPair(t)
	key := keyHeader("k-2")
	if r := p.a.mustCall(tokenA, toolCallBody(1, "echo", `{"text":"hi"}`), key); r.text() != "echo: hi" {
		t.Fatalf("first call: %s", r.text())
	}
	for _, body := range []string{toolCallBody(2, "echo", `{"text":"other"}`), toolCallBody(3, "read_file", `{}`)} {
		if r := p.b.mustCall(tokenA, body, key); r.rule() != RuleIdempotencyMismatch {
			t.Errorf("%s on B with A's key: %s %+v", body, r.text(), r.Error)
		}
	}
	if n := keyedRecords(t, p.b.aud, "k-2"); n["decision/deny"] != 2 {
		t.Errorf("mismatches not audited on B: %v", n)
	}
	// Agent B's "k-2" is another key: its call runs.
	if keyName(agentB, "tools", "k-2") == keyName(agentA, "tools", "k-2") {
		t.Fatal("two agents share a key name")
	}
	if r := p.b.mustCall(tokenB, toolCallBody(4, "read_file", `{"text":"f"}`), key); r.text() != "read_file done" {
		t.Errorf("agent B with agent A's key: %s %+v", r.text(), r.Error)
	}
	if p.a.up.runs("echo") != 1 || p.a.up.runs("read_file") != 1 {
		t.Errorf("echo ran %d, read_file %d times", p.a.up.runs("echo"), p.a.up.runs("read_file"))
	}
}

// syncBuffer is a log sink safe for concurrent writes.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}

// The trade-off: with A down, B cannot tell a call A ran from none; it warns and runs the call.
func TestKeyedCallWithPeerDown(t *testing.T) {
	t.Parallel()
	var logs syncBuffer
	p := newPair(t, func(e *env) { e.opts.Logger = slog.New(slog.NewTextHandler(&logs, nil)) })
	body, key := toolCallBody(1, "echo", `{"text":"hi"}`), keyHeader("k-3")
	p.a.mustCall(tokenA, body, key)
	p.stopA()
	if r := p.b.mustCall(tokenA, body, key); r.text() != "echo: hi" {
		t.Fatalf("retry on B with A down: %s %+v", r.text(), r.Error)
	}
	if p.a.up.runs("echo") != 2 || !strings.Contains(logs.String(), "idempotency peer unreachable") {
		t.Errorf("echo ran %d times; logs:\n%s", p.a.up.runs("echo"), logs.String())
	}
}

// A plain HTTP call done on A is replayed by B.
func TestKeyedPlainHTTPOnAnotherReplica(t *testing.T) {
	t.Parallel()
	var created atomic.Int64
	web := newTestServer(t, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(http.StatusCreated)
		fmt.Fprintf(w, "created %d", created.Add(1))
	}))
	p := newPair(t, func(e *env) {
		e.pol.servers = append(e.pol.servers, policy.Server{Name: "web", URL: web, Kind: "http"})
		e.pol.grants[grantKey(agentA, "web", "POST /items")] = policy.Allow
	})
	for _, e := range []*env{p.a, p.b} {
		req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/http/web/items", strings.NewReader(`{"name":"a"}`))
		req.Header.Set("Authorization", "Bearer "+tokenA)
		req.Header.Set(HeaderIdempotencyKey, "item-2")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated || string(b) != "created 1" || resp.Header.Get("Content-Type") != "text/plain" {
			t.Fatalf("keyed POST: %d %q %s", resp.StatusCode, b, resp.Header.Get("Content-Type"))
		}
	}
	if created.Load() != 1 || len(p.b.aud.find("decision", "replay")) != 1 {
		t.Errorf("created %d times: %s", created.Load(), p.b.aud.dump())
	}
}

// GET /keys/{name} answers from the replica's own store, never from its peers, and only for names of keys.
func TestKeyEndpoint(t *testing.T) {
	t.Parallel()
	p := newPair(t)
	name := keyName(agentA, "tools", "k-4")
	if code, st := p.a.keyState(name); code != http.StatusOK || st.State != keyNone || st.InFlight {
		t.Fatalf("an unknown key: %d %+v", code, st)
	}
	p.a.mustCall(tokenA, toolCallBody(1, "echo", `{"text":"hi"}`), keyHeader("k-4"))
	code, st := p.a.keyState(name)
	if code != http.StatusOK || st.State != keyDone || st.Tool != "echo" || !strings.Contains(string(st.Answer), "echo: hi") {
		t.Fatalf("a done key: %d %+v", code, st)
	}
	if _, st := p.b.keyState(name); st.State != keyNone || p.askedA.Load() != 0 {
		t.Errorf("B answered %+v and asked A %d times: a key query is never passed on", st, p.askedA.Load())
	}
	for _, bad := range []string{"short", strings.ToUpper(name), name + "0", strings.Repeat("g", 64), name[:63] + "%2F"} {
		if code, _ := p.a.keyState(bad); code != http.StatusBadRequest {
			t.Errorf("GET /keys/%s: status %d", bad, code)
		}
		if _, err := (&AdminClient{BaseURL: p.a.admin.URL}).Key(t.Context(), bad); err == nil {
			t.Errorf("AdminClient.Key(%q) accepted", bad)
		}
	}
	if st, err := (&AdminClient{BaseURL: p.a.admin.URL, Token: peerToken}).Key(t.Context(), name); err != nil || st.State != keyDone {
		t.Errorf("AdminClient.Key: %+v %v", st, err)
	}
}

// /keys is for the replicas only: without a token 401, with a human approver's 403; the replicas' PeerToken passes.
func TestKeyEndpointAuthenticated(t *testing.T) {
	t.Parallel()
	p := newPair(t)
	name := keyName(agentA, "tools", "k-5")
	if code := p.a.adminAs("", http.MethodGet, "/keys/"+name, "", nil); code != http.StatusUnauthorized {
		t.Fatalf("GET /keys without a token: status %d", code)
	}
	for _, tok := range []string{approverTokens["alice"], tokenA} {
		if code := p.a.adminAs(tok, http.MethodGet, "/keys/"+name, "", nil); code == http.StatusOK {
			t.Fatalf("GET /keys with a token %s…: status %d", tok[:12], code)
		}
	}
	body, key := toolCallBody(1, "echo", `{"text":"hi"}`), keyHeader("k-5")
	p.a.mustCall(tokenA, body, key)
	if r := p.b.mustCall(tokenA, body, key); r.text() != "echo: hi" || p.a.up.runs("echo") != 1 {
		t.Fatalf("retry on B: %s; echo ran %d times", r.text(), p.a.up.runs("echo"))
	}
}

// A peer that answers, but refuses the query, is a fault: the call is refused rather than run.
func TestKeyedCallPeerRefuses(t *testing.T) {
	t.Parallel()
	p := newPair(t, func(e *env) { e.opts.PeerToken = "" }) // B sends no token: A refuses
	r := p.b.mustCall(tokenA, toolCallBody(1, "echo", `{"text":"hi"}`), keyHeader("k-6"))
	if r.rule() != "gateway:internal" || p.a.up.runs("echo") != 0 || !p.b.aud.hasDeny("gateway:internal") {
		t.Fatalf("with a peer refusing key queries: %s %+v; echo ran %d times", r.text(), r.Error, p.a.up.runs("echo"))
	}
	if r := p.b.mustCall(tokenA, toolCallBody(2, "echo", `{"text":"hi"}`), nil); r.text() != "echo: hi" {
		t.Fatalf("a call without a key asks no peer: %s %+v", r.text(), r.Error)
	}
}

// A call of unknown outcome on A (started before A restarted, or its answer lost) is refused on B, not run.
func TestKeyOfUnknownOutcomeOnAnotherReplica(t *testing.T) {
	t.Parallel()
	for _, state := range []string{keyStarted, keyUnknown} {
		t.Run(state, func(t *testing.T) {
			t.Parallel()
			p := newPair(t)
			body, key := toolCallBody(1, "echo", `{"text":"hi"}`), "k-7"
			digest, _ := argsDigest([]byte(`{"text":"hi"}`))
			now := time.Now()
			e := keyFile{Version: 1, Agent: agentA, Server: "tools", Key: key, Tool: "echo", ArgsDigest: digest,
				State: state, RequestID: "rq_earlier", Created: now, Expires: now.Add(time.Hour)}
			if err := p.a.gw.keys.write(keyName(agentA, "tools", key), e); err != nil {
				t.Fatal(err)
			}
			r := p.b.mustCall(tokenA, body, keyHeader(key))
			if r.rule() != RuleIdempotencyUnknown || !strings.Contains(r.Error.Message, "rq_earlier") {
				t.Fatalf("retry on B: %s %+v", r.text(), r.Error)
			}
			if p.a.up.runs("echo") != 0 || keyedRecords(t, p.b.aud, key)["decision/deny"] != 1 {
				t.Errorf("echo ran %d times; B's records:\n%s", p.a.up.runs("echo"), p.b.aud.dump())
			}
		})
	}
}

// A retry waiting for a call on A, when A stops answering, is refused: that call's outcome is unknown.
func TestKeyedCallPeerStopsMidCall(t *testing.T) {
	t.Parallel()
	p := newPair(t, withSlow)
	t.Cleanup(p.a.up.releaseSlow)
	body, key := toolCallBody(1, "slow", `{"text":"x"}`), keyHeader("step-6")
	go func() { _, _ = p.a.postCall(t.Context(), tokenA, body, key) }()
	arrived(t, p.a.up)
	retry := make(chan reply, 1)
	go func() { retry <- p.b.mustCall(tokenA, body, key) }()
	if !eventually(func() bool { return p.askedA.Load() >= 2 }) {
		t.Fatal("B does not wait for A's call")
	}
	p.toA.Close() // A is gone for B
	if r := <-retry; r.rule() != RuleIdempotencyUnknown || strings.Contains(r.Error.Message, "127.0.0.1") {
		t.Fatalf("retry on B: %s %+v", r.text(), r.Error)
	}
	if p.a.up.toolCalls.Load() != 1 {
		t.Fatalf("%d calls reached the tool", p.a.up.toolCalls.Load())
	}
}
