// Package gateway owns the governing proxy that stands between AI agents and their tool servers: it authenticates
// every caller, judges every tool call against the policy, enforces rate limits, daily budgets and human approvals,
// and writes every decision to the audit log before anything reaches a tool server.
//
// # Flow of one MCP tools/call
//
//	request ─▶ authenticate ─▶ route (policy.Servers) ─▶ session binding ─▶ read body (size, time)
//	        ─▶ strict JSON-RPC parse ─▶ Idempotency-Key (replay a kept result, here or a peer's; wait; or claim the key)
//	        ─▶ Policy.Decide ─▶ limits ─▶ approval, here or a peer's (wait, or answer "pending" with nowait)
//	        ─▶ audit.Append (fsync)
//	        ─▶ key entry "started" (fsync) ─▶ forward ─▶ relay the response (tools/list filtered, token usage read)
//	        ─▶ audit result record ─▶ key entry "done" with the response
//
// Every arrow fails closed: an error anywhere denies the call, and a call is forwarded only after its decision
// record (and, with a key, its started entry) was written.
//
// # Routes
//
// Handler (the agents' listener):
//
//	POST|GET|DELETE /mcp/{server}    MCP Streamable HTTP, proxied to the server's URL
//	ANY /http/{server}/{path...}     a plain HTTP tool server
//	GET /guidance[?agent=NAME]       the caller's guidance; asking for another agent's is 403
//	GET /healthz, GET /readyz        unauthenticated probes
//
// AdminHandler (a separate listener for humans and Prometheus; keep it off the agents' network):
//
//	GET  /approvals                  pending approvals
//	POST /approvals/{id}             {"approve": true|false}
//	GET  /keys/{name}                KeyState of one idempotency key on this replica (for its peers)
//	GET  /approvals/by-key/{key}     this replica's approval of one call, or {"state": "none"} (for its peers)
//	POST /approvals/{id}/use         {"requestId": "rq_..."}: spend an approved approval; ApprovalUse (for its peers)
//	GET  /metrics                    Prometheus
//	GET  /healthz, GET /readyz
//
// Every admin route but the probes authenticates, always: humans with Options.AdminAuthenticator (the approver is the
// identity it returns; a body's "by" must name that same identity; nobody approves a call of their own identity,
// compared without regard to case), replicas with Options.PeerAuthenticator or Options.PeerToken. /keys,
// /approvals/by-key and /approvals/{id}/use answer replicas only; a decision a replica passes on names its approver
// in X-Agops-Approver, read from replicas only.
//
// # JSON-RPC errors
//
// Every refusal is a JSON-RPC error whose data is ErrorData: {"rule", "reason", "requestId"}, and with
// approval:pending also {"approvalId", "expires"}; the message reads "denied by <rule>: <reason>". Problems with the
// request itself carry an HTTP status (and id null when the body was not read):
//
//	401 -32012 CodeUnauthenticated  gateway:authentication   no or an unknown bearer token
//	413 -32013 CodeTooLarge         gateway:body-too-large   body over Options.MaxBodyBytes (default 1 MiB)
//	408 -32014 CodeSlowClient       gateway:slow-client      body not received within Options.BodyReadTimeout
//	400 -32700 parse error          gateway:parse-error      malformed JSON, not UTF-8
//	400 -32600 invalid request      gateway:invalid-request  batch, ambiguous keys, bad members, header ≠ body,
//	                                                         an X-Agops-Approval other than nowait
//	400 -32600 invalid request      gateway:idempotency-key  an Idempotency-Key that is not 1-200 printable ASCII
//	404 -32001 CodeDenied           gateway:unknown-server, gateway:session (a session of another agent)
//	502 -32015 CodeUpstream         gateway:upstream         the tool server failed
//	503 -32603 internal error       gateway:no-policy
//
// Judgements of one call answer HTTP 200 with the error for the request's id, so that MCP clients report it as the
// call's error: -32001 CodeDenied (the policy's Decision.Rule, or gateway:method for a method not passed through),
// -32010 CodeLimited (limits:callsPerMinute, limits:callsPerDay, limits:tokensPerDay), -32011 CodeApproval
// (approval:pending, approval:rejected, approval:expired, approval:used, approval:abandoned), -32016
// CodeIdempotency (gateway:idempotency-unavailable, -mismatch, -unknown, -in-flight, -too-large; -abandoned in the
// audit log only, for a caller gone while the replicas were asked), -32603
// (gateway:internal: audit log, approval or idempotency store unavailable, an idempotency or approval peer
// unusable, policy panic; the call is denied). Plain
// HTTP callers get 403, 429, 409 (CodeIdempotency) or 503 instead of 200. The codes avoid -32002..-32005, which the
// MCP go-sdk reads as "resource not found" or as a closing or rejecting transport. ErrorDataOf and PendingApproval
// read these errors from what the go-sdk client returns.
//
// # Design choices
//
//   - Batches (JSON arrays) are rejected outright with -32600: MCP 2025-06-18 removed them, and judging a part of
//     a batch is how forbidden calls slip through.
//   - The tool server gets the canonical form of what was judged (see canonicalize), with Content-Type
//     application/json; bodies in another charset or content coding, and requests carrying a header twice that the
//     gateway or the tool server reads, are refused (see checkContent, checkHeaders).
//   - Parsing is strict so the gateway and the tool server cannot read one body two ways: UTF-8 only, no two keys
//     in any object equal under case folding (Go's decoder matches "Method" to "method"), no unknown top-level
//     members, the tool name passed to the policy byte-exact.
//   - Methods other than tools/call pass through only if they are lifecycle, listing or notification methods
//     (see passThroughMethods); content access the policy cannot judge (resources/read, prompts/get,
//     completion/complete) is denied unless Options.AllowMethods lists it.
//   - Every JSON-RPC response from an MCP upstream, in application/json bodies and in every text/event-stream event
//     (POST streams and GET streams alike, so a resumed stream cannot replay an unfiltered list), has its
//     result.tools filtered with Policy.Allowed. Other events pass through byte-for-byte.
//   - Token usage is read from a tools/call result's _meta.usage.totalTokens or, failing that, usage.total_tokens;
//     absent means zero. A call is admitted while the day's token total is below the budget, so the call that
//     crosses it finishes.
//   - Limits are counted per agent in memory. A restart resets per-minute windows; daily budgets are rebuilt from
//     the audit log with RestoreBudgets. A call counts when admitted, before an approval wait; a call denied
//     afterwards gives its count back.
//   - Session IDs returned by an upstream are bound to the agent that opened the session; a request carrying a
//     session ID bound to someone else, or unknown (after a restart), gets 404 so the client starts a new session.
//   - Approvals are one JSON file per approval in Options.ApprovalDir (see approvalFile), written atomically. A
//     call is identified by sha256(agent, server, tool, method, path, argsDigest); a retry of the same call finds
//     its pending or approved approval, across restarts. An approval is used once.
//   - Idempotency keys (header Idempotency-Key on a tools/call or a non-GET plain HTTP call) are entries named by
//     sha256(agent, server, key) (see keyFile), made durable by Options.IdempotencyDir's journal (see keyJournal),
//     whose fsyncs concurrent calls share, held in memory and written out as files when the journal is emptied:
//     agents cannot share keys. A
//     key is bound to its tool (or method and path) and arguments digest. The first call is judged as usual, its key
//     written "started" before it is forwarded, and the tool server's JSON-RPC response (or plain HTTP answer) kept
//     as "done" before the caller sees it. The forwarded call is detached from the caller: it runs to its end (at
//     most CallTimeout) when the caller goes away. A retry of a done call is judged by the policy again, then given
//     the kept answer with its own id, without calling the tool or counting limits (audit decision "replay"); a
//     retry during the call waits for it; a retry of a call whose outcome is unknown (started when the gateway
//     restarted, or its answer lost) is refused, never run again. A call that cannot have run (nothing sent, or an
//     MCP server's HTTP 4xx refusal) frees its key. Keys expire after Options.IdempotencyTTL. Without
//     IdempotencyDir a keyed call is refused.
//   - Keys across replicas: each replica keeps the keys of the calls it ran. A keyed call that finds nothing of its key
//     here asks every peer (Options.Peers) GET /keys/{name} before claiming it (calls without a key ask nobody; a peer
//     answers from its own store and never asks further). A peer's done call is replayed here exactly as a local one,
//     and its entry kept here too; a peer's call in flight is polled every 200 ms (at most CallTimeout) and then
//     treated the same way, or refused as of unknown outcome if that peer stops answering; a peer's call of unknown
//     outcome is refused. A peer that cannot be reached (or serves no /keys) is passed over with a warning, so the call
//     runs here if no other peer has its key: availability over exactly-once while a replica is down, since a replica
//     that is down cannot be told from one that lost its volume. A peer that answers otherwise (refused, broken store,
//     not a KeyState) denies the call (gateway:internal). Two attempts with one key arriving on two replicas at the
//     same moment are not serialised; one that follows another, as a retry after a caller died does, is.
//   - Approvals across replicas: each replica keeps the approvals created on it. An approval-gated call with no
//     approval of its key here asks every peer GET /approvals/by-key/{key} before creating one (calls without
//     approval ask nobody; a peer answers from its own store and never asks further). A peer's approved approval is
//     spent there, atomically and once (POST /approvals/{id}/use; losing the race is approval:used), and the call
//     proceeds here, its allow record naming that approval; a peer's pending approval is answered to a nowait call
//     (its ID and expiry, no new approval) and polled every 200 ms by a waiting call until it is decided or expires;
//     a peer's rejected or expired approval denies a nowait call as a local one would. A peer that cannot be reached
//     (or serves no /approvals/by-key) is passed over with a warning, so the call may get a second approval here
//     while a replica is down; a peer that answers otherwise, or fails while a call waits for or spends its
//     approval, denies the call (gateway:internal).
//   - X-Agops-Approval: nowait makes an approval-gated call that has no usable approval answer at once with
//     approval:pending and the approval's ID (created, or the pending one of the same call reused); its limit
//     reservation is given back. An identical call made later uses the approval once approved, and is told
//     approval:rejected or approval:expired for ApprovalValidity after the approval ended unused; after that, or
//     after an approval of the call was used, it asks anew. Without the header a call waits, as always.
//   - Arguments appear in the audit log only as "sha256:<hex>" of their canonical JSON (keys sorted, no
//     insignificant whitespace, numbers as written). Plain HTTP calls digest the raw query and body instead.
//   - Passed-through messages (initialize, tools/list, notifications…) are logged at debug level, not audited; every
//     judged call, every denial of any kind and every approval step is audited.
//   - The result record of a judged MCP call (status, duration, tokens) is appended when its response is read and
//     before the client sees it, so a budget is up to date before the agent can call again.
//   - Slow clients: NewServer sets a header timeout (a connection that never completes its headers is closed; it
//     is not audited, there is no request to record); each body has Options.BodyReadTimeout (408, audited).
//   - The agent's bearer token is never forwarded; the upstream gets X-Agops-Agent with the authenticated identity.
package gateway
