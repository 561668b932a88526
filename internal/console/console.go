package console

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/agops/agops/internal/gateway"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Options configure a console. Every source is optional: a page whose source is missing says how to give it.
type Options struct {
	// Gateway reaches the gateway's admin listener with a console's token (an identity "console:NAME" in the
	// gateway's approver tokens); OnBehalfOf is set per decision to the signed-in person.
	Gateway *gateway.AdminClient
	// Temporal is a client of the Temporal namespace the agent teams run in; TemporalUI the base URL of Temporal's
	// web UI (a run links to TemporalUI/namespaces/NS/workflows/ID), Namespace its namespace.
	Temporal   client.Client
	TemporalUI string
	Namespace  string
	// AuditLog is the gateway's audit log (read, never written); AuditKey the public key (.pub) its checkpoints are
	// signed with, for the chain's anchoring and for exports with their proof.
	AuditLog string
	AuditKey string
	// AuditReplicas are gateway replicas whose own logs the console reads through their admin listeners (a
	// console in the cluster: each replica keeps its own log and chain), shown after AuditLog.
	AuditReplicas []AuditReplica
	// PolicyFile is the fleet policy the gateway enforces (reread when it changes).
	PolicyFile string
	// Lab is a folder `agops migrate` wrote (report.json, manifests).
	Lab string
	// SignIns check the tokens people paste into the sign-in page, in order (StaticUsers, KubeSignIn); OneTime
	// are the sign-in links `agops dev` prints; OIDC signs people in with the team's identity provider.
	SignIns []TokenSignIn
	OneTime *OneTimeTokens
	OIDC    *OIDC
	// PublicURL is the console's address as browsers see it, when a proxy in front terminates TLS; its scheme
	// decides whether cookies are Secure (https), as does serving TLS directly.
	PublicURL string
	Logger    *slog.Logger
	Now       func() time.Time
}

// Server serves the console.
type Server struct {
	o         Options
	log       *slog.Logger
	sessions  *sessions
	pages     map[string]*template.Template
	mux       *http.ServeMux
	secure    bool
	approvals *approvalSource
	policy    *policySource
	audit     auditSources
	lab       *labSource
}

// New checks the options and builds the console.
func New(o Options) (*Server, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if len(o.SignIns) == 0 && o.OneTime == nil && o.OIDC == nil {
		return nil, errors.New("console: no way to sign in: give a users file, Kubernetes sign-in or OIDC")
	}
	secure := false
	if o.PublicURL != "" {
		u, err := url.Parse(o.PublicURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("console: public URL %q: want http(s)://HOST[:PORT]", o.PublicURL)
		}
		secure = u.Scheme == "https"
	}
	pages, err := parsePages()
	if err != nil {
		return nil, err
	}
	s := &Server{o: o, log: log, sessions: newSessions(o.Now), pages: pages, secure: secure,
		approvals: &approvalSource{gw: o.Gateway, temporal: o.Temporal, now: o.Now},
		policy:    &policySource{path: o.PolicyFile}, audit: newAuditSources(o),
		lab: &labSource{dir: o.Lab}}
	s.routes()
	return s, nil
}

// Handler returns the console's HTTP handler.
func (s *Server) Handler() http.Handler { return s.headers(s.mux) }

func (s *Server) routes() {
	m := http.NewServeMux()
	static, _ := fs.Sub(staticFS, "static")
	m.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	m.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	m.HandleFunc("GET /login", s.loginPage)
	m.HandleFunc("POST /login", s.loginPost)
	m.HandleFunc("GET /oidc/start", s.oidcStart)
	m.HandleFunc("GET /oidc/callback", s.oidcCallback)
	m.Handle("POST /logout", s.action(Viewer, s.logout))
	m.Handle("GET /{$}", s.page(func(w http.ResponseWriter, r *http.Request, _ *session) {
		http.Redirect(w, r, "/approvals", http.StatusSeeOther)
	}))
	m.Handle("GET /approvals", s.page(s.approvalsPage))
	m.Handle("GET /approvals/live", s.page(s.approvalsLive))
	m.Handle("POST /approvals/{id}", s.action(Approver, s.decide))
	s.auditRoutes(m)
	s.runRoutes(m)
	s.policyRoutes(m)
	s.labRoutes(m)
	s.mux = m
}

// headers sets what every answer carries: no caching, no framing, a referrer for the console's own pages only (a
// sign-in link's token must not leak to another site; "no-referrer" would also make browsers send "Origin: null"
// with the console's own forms), and a content policy that allows only the console's own scripts and styles.
func (s *Server) headers(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "+
			"object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'")
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("Referrer-Policy", "same-origin")
		if !strings.HasPrefix(r.URL.Path, "/static/") {
			hd.Set("Cache-Control", "no-store")
		}
		h.ServeHTTP(w, r)
	})
}

// pageFunc serves a page to a signed-in person.
type pageFunc func(w http.ResponseWriter, r *http.Request, ss *session)

// page serves GETs to signed-in people; others are sent to the sign-in page.
func (s *Server) page(f pageFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ss := s.sessions.get(r)
		if ss == nil {
			if r.Header.Get("X-Requested-With") != "" {
				http.Error(w, "signed out", http.StatusUnauthorized)
				return
			}
			http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
			return
		}
		f(w, r, ss)
	})
}

// action serves a state-changing POST: a live session with at least role need, the session's CSRF token in the
// form, and a same-origin request. Every refusal is logged with the person.
func (s *Server) action(need Role, f pageFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ss := s.sessions.get(r)
		if ss == nil {
			http.Error(w, "sign in first", http.StatusUnauthorized)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
		if !sameOrigin(r, s.o.PublicURL) || !ss.validCSRF(r.PostFormValue("csrf")) {
			s.log.Warn("console: refused a request without the session's CSRF token or from another origin",
				"person", ss.person.Name, "path", r.URL.Path, "origin", r.Header.Get("Origin"))
			http.Error(w, "refused: this form did not come from the console (CSRF check)", http.StatusForbidden)
			return
		}
		if need == Approver && !ss.person.CanDecide() {
			s.log.Warn("console: a viewer tried to decide", "person", ss.person.Name, "path", r.URL.Path)
			http.Error(w, "refused: your role is viewer; approvers decide", http.StatusForbidden)
			return
		}
		f(w, r, ss)
	})
}

// view is what every page's template gets.
type view struct {
	Title  string
	Nav    string
	Person Person
	CSRF   string
	Flash  string
	Data   any
}

func (s *Server) render(w http.ResponseWriter, r *http.Request, ss *session, name, title string, data any) {
	v := view{Title: title, Nav: name, Data: data, Flash: r.URL.Query().Get("flash")}
	if ss != nil {
		v.Person, v.CSRF = ss.person, ss.csrf
	}
	s.execute(w, name, v)
}

func (s *Server) execute(w http.ResponseWriter, name string, v any) {
	t, ok := s.pages[name]
	if !ok {
		http.Error(w, "no page "+name, http.StatusInternalServerError)
		return
	}
	var b strings.Builder
	if err := t.ExecuteTemplate(&b, "page", v); err != nil {
		s.log.Error("console: rendering", "page", name, "err", err)
		http.Error(w, "the page could not be rendered", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = w.Write([]byte(b.String()))
}

// redirectFlash sends the browser back to path with a one-line message shown there.
func redirectFlash(w http.ResponseWriter, r *http.Request, path, msg string) {
	http.Redirect(w, r, path+"?flash="+url.QueryEscape(msg), http.StatusSeeOther)
}

// parsePages parses each page template with the layout.
func parsePages() (map[string]*template.Template, error) {
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	pages := map[string]*template.Template{}
	for _, n := range names {
		base := strings.TrimSuffix(strings.TrimPrefix(n, "templates/"), ".html")
		if base == "layout" || strings.HasPrefix(base, "_") { // the layout and partials go with every page
			continue
		}
		t, err := template.New(base).Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/_*.html", n)
		if err != nil {
			return nil, fmt.Errorf("console: template %s: %w", n, err)
		}
		pages[base] = t
	}
	return pages, nil
}

var funcs = template.FuncMap{
	"ago": func(t, now time.Time) string { return short(now.Sub(t)) + " ago" },
	"left": func(t, now time.Time) string {
		if t.Before(now) {
			return "expired"
		}
		return "in " + short(t.Sub(now))
	},
	"stamp": func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format("2006-01-02 15:04:05Z")
	},
}

func short(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}

// ctxTimeout bounds what one page asks of its sources.
func ctxTimeout(r *http.Request) (context.Context, context.CancelFunc) {
	return context.WithTimeout(r.Context(), 10*time.Second)
}
