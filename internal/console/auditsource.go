package console

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/agops/agops/internal/audit"
	"github.com/agops/agops/internal/gateway"
)

// auditBackend is where the audit page reads a log: the gateway's file (agops dev, or a console beside the gateway
// with its volume), or a gateway replica's admin listener (a console in the cluster, one log per replica).
type auditBackend interface {
	page(r *http.Request, q audit.Query) (gateway.AuditPage, error)
	call(r *http.Request, id string) (gateway.AuditPage, error)
	export(r *http.Request, w io.Writer, since, until time.Time) error
}

// AuditReplica is one gateway replica whose audit log the console reads through its admin listener.
type AuditReplica struct {
	Name   string
	Client *gateway.AdminClient
}

// fileAudit reads a log file through audit.Reader, opened once.
type fileAudit struct {
	path, key string

	mu sync.Mutex
	r  *audit.Reader
}

func (a *fileAudit) reader() (*audit.Reader, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.r != nil {
		return a.r, nil
	}
	var v note.Verifier
	if a.key != "" {
		var err error
		if v, err = audit.LoadVerifier(a.key); err != nil {
			return nil, err
		}
	}
	r, err := audit.OpenReader(a.path, v)
	if err != nil {
		return nil, err
	}
	a.r = r
	return r, nil
}

func (a *fileAudit) page(_ *http.Request, q audit.Query) (gateway.AuditPage, error) {
	rd, err := a.reader()
	if err != nil {
		return gateway.AuditPage{}, err
	}
	p, err := rd.Query(q)
	return gateway.PageOf(p), err
}

func (a *fileAudit) call(_ *http.Request, id string) (gateway.AuditPage, error) {
	rd, err := a.reader()
	if err != nil {
		return gateway.AuditPage{}, err
	}
	p, err := rd.Request(id)
	return gateway.PageOf(p), err
}

func (a *fileAudit) export(_ *http.Request, w io.Writer, since, until time.Time) error {
	rd, err := a.reader()
	if err != nil {
		return err
	}
	from, to, err := gateway.ExportRange(rd, since, until)
	if err != nil {
		return err
	}
	return rd.Export(w, from, to)
}

// replicaAudit reads a replica's log through its admin listener.
type replicaAudit struct{ c *gateway.AdminClient }

func (a replicaAudit) page(r *http.Request, q audit.Query) (gateway.AuditPage, error) {
	ctx, cancel := ctxTimeout(r)
	defer cancel()
	return a.c.AuditPage(ctx, q)
}

func (a replicaAudit) call(r *http.Request, id string) (gateway.AuditPage, error) {
	ctx, cancel := ctxTimeout(r)
	defer cancel()
	return a.c.AuditCall(ctx, id)
}

func (a replicaAudit) export(r *http.Request, w io.Writer, since, until time.Time) error {
	return a.c.AuditExport(r.Context(), w, since, until)
}

// auditSources are the logs the audit page can show, by name, in order.
type auditSources struct {
	names    []string
	backends []auditBackend
}

func newAuditSources(o Options) auditSources {
	var s auditSources
	if o.AuditLog != "" {
		s.names = append(s.names, "audit log")
		s.backends = append(s.backends, &fileAudit{path: o.AuditLog, key: o.AuditKey})
	}
	for _, r := range o.AuditReplicas {
		s.names = append(s.names, r.Name)
		s.backends = append(s.backends, replicaAudit{c: r.Client})
	}
	return s
}

// pick returns the backend the request's "log" parameter names (the first by default).
func (s auditSources) pick(r *http.Request) (int, auditBackend, error) {
	if len(s.backends) == 0 {
		return 0, nil, errors.New("no audit log given (agops console --audit-log FILE, or --gateway-replica URL)")
	}
	name := r.URL.Query().Get("log")
	if name == "" {
		return 0, s.backends[0], nil
	}
	for i, n := range s.names {
		if n == name {
			return i, s.backends[i], nil
		}
	}
	return 0, nil, fmt.Errorf("no audit log %q", name)
}
