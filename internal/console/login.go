package console

import (
	"errors"
	"net/http"
	"strings"
)

// loginView is the sign-in page's data.
type loginView struct {
	Next    string
	Error   string
	Tokens  bool // a token field is offered
	OIDC    bool
	Expired bool
}

// loginPage shows the sign-in form; with ?token= (a one-time link) it signs in at once and sends the browser on
// without the token in the address.
func (s *Server) loginPage(w http.ResponseWriter, r *http.Request) {
	next := localPath(r.URL.Query().Get("next"))
	if tok := r.URL.Query().Get("token"); tok != "" && s.o.OneTime != nil {
		p, err := s.o.OneTime.SignIn(r.Context(), tok)
		if err != nil {
			s.log.Warn("console: a used, expired or unknown sign-in link", "remote", r.RemoteAddr)
			s.showLogin(w, http.StatusUnauthorized, loginView{Next: next, Error: "This sign-in link was used already or has expired."})
			return
		}
		s.signedIn(w, r, p, next)
		return
	}
	s.showLogin(w, http.StatusOK, loginView{Next: next})
}

func (s *Server) showLogin(w http.ResponseWriter, status int, v loginView) {
	v.Tokens, v.OIDC = len(s.o.SignIns) > 0, s.o.OIDC != nil
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	s.execute(w, "login", view{Title: "Sign in", Nav: "login", Data: v})
}

// loginPost signs in with a pasted token, asking each TokenSignIn in turn.
func (s *Server) loginPost(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 32<<10)
	next := localPath(r.PostFormValue("next"))
	if !sameOrigin(r, s.o.PublicURL) {
		http.Error(w, "refused: the sign-in form did not come from the console", http.StatusForbidden)
		return
	}
	tok := strings.TrimSpace(r.PostFormValue("token"))
	var errs []error
	for _, si := range s.o.SignIns {
		p, err := si.SignIn(r.Context(), tok)
		if err == nil {
			s.signedIn(w, r, p, next)
			return
		}
		errs = append(errs, err)
	}
	s.log.Warn("console: sign-in refused", "remote", r.RemoteAddr, "err", errors.Join(errs...))
	s.showLogin(w, http.StatusUnauthorized, loginView{Next: next, Error: "That token was not accepted."})
}

func (s *Server) signedIn(w http.ResponseWriter, r *http.Request, p Person, next string) {
	s.sessions.end(w, r, s.secure) // a new session for every sign-in: no fixation
	s.sessions.start(w, p, s.secure || r.TLS != nil)
	s.log.Info("console: signed in", "person", p.Name, "role", p.Role, "method", p.Method)
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request, ss *session) {
	s.log.Info("console: signed out", "person", ss.person.Name)
	s.sessions.end(w, r, s.secure)
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

// localPath keeps a "next" address only when it is a path of this console: never another host ("//evil",
// "/\\evil", "https://…").
func localPath(p string) string {
	if p == "" || !strings.HasPrefix(p, "/") || strings.HasPrefix(p, "//") || strings.ContainsAny(p, "\\\r\n") ||
		strings.HasPrefix(p, "/login") {
		return "/approvals"
	}
	return p
}
