package console

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/agops/agops/internal/agent"
	"github.com/agops/agops/internal/agent/runs"
	"github.com/agops/agops/internal/gateway"
	"github.com/agops/agops/internal/mask"
)

// heldCall is one call waiting for a person: held by the gateway (ID ap_…), by a run's team spec (wf_…), or both
// seen at once (a gateway approval a run's agent task waits for).
type heldCall struct {
	ID       string
	Agent    string // the caller's identity at the gateway
	Server   string
	Tool     string // or METHOD /path for plain HTTP
	Args     string // masked
	Rule     string
	Reason   string
	Created  time.Time
	Expires  time.Time
	Run      string // the run waiting for it, if any
	Team     string
	TeamRole string // the team's agent that made the call
	workflow string // the agent task to signal
}

// approvalSource gathers held calls from the gateway (every replica: the gateway asks its peers) and from the
// running agent-team runs, and passes decisions to both.
type approvalSource struct {
	gw       *gateway.AdminClient
	temporal client.Client
	now      func() time.Time

	mu      sync.Mutex
	cached  []heldCall
	errs    []string
	fetched time.Time
}

// approvalsTTL is how long a gathered list serves every browser that asks.
const approvalsTTL = time.Second

// list returns the held calls, oldest first, and the sources that could not be read.
func (a *approvalSource) list(ctx context.Context) ([]heldCall, []string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if now := a.now(); now.Sub(a.fetched) < approvalsTTL {
		return a.cached, a.errs
	}
	a.cached, a.errs = a.gather(ctx)
	a.fetched = a.now()
	return a.cached, a.errs
}

// forget makes the next list ask the sources again.
func (a *approvalSource) forget() {
	a.mu.Lock()
	a.fetched = time.Time{}
	a.mu.Unlock()
}

func (a *approvalSource) gather(ctx context.Context) ([]heldCall, []string) {
	var out []heldCall
	var errs []string
	byID := map[string]int{}
	if a.gw != nil {
		pending, err := a.gw.Pending(ctx)
		if err != nil {
			errs = append(errs, "gateway: "+err.Error())
		}
		for _, p := range pending {
			tool := p.Tool
			if tool == "" {
				tool = p.Method + " " + p.Path
			}
			byID[p.ID] = len(out)
			out = append(out, heldCall{ID: p.ID, Agent: p.Agent, Server: p.Server, Tool: tool, Args: p.Args,
				Rule: p.Rule, Reason: p.Reason, Created: p.Created, Expires: p.Expires})
		}
	}
	if a.temporal != nil {
		waiting, err := runsWaiting(ctx, a.temporal)
		if err != nil {
			errs = append(errs, "runs: "+err.Error())
		}
		for _, w := range waiting {
			if i, ok := byID[w.req.ID]; ok {
				out[i].Run, out[i].Team, out[i].TeamRole, out[i].workflow = w.run, w.team, w.req.Agent, w.req.Workflow
				continue
			}
			if strings.HasPrefix(w.req.ID, "ap_") {
				continue // decided or expired at the gateway; the run learns it on its next try
			}
			out = append(out, heldCall{ID: w.req.ID, Agent: w.req.Agent, Server: w.req.Server, Tool: w.req.Tool,
				Args: mask.Args([]byte(w.req.Arguments)), Rule: "team spec: approval", Created: w.req.Since,
				Expires: w.req.Expires, Run: w.run, Team: w.team, TeamRole: w.req.Agent, workflow: w.req.Workflow})
		}
	}
	slices.SortStableFunc(out, func(x, y heldCall) int { return x.Created.Compare(y.Created) })
	return out, errs
}

type waitingRun struct {
	run, team string
	req       agent.ApprovalRequest
}

// maxRunsScanned bounds the runs asked for their approvals on one refresh.
const maxRunsScanned = 50

// runsWaiting lists the approvals the running runs wait for.
func runsWaiting(ctx context.Context, c client.Client) ([]waitingRun, error) {
	list, err := runs.List(ctx, c, maxRunsScanned)
	if err != nil {
		return nil, err
	}
	var out []waitingRun
	for _, r := range list {
		if r.State != "Running" {
			continue
		}
		v, err := runs.Show(ctx, c, r.ID)
		if err != nil {
			continue
		}
		for _, p := range v.Pending {
			out = append(out, waitingRun{run: r.ID, team: v.Team, req: p})
		}
	}
	return out, nil
}

// decide passes a person's decision on held call id: to the gateway in their name (which refuses their own call
// and audits the decision), then to the run waiting for it.
func (a *approvalSource) decide(ctx context.Context, p Person, id string, approve bool, reason string) error {
	defer a.forget()
	held, _ := a.list(ctx)
	var h *heldCall
	for i := range held {
		if held[i].ID == id {
			h = &held[i]
		}
	}
	if h == nil {
		return fmt.Errorf("%s is no longer waiting", id)
	}
	if strings.HasPrefix(id, "ap_") {
		if a.gw == nil {
			return errors.New("no gateway configured")
		}
		c := *a.gw
		c.OnBehalfOf = p.Name
		if _, err := c.DecideWithReason(ctx, id, approve, reason); err != nil {
			var ae *gateway.AdminError
			if errors.As(err, &ae) {
				return errors.New(ae.Message)
			}
			return err
		}
	}
	if h.workflow == "" {
		return nil
	}
	if a.temporal == nil {
		return errors.New("no Temporal configured to tell the run")
	}
	if reason == "" && !approve {
		reason = "rejected by " + p.Name
	}
	return a.temporal.SignalWorkflow(ctx, h.workflow, "", agent.ApprovalSignal,
		agent.ApprovalDecision{ID: id, Approve: approve, By: p.Name, Reason: reason})
}

type approvalsView struct {
	Held []heldCall
	Errs []string
	Now  time.Time
}

func (s *Server) approvalsData(r *http.Request) approvalsView {
	ctx, cancel := ctxTimeout(r)
	defer cancel()
	held, errs := s.approvals.list(ctx)
	return approvalsView{Held: held, Errs: errs, Now: s.o.Now()}
}

func (s *Server) approvalsPage(w http.ResponseWriter, r *http.Request, ss *session) {
	s.render(w, r, ss, "approvals", "Approvals", s.approvalsData(r))
}

// approvalsLive serves the list alone, for the page's script to refresh it without a reload.
func (s *Server) approvalsLive(w http.ResponseWriter, r *http.Request, ss *session) {
	v := view{Person: ss.person, CSRF: ss.csrf, Data: s.approvalsData(r)}
	t := s.pages["approvals"]
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if err := t.ExecuteTemplate(w, "held", v); err != nil {
		s.log.Error("console: rendering", "page", "approvals/live", "err", err)
	}
}

// decide serves POST /approvals/{id}: decision=approve|reject, reason.
func (s *Server) decide(w http.ResponseWriter, r *http.Request, ss *session) {
	id := r.PathValue("id")
	var approve bool
	switch r.PostFormValue("decision") {
	case "approve":
		approve = true
	case "reject":
	default:
		http.Error(w, "decision: approve or reject", http.StatusBadRequest)
		return
	}
	reason := strings.TrimSpace(r.PostFormValue("reason"))
	ctx, cancel := ctxTimeout(r)
	defer cancel()
	if err := s.approvals.decide(ctx, ss.person, id, approve, reason); err != nil {
		s.log.Warn("console: decision refused", "person", ss.person.Name, "approval", id, "err", err)
		redirectFlash(w, r, "/approvals", "Not decided: "+err.Error())
		return
	}
	verb := "Rejected"
	if approve {
		verb = "Approved"
	}
	s.log.Info("console: decided", "person", ss.person.Name, "approval", id, "approve", approve)
	redirectFlash(w, r, "/approvals", verb+" "+id+".")
}
