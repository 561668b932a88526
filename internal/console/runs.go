package console

import (
	"net/http"
	"time"

	"github.com/agops/agops/internal/agent/runs"
)

type runsView struct {
	Runs []runs.Summary
	Err  string
	Now  time.Time
}

type runView struct {
	runs.View
	Events   []runs.Event
	Err      string
	Temporal string // link into Temporal's UI, "" when none is configured
	Now      time.Time
}

// maxRunsListed is how many of the newest runs the list shows.
const maxRunsListed = 100

func (s *Server) runRoutes(m *http.ServeMux) {
	m.Handle("GET /runs", s.page(s.runsPage))
	m.Handle("GET /runs/{id...}", s.page(s.runPage))
	m.Handle("POST /cancel/{id...}", s.action(Approver, s.cancelRun))
}

func (s *Server) runsPage(w http.ResponseWriter, r *http.Request, ss *session) {
	v := runsView{Now: s.o.Now()}
	if s.o.Temporal == nil {
		v.Err = "no Temporal given (agops console --temporal HOST:PORT)"
		s.render(w, r, ss, "runs", "Runs", v)
		return
	}
	ctx, cancel := ctxTimeout(r)
	defer cancel()
	list, err := runs.List(ctx, s.o.Temporal, maxRunsListed)
	if err != nil {
		v.Err = err.Error()
	}
	v.Runs = list
	s.render(w, r, ss, "runs", "Runs", v)
}

func (s *Server) runPage(w http.ResponseWriter, r *http.Request, ss *session) {
	id := r.PathValue("id")
	v := runView{Now: s.o.Now()}
	if s.o.Temporal == nil {
		v.Err = "no Temporal given (agops console --temporal HOST:PORT)"
		s.render(w, r, ss, "run", "Run", v)
		return
	}
	ctx, cancel := ctxTimeout(r)
	defer cancel()
	view, err := runs.Show(ctx, s.o.Temporal, id)
	if err != nil {
		v.Err = err.Error()
		v.ID = id
		w.WriteHeader(http.StatusNotFound)
		s.render(w, r, ss, "run", "Run "+id, v)
		return
	}
	v.View = view
	if v.Events, err = runs.Timeline(ctx, s.o.Temporal, id); err != nil {
		v.Err = "timeline: " + err.Error()
	}
	if s.o.TemporalUI != "" {
		v.Temporal = runs.TemporalUILink(s.o.TemporalUI, s.namespace(), id)
	}
	s.render(w, r, ss, "run", "Run "+id, v)
}

func (s *Server) namespace() string {
	if s.o.Namespace != "" {
		return s.o.Namespace
	}
	return "default"
}

// cancelRun serves POST /cancel/{id}: the run and its agent tasks are asked to stop.
func (s *Server) cancelRun(w http.ResponseWriter, r *http.Request, ss *session) {
	id := r.PathValue("id")
	if s.o.Temporal == nil {
		http.Error(w, "no Temporal configured", http.StatusServiceUnavailable)
		return
	}
	ctx, cancel := ctxTimeout(r)
	defer cancel()
	if err := runs.Cancel(ctx, s.o.Temporal, id); err != nil {
		redirectFlash(w, r, "/runs/"+id, "Not canceled: "+err.Error())
		return
	}
	s.log.Info("console: run canceled", "person", ss.person.Name, "run", id)
	redirectFlash(w, r, "/runs/"+id, "Cancel requested by "+ss.person.Name+".")
}
