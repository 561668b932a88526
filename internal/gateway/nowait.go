package gateway

import (
	"fmt"
	"net/http"
	"strings"
	"time"
)

// callHeaders reads the headers that change how the gateway handles a judged call besides Idempotency-Key:
// HeaderApproval. A value it does not know is refused; it reports whether the call may go on.
func (g *Gateway) callHeaders(w http.ResponseWriter, r *http.Request, c *call) bool {
	v, ok := r.Header[HeaderApproval]
	if !ok {
		return true
	}
	if len(v) == 1 && strings.EqualFold(strings.TrimSpace(v[0]), ApprovalNoWait) {
		c.nowait = true
		return true
	}
	answerDenial(w, c, g.deny(r.Context(), c, invalidRequest(
		fmt.Sprintf("the %s header must be %q", HeaderApproval, ApprovalNoWait))))
	return false
}

// pendingDenial answers a call sent with nowait whose approval is pending: the caller waits on its own (a durable
// workflow waits for a signal rather than hold a request open), then sends the identical call again.
func pendingDenial(f approvalFile) *rpcError {
	e := newRPCError(http.StatusOK, CodeApproval, RuleApprovalPending, fmt.Sprintf(
		"approval %s is pending until %s; send the identical call again once a human has decided",
		f.ID, f.Expires.UTC().Format(time.RFC3339)))
	e.ApprovalID, e.Expires = f.ID, f.Expires.UTC()
	return e
}
