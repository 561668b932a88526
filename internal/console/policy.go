package console

import (
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/agops/agops/internal/gateway"
	"github.com/agops/agops/internal/policy"
)

// policySource loads the fleet policy file, again when it changes.
type policySource struct {
	path string

	mu   sync.Mutex
	mod  time.Time
	size int64
	p    *policy.Policy
	err  error
}

func (ps *policySource) load() (*policy.Policy, error) {
	if ps.path == "" {
		return nil, nil
	}
	fi, err := os.Stat(ps.path)
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if err != nil {
		return ps.p, err
	}
	if ps.p != nil && fi.ModTime().Equal(ps.mod) && fi.Size() == ps.size {
		return ps.p, nil
	}
	p, err := policy.Load(ps.path)
	if err != nil {
		return ps.p, err // the last policy that loaded stays shown, beside the error
	}
	ps.p, ps.mod, ps.size = p, fi.ModTime(), fi.Size()
	return p, nil
}

type agentPolicy struct {
	policy.Effective
	Usage      *gateway.AgentUsage
	Err        string
	Approval   int    // accesses that wait for a person
	LimitsLine string // the limits in force, as one line
}

type policyView struct {
	File     string
	Name     string
	Agents   []agentPolicy
	Err      string
	UsageErr string
	Servers  []policy.Server
}

func (s *Server) policyRoutes(m *http.ServeMux) {
	m.Handle("GET /policy", s.page(s.policyPage))
}

func (s *Server) policyPage(w http.ResponseWriter, r *http.Request, ss *session) {
	v := policyView{File: s.o.PolicyFile}
	p, err := s.policy.load()
	if err != nil {
		v.Err = err.Error()
	}
	if p == nil {
		if v.Err == "" {
			v.Err = "no policy file given (agops console --policy FILE)"
		}
		s.render(w, r, ss, "policy", "Policy", v)
		return
	}
	v.Name, v.Servers = p.Name(), p.Servers()
	usage := map[string]*gateway.AgentUsage{}
	if s.o.Gateway != nil {
		ctx, cancel := ctxTimeout(r)
		list, err := s.o.Gateway.Usage(ctx)
		cancel()
		if err != nil {
			v.UsageErr = err.Error()
		}
		for i := range list {
			usage[list[i].Agent] = &list[i]
		}
	}
	for _, a := range p.Agents() {
		e, err := p.Effective(a)
		ap := agentPolicy{Effective: e, Usage: usage[a], LimitsLine: policy.LimitsText(e.Limits)}
		if err != nil {
			ap.Err = err.Error()
		}
		for _, sa := range e.Servers {
			for _, x := range sa.Access {
				if x.Verdict == policy.Approve {
					ap.Approval++
				}
			}
		}
		v.Agents = append(v.Agents, ap)
	}
	s.render(w, r, ss, "policy", "Policy", v)
}
