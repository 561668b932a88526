package gateway

import (
	"errors"
	"net/http"
	"os"
	"time"
)

// guidanceView is the JSON form of policy.Guidance.
type guidanceView struct {
	Agent     string         `json:"agent"`
	Team      string         `json:"team,omitempty"`
	Fragments []fragmentView `json:"fragments"`
}

type fragmentView struct {
	Name    string `json:"name"`
	Version int    `json:"version"`
	Text    string `json:"text"`
}

// serveGuidance serves GET /guidance[?agent=NAME]: an agent reads its own guidance only, so that one agent cannot
// learn how another is steered.
func (g *Gateway) serveGuidance(w http.ResponseWriter, r *http.Request) {
	agent := agentFrom(r.Context())
	if asked := r.URL.Query().Get("agent"); asked != "" && asked != agent {
		writeJSONError(w, http.StatusForbidden, "an agent may read only its own guidance")
		return
	}
	st := g.policy.Load()
	if st == nil || st.p == nil {
		writeJSONError(w, http.StatusServiceUnavailable, "no policy loaded")
		return
	}
	gd, ok := st.p.Guidance(agent)
	if !ok {
		writeJSONError(w, http.StatusNotFound, "no guidance for "+agent)
		return
	}
	v := guidanceView{Agent: gd.Agent, Team: gd.Team, Fragments: []fragmentView{}}
	for _, f := range gd.Fragments {
		v.Fragments = append(v.Fragments, fragmentView{Name: f.Name, Version: f.Version, Text: f.Text})
	}
	writeJSON(w, http.StatusOK, v)
}

func (g *Gateway) healthz(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// readyChecker is an Appender that can tell whether it is writable.
type readyChecker interface{ Ready() error }

// Ready reports why the gateway cannot serve calls: no policy, an audit log that is not writable (its Ready, or the
// last append failed), or an approval directory it cannot write.
func (g *Gateway) Ready() error {
	var errs []error
	if g.policy.Load() == nil {
		errs = append(errs, errNoPolicy)
	}
	if rc, ok := g.opts.Audit.(readyChecker); ok {
		if err := rc.Ready(); err != nil {
			errs = append(errs, err)
		}
	}
	if g.auditFailed.Load() {
		errs = append(errs, errors.New("the last audit append failed"))
	}
	if f, err := os.CreateTemp(g.opts.ApprovalDir, ".ap-ready-*.tmp"); err != nil {
		errs = append(errs, err)
	} else {
		f.Close()
		os.Remove(f.Name())
	}
	return errors.Join(errs...)
}

func (g *Gateway) readyz(w http.ResponseWriter, _ *http.Request) {
	if err := g.Ready(); err != nil {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "not ready", "reason": err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

// Timeouts protect a listener from slow clients. Zero fields take the defaults.
type Timeouts struct {
	ReadHeader time.Duration // default 10s
	Idle       time.Duration // default 2 min
}

// NewServer returns an http.Server for h with the timeouts a gateway listener needs. It sets no ReadTimeout or
// WriteTimeout: MCP streams and approval waits are long, and request bodies have their own deadline
// (Options.BodyReadTimeout).
func NewServer(addr string, h http.Handler, t Timeouts) *http.Server {
	if t.ReadHeader <= 0 {
		t.ReadHeader = 10 * time.Second
	}
	if t.Idle <= 0 {
		t.Idle = 2 * time.Minute
	}
	return &http.Server{Addr: addr, Handler: h, ReadHeaderTimeout: t.ReadHeader, IdleTimeout: t.Idle,
		MaxHeaderBytes: 64 << 10}
}
