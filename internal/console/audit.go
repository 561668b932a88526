package console

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/agops/agops/internal/audit"
	"github.com/agops/agops/internal/gateway"
)

// auditFilter is the audit page's form.
type auditFilter struct {
	Agent, Server, Tool, Decision, Rule, Event string
	Since, Until                               string // datetime-local values, UTC
	Log                                        string // which log (a replica's), "" for the first
	Before                                     uint64
}

const formTime = "2006-01-02T15:04"

func filterOf(q url.Values) (auditFilter, audit.Query, error) {
	f := auditFilter{Agent: q.Get("agent"), Server: q.Get("server"), Tool: q.Get("tool"), Decision: q.Get("decision"),
		Rule: q.Get("rule"), Event: q.Get("event"), Since: q.Get("since"), Until: q.Get("until"), Log: q.Get("log")}
	aq := audit.Query{Caller: f.Agent, Server: f.Server, Tool: f.Tool, Decision: f.Decision, Rule: f.Rule, Event: f.Event}
	var errs []error
	for _, t := range []struct {
		v   string
		dst *time.Time
	}{{f.Since, &aq.Since}, {f.Until, &aq.Until}} {
		if t.v == "" {
			continue
		}
		tm, err := time.Parse(formTime, t.v)
		if err != nil {
			errs = append(errs, fmt.Errorf("time %q: want YYYY-MM-DDTHH:MM (UTC)", t.v))
			continue
		}
		*t.dst = tm
	}
	if b := q.Get("before"); b != "" {
		n, err := strconv.ParseUint(b, 10, 64)
		if err != nil {
			errs = append(errs, fmt.Errorf("before %q: want a line number", b))
		}
		f.Before, aq.Before = n, n
	}
	return f, aq, errors.Join(errs...)
}

// query is the filter as a query string, with another cursor.
func (f auditFilter) query(before uint64) string {
	q := url.Values{}
	for k, v := range map[string]string{"agent": f.Agent, "server": f.Server, "tool": f.Tool, "decision": f.Decision,
		"rule": f.Rule, "event": f.Event, "since": f.Since, "until": f.Until, "log": f.Log} {
		if v != "" {
			q.Set(k, v)
		}
	}
	if before > 0 {
		q.Set("before", strconv.FormatUint(before, 10))
	}
	return q.Encode()
}

type auditView struct {
	Filter   auditFilter
	Page     gateway.AuditPage
	Logs     []string // the logs to choose from, when there are several
	Log      string   // the one shown
	Older    string   // query string of the next page, "" on the last
	Export   string   // query string of the export
	Err      string
	Decision []string
	Events   []string
}

func (s *Server) auditRoutes(m *http.ServeMux) {
	m.Handle("GET /audit", s.page(s.auditPage))
	m.Handle("GET /audit/call/{id}", s.page(s.auditCall))
	m.Handle("GET /audit/export", s.page(s.auditExport))
}

func (s *Server) auditPage(w http.ResponseWriter, r *http.Request, ss *session) {
	v := auditView{Decision: []string{"allow", "deny", "replay", "approval", "approved", "rejected", "expired"},
		Events: []string{"decision", "result", "approval"}}
	if len(s.audit.names) > 1 {
		v.Logs = s.audit.names
	}
	f, q, err := filterOf(r.URL.Query())
	v.Filter = f
	if err != nil {
		v.Err = err.Error()
		w.WriteHeader(http.StatusBadRequest)
		s.render(w, r, ss, "audit", "Audit", v)
		return
	}
	i, b, err := s.audit.pick(r)
	if err == nil {
		v.Log = s.audit.names[i]
		v.Page, err = b.page(r, q)
	}
	if err != nil {
		v.Err = err.Error()
	}
	if v.Page.Next > 0 {
		v.Older = f.query(v.Page.Next)
	}
	v.Export = f.query(0)
	s.render(w, r, ss, "audit", "Audit", v)
}

type callView struct {
	ID        string
	Log       string
	Decisions []audit.Entry
	Results   []audit.Entry
	Approvals []audit.Entry
	Chain     gateway.AuditChain
	Err       string
}

// auditCall shows one call's records: its decision and its result side by side, and its approval's records.
func (s *Server) auditCall(w http.ResponseWriter, r *http.Request, ss *session) {
	v := callView{ID: r.PathValue("id"), Log: r.URL.Query().Get("log")}
	var p gateway.AuditPage
	_, b, err := s.audit.pick(r)
	if err == nil {
		p, err = b.call(r, v.ID)
	}
	if err != nil {
		v.Err = err.Error()
	}
	v.Chain = p.Chain
	for _, e := range p.Entries {
		switch e.Record.Event {
		case "decision":
			v.Decisions = append(v.Decisions, e)
		case "result":
			v.Results = append(v.Results, e)
		default:
			v.Approvals = append(v.Approvals, e)
		}
	}
	if len(p.Entries) == 0 && v.Err == "" {
		v.Err = "no record of call " + v.ID
		w.WriteHeader(http.StatusNotFound)
	}
	s.render(w, r, ss, "call", "Call "+v.ID, v)
}

// auditExport downloads the records between the filter's times as `agops audit export` writes them: JSON lines
// with the proof that ties them to the log's latest signed checkpoint, which `agops audit verify-export` checks.
// A proof covers a contiguous range, so every record between the times is in it, whatever the other filters say.
// The export is made whole before a byte is sent: a failure is an error, never half a file.
func (s *Server) auditExport(w http.ResponseWriter, r *http.Request, ss *session) {
	_, q, err := filterOf(r.URL.Query())
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	i, b, err := s.audit.pick(r)
	if err != nil {
		http.Error(w, err.Error(), http.StatusNotFound)
		return
	}
	var buf bytes.Buffer
	if err := b.export(r, &buf, q.Since, q.Until); err != nil {
		var ae *gateway.AdminError
		if errors.As(err, &ae) {
			err = errors.New(ae.Message)
		}
		http.Error(w, "nothing exported: "+err.Error(), http.StatusConflict)
		return
	}
	w.Header().Set("Content-Type", "application/jsonl")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="audit-%d.jsonl"`, s.o.Now().Unix()))
	_, _ = w.Write(buf.Bytes())
	s.log.Info("console: audit exported", "person", ss.person.Name, "log", s.audit.names[i], "bytes", buf.Len())
}
