package gateway

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/agops/agops/internal/audit"
	"github.com/agops/agops/internal/policy"
)

// reply is a JSON-RPC answer as a raw HTTP client reads it, from a JSON body or from an event stream.
type reply struct {
	status      int
	contentType string
	ID          json.RawMessage `json:"id"`
	Result      *struct {
		Content []struct {
			Text string `json:"text"`
		} `json:"content"`
	} `json:"result"`
	Error *struct {
		Code    int       `json:"code"`
		Message string    `json:"message"`
		Data    ErrorData `json:"data"`
	} `json:"error"`
}

func (r reply) text() string {
	if r.Result == nil || len(r.Result.Content) != 1 {
		return fmt.Sprintf("(no result: status %d, error %+v)", r.status, r.Error)
	}
	return r.Result.Content[0].Text
}

func (r reply) code() int {
	if r.Error == nil {
		return 0
	}
	return r.Error.Code
}

func (r reply) rule() string {
	if r.Error == nil {
		return ""
	}
	return r.Error.Data.Rule
}

// toolCallBody is a tools/call of tool with args (a JSON object) and JSON-RPC id.
func toolCallBody(id any, tool, args string) string {
	rid, _ := json.Marshal(id)
	return fmt.Sprintf(`{"jsonrpc":"2.0","id":%s,"method":"tools/call","params":{"name":%q,"arguments":%s}}`,
		rid, tool, args)
}

// keyHeader is an Idempotency-Key header.
func keyHeader(key string) http.Header { return http.Header{HeaderIdempotencyKey: {key}} }

// postCall sends body to the gateway's MCP route as token with extra headers; it fails only when ctx ends first.
func (e *env) postCall(ctx context.Context, token, body string, hdr http.Header) (reply, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.mcpURL(), strings.NewReader(body))
	if err != nil {
		return reply{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("Authorization", "Bearer "+token)
	for k, v := range hdr {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return reply{}, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return reply{}, err
	}
	r := reply{status: resp.StatusCode, contentType: resp.Header.Get("Content-Type")}
	return r, json.Unmarshal(messageOf(data), &r)
}

// messageOf returns the JSON-RPC response in a body: the body itself, or the data of the event holding an id.
func messageOf(body []byte) []byte {
	sc := bufio.NewScanner(bytes.NewReader(body))
	for sc.Scan() {
		if d, ok := strings.CutPrefix(sc.Text(), "data:"); ok && strings.Contains(d, `"id"`) {
			return []byte(d)
		}
	}
	return body
}

// mustCall is postCall that fails the test on a transport error.
func (e *env) mustCall(token, body string, hdr http.Header) reply {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r, err := e.postCall(ctx, token, body, hdr)
	if err != nil {
		e.t.Fatalf("post: %v", err)
	}
	return r
}

// restartMidCall starts a new gateway on e.opts while the old one still runs its calls, as after a crash: nothing
// of the old process is left to the new one but the directories. The old listener is closed when the test ends.
func (e *env) restartMidCall() {
	e.t.Helper()
	e.srv, e.admin = nil, nil
	e.start()
}

func withSlow(e *env) { e.pol.grants[grantKey(agentA, "tools", "slow")] = policy.Allow }

// arrived waits for a call of the tool "slow" to reach the upstream.
func arrived(t *testing.T, u *upstreamServer) {
	t.Helper()
	select {
	case <-u.slowIn:
	case <-time.After(10 * time.Second):
		t.Fatal("the slow call never reached the upstream")
	}
}

// keyedRecords checks that the records of the call keyed key have it, and returns them by decision or event.
func keyedRecords(t *testing.T, a *memAudit, key string) map[string]int {
	t.Helper()
	n := map[string]int{}
	for _, r := range a.records() {
		if r.IdempotencyKey == key {
			n[r.Event+"/"+r.Decision]++
		}
	}
	return n
}

var statelessModes = []upstreamMode{upstreamModes[2], upstreamModes[3]}

func TestIdempotentCallRunsOnce(t *testing.T) {
	t.Parallel()
	for _, mode := range statelessModes {
		t.Run(mode.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, mode, withLimits(policy.Limits{CallsPerDay: 2}))
			first := e.mustCall(tokenA, toolCallBody(1, "echo", `{"text":"hi"}`), keyHeader("order-17"))
			if first.text() != "echo: hi" {
				t.Fatalf("first call: %s", first.text())
			}
			for _, id := range []any{"two", 3} {
				r := e.mustCall(tokenA, toolCallBody(id, "echo", `{"text":"hi"}`), keyHeader("order-17"))
				want, _ := json.Marshal(id)
				if r.text() != "echo: hi" || !bytes.Equal(r.ID, want) || r.contentType != "application/json" {
					t.Errorf("retry %v: %s, id %s, %s", id, r.text(), r.ID, r.contentType)
				}
			}
			if e.up.runs("echo") != 1 || e.up.toolCalls.Load() != 1 {
				t.Fatalf("echo ran %d times (%d calls reached the upstream)", e.up.runs("echo"), e.up.toolCalls.Load())
			}
			n := keyedRecords(t, e.aud, "order-17")
			if n["decision/allow"] != 1 || n["result/"] != 1 || n["decision/replay"] != 2 {
				t.Errorf("records of the key: %v\n%s", n, e.aud.dump())
			}
			// Replays do not count: one call of the day's two is left.
			if r := e.mustCall(tokenA, toolCallBody(4, "echo", `{"text":"new"}`), nil); r.text() != "echo: new" {
				t.Fatalf("a new call after the replays: %s", r.text())
			}
			if r := e.mustCall(tokenA, toolCallBody(5, "echo", `{"text":"new"}`), nil); r.code() != CodeLimited {
				t.Fatalf("the third call of the day: %s", r.text())
			}
		})
	}
}

// The caller goes away mid-call: the call still runs to its end, once; a retry sent meanwhile waits for it, a
// later one finds its result.
func TestIdempotentCallOutlivesItsCaller(t *testing.T) {
	t.Parallel()
	for _, mode := range statelessModes {
		t.Run(mode.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, mode, withSlow)
			t.Cleanup(e.up.releaseSlow)
			body, key := toolCallBody(1, "slow", `{"text":"x"}`), keyHeader("step-3")
			ctx, cancel := context.WithCancel(t.Context())
			gone := make(chan error, 1)
			go func() { _, err := e.postCall(ctx, tokenA, body, key); gone <- err }()
			arrived(t, e.up)
			cancel() // the worker is killed
			if err := <-gone; err == nil {
				t.Fatal("the cancelled caller got an answer")
			}
			retry := make(chan reply, 1)
			go func() { retry <- e.mustCall(tokenA, toolCallBody(2, "slow", `{"text":"x"}`), key) }()
			if !eventually(func() bool { return e.gw.keys.waiting() == 1 }) {
				t.Fatal("the retry does not wait for the call in flight")
			}
			e.up.releaseSlow()
			if r := <-retry; r.text() != "slow: x" || string(r.ID) != "2" {
				t.Fatalf("retry during the call: %s (id %s)", r.text(), r.ID)
			}
			if r := e.mustCall(tokenA, body, key); r.text() != "slow: x" {
				t.Fatalf("retry after the call: %s", r.text())
			}
			if e.up.runs("slow") != 1 || e.up.toolCalls.Load() != 1 {
				t.Fatalf("slow ran %d times, %d calls reached it", e.up.runs("slow"), e.up.toolCalls.Load())
			}
		})
	}
}

// A restart between the start of a call and its end leaves its outcome unknown: the retry is refused, not run
// again. Once the entry holds the result, a restarted gateway replays it.
func TestIdempotentCallAcrossRestart(t *testing.T) {
	t.Parallel()
	e := newEnv(t, upstreamModes[3], withSlow)
	t.Cleanup(e.up.releaseSlow)
	body, key := toolCallBody(1, "slow", `{"text":"x"}`), keyHeader("step-4")
	first := make(chan reply, 1)
	go func() { first <- e.mustCall(tokenA, body, key) }()
	arrived(t, e.up)
	e.restartMidCall()
	r := e.mustCall(tokenA, body, key)
	if r.code() != CodeIdempotency || r.rule() != RuleIdempotencyUnknown || !strings.Contains(r.Error.Message, "not repeated") {
		t.Fatalf("retry after a restart mid-call: %+v", r.Error)
	}
	if n := keyedRecords(t, e.aud, "step-4"); n["decision/deny"] != 1 {
		t.Errorf("refusal not audited with the key: %v", n)
	}
	e.up.releaseSlow()
	if r := <-first; r.text() != "slow: x" {
		t.Fatalf("first call: %s", r.text())
	}
	e.start()
	if r := e.mustCall(tokenA, body, key); r.text() != "slow: x" {
		t.Fatalf("retry after a restart with the result kept: %s", r.text())
	}
	if e.up.runs("slow") != 1 {
		t.Fatalf("slow ran %d times", e.up.runs("slow"))
	}
}

func TestIdempotencyKeyRefused(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		hdr    http.Header
		noDir  bool
		status int
		code   int
		rule   string
	}{
		{name: "invalid-empty", hdr: keyHeader(""), status: 400, code: codeInvalidRequest, rule: RuleIdempotencyKey},
		{name: "invalid-too-long", hdr: keyHeader(strings.Repeat("k", 201)), status: 400, code: codeInvalidRequest,
			rule: RuleIdempotencyKey},
		{name: "invalid-not-ascii", hdr: keyHeader("clé"), status: 400, code: codeInvalidRequest, rule: RuleIdempotencyKey},
		{name: "invalid-tab", hdr: keyHeader("a\tb"), status: 400, code: codeInvalidRequest, rule: RuleIdempotencyKey},
		{name: "invalid-twice", hdr: http.Header{HeaderIdempotencyKey: {"a", "b"}}, status: 400,
			code: codeInvalidRequest, rule: RuleIdempotencyKey},
		{name: "invalid-no-directory", hdr: keyHeader("k"), noDir: true, status: 200, code: CodeIdempotency,
			rule: RuleIdempotencyUnavailable},
		{name: "invalid-approval-mode", hdr: http.Header{HeaderApproval: {"later"}}, status: 400,
			code: codeInvalidRequest, rule: "gateway:invalid-request"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, upstreamModes[3], func(e *env) {
				if tc.noDir {
					e.opts.IdempotencyDir = ""
				}
			})
			r := e.mustCall(tokenA, echoCall, tc.hdr)
			if r.status != tc.status || r.code() != tc.code || r.rule() != tc.rule {
				t.Errorf("status %d code %d rule %q, want %d %d %q", r.status, r.code(), r.rule(), tc.status, tc.code, tc.rule)
			}
			if !e.aud.hasDeny(tc.rule) || e.up.toolCalls.Load() != 0 {
				t.Errorf("not audited, or the call ran: %s", e.aud.dump())
			}
		})
	}
}

// A key belongs to one agent and one call; the policy still judges every replay.
func TestIdempotencyKeyBoundToCall(t *testing.T) {
	t.Parallel()
	e := newEnv(t, upstreamModes[3])
	key := keyHeader("k-1")
	if r := e.mustCall(tokenA, toolCallBody(1, "echo", `{"text":"hi"}`), key); r.text() != "echo: hi" {
		t.Fatalf("first call: %s", r.text())
	}
	for _, body := range []string{toolCallBody(2, "echo", `{"text":"other"}`), toolCallBody(3, "read_file", `{}`)} {
		if r := e.mustCall(tokenA, body, key); r.code() != CodeIdempotency || r.rule() != RuleIdempotencyMismatch {
			t.Errorf("%s with a used key: %+v", body, r.Error)
		}
	}
	// Agent B's "k-1" is not agent A's: B's call is judged (and denied) on its own.
	if r := e.mustCall(tokenB, toolCallBody(4, "echo", `{"text":"hi"}`), key); r.code() != CodeDenied || r.rule() != "default-deny" {
		t.Errorf("agent B with agent A's key: %s %+v", r.text(), r.Error)
	}
	strict := newPolicy(e.up.URL)
	delete(strict.grants, grantKey(agentA, "tools", "echo"))
	if err := e.gw.SetPolicy(strict); err != nil {
		t.Fatal(err)
	}
	if r := e.mustCall(tokenA, toolCallBody(5, "echo", `{"text":"hi"}`), key); r.code() != CodeDenied {
		t.Errorf("replay the policy now denies: %s %+v", r.text(), r.Error)
	}
	if e.up.runs("echo") != 1 || keyedRecords(t, e.aud, "k-1")["decision/deny"] != 4 {
		t.Errorf("echo ran %d times; records %s", e.up.runs("echo"), e.aud.dump())
	}
}

// A key is kept for IdempotencyTTL, then forgotten: the same key runs the call again.
func TestIdempotencyKeyExpires(t *testing.T) {
	t.Parallel()
	clock := &fakeClock{now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	e := newEnv(t, upstreamModes[3], withClock(clock))
	body, key := toolCallBody(1, "echo", `{"text":"hi"}`), keyHeader("k")
	for range 2 {
		e.mustCall(tokenA, body, key)
	}
	clock.Advance(24*time.Hour + time.Second)
	if r := e.mustCall(tokenA, body, key); r.text() != "echo: hi" || e.up.runs("echo") != 2 {
		t.Fatalf("after the TTL: %s, echo ran %d times", r.text(), e.up.runs("echo"))
	}
	got, found, _, err := e.gw.keys.peek(keyName(agentA, "tools", "k"))
	if err != nil || !found || got.State != keyDone || got.Created.Before(clock.Now()) {
		t.Errorf("the key's entry after the TTL: %+v %v %v", got, found, err)
	}
}

// A plain HTTP tool server: a keyed POST runs once, its answer is given back; GET ignores keys.
func TestIdempotentPlainHTTP(t *testing.T) {
	t.Parallel()
	var created atomic.Int64
	web := newTestServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get(HeaderIdempotencyKey) != "" {
			http.Error(w, "the key reached the tool server", http.StatusTeapot)
			return
		}
		n := created.Add(1)
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(http.StatusCreated)
		fmt.Fprintf(w, "created %d", n)
	}))
	e := newEnv(t, upstreamModes[3], func(e *env) {
		e.pol.servers = append(e.pol.servers, policy.Server{Name: "web", URL: web, Kind: "http"})
		e.pol.grants[grantKey(agentA, "web", "POST /items")] = policy.Allow
	})
	post := func(body string) (int, string) {
		req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/http/web/items", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tokenA)
		req.Header.Set(HeaderIdempotencyKey, "item-1")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for range 2 {
		if status, body := post(`{"name":"a"}`); status != http.StatusCreated || body != "created 1" {
			t.Fatalf("keyed POST: %d %s", status, body)
		}
	}
	if status, body := post(`{"name":"b"}`); status != http.StatusConflict || !strings.Contains(body, RuleIdempotencyMismatch) {
		t.Errorf("other body, same key: %d %s", status, body)
	}
	if created.Load() != 1 || len(e.aud.find("decision", "replay")) != 1 {
		t.Errorf("created %d times: %s", created.Load(), e.aud.dump())
	}
}

// The records of a keyed call verify as an audit log: the new field and decision are part of the chain.
func TestReplayRecordsVerify(t *testing.T) {
	t.Parallel()
	path := t.TempDir() + "/audit.jsonl"
	l, err := audit.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, upstreamModes[3], func(e *env) { e.opts.Audit = l })
	for range 2 {
		e.mustCall(tokenA, echoCall, keyHeader("k"))
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	sum, err := audit.VerifyFile(path)
	if err != nil || sum.Decisions["replay"] != 1 {
		t.Fatalf("verify: %v; %s", err, sum)
	}
}

// brokenWriter is the connection of a client that is gone: every write fails.
type brokenWriter struct{ http.ResponseWriter }

func (brokenWriter) Write([]byte) (int, error) { return 0, io.ErrClosedPipe }

// Relaying a keyed call's stream to a client that is gone still reads on to the call's response; a plain relay
// stops at the first failed write.
func TestDetachedRelayReadsToTheResult(t *testing.T) {
	t.Parallel()
	progress := `{"jsonrpc":"2.0","method":"notifications/progress","params":{"progress":1}}`
	res := `{"jsonrpc":"2.0","id":7,"result":{"content":[]}}`
	for _, detached := range []bool{false, true} {
		var kept []byte
		rl := &relay{maxEvent: 1 << 20, allowed: allowOnly(), callID: json.RawMessage(`7`),
			onResult: func(_ outcome, msg []byte) { kept = msg }}
		var w http.ResponseWriter = brokenWriter{httptest.NewRecorder()}
		if detached {
			w = &detachedWriter{ResponseWriter: w}
		}
		err := rl.events(w, strings.NewReader("data: "+progress+"\n\ndata: "+res+"\n\n"))
		if detached && (err != nil || string(kept) != res) {
			t.Errorf("detached: %v, kept %s", err, kept)
		}
		if !detached && (err == nil || kept != nil) {
			t.Errorf("plain relay to a closed client: %v, kept %s", err, kept)
		}
	}
}

// A call that cannot have run frees its key; a call whose answer was lost leaves its outcome unknown.
func TestIdempotentCallUpstreamFailures(t *testing.T) {
	t.Parallel()
	refused := func(t *testing.T) string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ln.Close()
		return "http://" + ln.Addr().String()
	}
	handler := func(h http.HandlerFunc) func(t *testing.T) string {
		return func(t *testing.T) string { return newTestServer(t, h) }
	}
	for _, tc := range []struct {
		name     string
		upstream func(t *testing.T) string
		retry    string // the rule the retry gets
	}{
		{name: "connection-refused", upstream: refused, retry: "gateway:upstream"},
		{name: "refused-by-http-status", retry: "", upstream: handler(func(w http.ResponseWriter, _ *http.Request) {
			http.Error(w, "no such session", http.StatusNotFound)
		})},
		{name: "connection-cut", retry: RuleIdempotencyUnknown, upstream: handler(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.ReadAll(r.Body)
			conn, _, _ := http.NewResponseController(w).Hijack()
			conn.Close()
		})},
		{name: "server-error", retry: RuleIdempotencyUnknown, upstream: handler(func(w http.ResponseWriter, _ *http.Request) {
			http.Error(w, "crashed", http.StatusInternalServerError)
		})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			url := tc.upstream(t)
			e := newEnv(t, upstreamModes[3], func(e *env) { e.pol.servers[0].URL = url })
			for i, want := range []string{"", tc.retry} {
				ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
				r, _ := e.postCall(ctx, tokenA, echoCall, keyHeader("k"))
				cancel()
				if i == 1 && r.rule() != want {
					t.Errorf("retry: status %d rule %q, want %q", r.status, r.rule(), want)
				}
			}
			if tc.retry != RuleIdempotencyUnknown && len(e.aud.find("decision", "allow")) != 2 {
				t.Errorf("the retry of a call that cannot have run was not judged again: %s", e.aud.dump())
			}
		})
	}
}
