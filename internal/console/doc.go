// Package console is the operator console: the web pages the people who govern the fleet use — approvals held at
// the gateway, the audit trail and its chain, agent-team runs, the effective policy, and the lab's map. It owns
// sign-in (static tokens, Kubernetes TokenReview, OIDC, one-time links), sessions, roles (viewer, approver) and CSRF
// protection, and renders server-side with html/template and assets embedded in the binary (no CDN).
//
// It reads the gateway, the audit log, runs, policy and migration output only through their packages' exported
// APIs: gateway.AdminClient (as a console: identity "console:NAME", deciding in the signed-in person's name),
// audit.Reader, internal/agent/runs, policy.Effective and internal/labview.
package console
