// Package gateway owns the governing proxy that stands between AI agents and their tool servers: it authenticates
// every caller, judges every tool call against the policy, enforces rate limits, daily budgets and human approvals,
// and writes every decision to the audit log before anything reaches a tool server.
//
// # Flow of one MCP tools/call
//
//	request ─▶ authenticate ─▶ route (policy.Servers) ─▶ session binding ─▶ read body (size, time)
//	        ─▶ strict JSON-RPC parse ─▶ Policy.Decide ─▶ limits ─▶ approval (maybe wait) ─▶ audit.Append (fsync)
//	        ─▶ forward ─▶ relay the response (tools/list filtered, token usage read) ─▶ audit result record
//
// Every arrow fails closed: an error anywhere denies the call, and a call is forwarded only after its decision
// record was appended.
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
//	POST /approvals/{id}             {"approve": true|false, "by": "..."}
//	GET  /metrics                    Prometheus
//	GET  /healthz, GET /readyz
//
// When Options.AdminAuthenticator is set, /approvals needs it and the approver is the identity it returns (the
// body's "by" is then ignored); otherwise "by" is required and the admin listener must only be reachable by people
// allowed to approve. Nobody may approve their own call.
//
// # JSON-RPC errors
//
// Transport-level problems use an HTTP status and a JSON-RPC error body with id null: 401 (CodeUnauthenticated),
// 413 (CodeTooLarge), 408 (CodeSlowClient), 400 (-32700 parse error, -32600 invalid request: batches, ambiguous
// keys, a header that disagrees with the body), 404 (unknown server or session). Judgements about one call answer
// HTTP 200 with a JSON-RPC error for the request's id, so MCP clients report it as the call's error:
// CodeDenied (policy or gateway rule), CodeLimited (rate limit, daily budget), CodeApproval (approval rejected,
// expired, already used), -32603 (internal error, audit unavailable: the call is denied). Every error's data
// carries {"rule", "reason", "requestId"}.
//
// # Design choices
//
//   - Batches (JSON arrays) are rejected outright with -32600: MCP 2025-06-18 removed them, and judging a part of
//     a batch is how forbidden calls slip through.
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
//   - Arguments appear in the audit log only as "sha256:<hex>" of their canonical JSON (keys sorted, no
//     insignificant whitespace, numbers as written). Plain HTTP calls digest the raw query and body instead.
//   - Passed-through messages (initialize, tools/list, notifications…) are logged at debug level, not audited; every
//     judged call, every denial of any kind and every approval step is audited.
//   - The agent's bearer token is never forwarded; the upstream gets X-Agops-Agent with the authenticated identity.
package gateway
