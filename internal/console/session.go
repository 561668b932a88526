package console

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Role is what a signed-in person may do.
type Role string

const (
	// Viewer reads every page and decides nothing.
	Viewer Role = "viewer"
	// Approver also approves and rejects held calls and cancels runs.
	Approver Role = "approver"
)

// ParseRole reads "viewer" or "approver".
func ParseRole(s string) (Role, bool) {
	switch Role(s) {
	case Viewer, Approver:
		return Role(s), true
	}
	return "", false
}

// Person is who is signed in: an identity as the gateway's audit will name them, their role, and how they signed in.
type Person struct {
	Name   string
	Role   Role
	Method string // token | one-time | kubernetes | oidc
}

// CanDecide reports whether the person may approve, reject and cancel.
func (p Person) CanDecide() bool { return p.Role == Approver }

const (
	cookieName  = "agops_console"
	sessionIdle = time.Hour
	sessionMax  = 12 * time.Hour
	maxSessions = 10000
)

// session is a signed-in person's server-side state; the browser holds only its random ID.
type session struct {
	person  Person
	csrf    string
	created time.Time
	seen    time.Time
}

// sessions keeps the signed-in people, in memory: a restart of the console signs everyone out.
type sessions struct {
	mu  sync.Mutex
	m   map[[sha256.Size]byte]*session // by the SHA-256 of the cookie's value
	now func() time.Time
}

func newSessions(now func() time.Time) *sessions {
	return &sessions{m: map[[sha256.Size]byte]*session{}, now: now}
}

func randomToken() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// start signs p in: a new session whose cookie is set on w.
func (s *sessions) start(w http.ResponseWriter, p Person, secure bool) *session {
	id := randomToken()
	now := s.now()
	ss := &session{person: p, csrf: randomToken(), created: now, seen: now}
	s.mu.Lock()
	if len(s.m) >= maxSessions {
		s.sweep(now)
	}
	if len(s.m) >= maxSessions { // still full: the oldest go
		var oldest [sha256.Size]byte
		first := true
		for k, v := range s.m {
			if first || v.seen.Before(s.m[oldest].seen) {
				oldest, first = k, false
			}
		}
		delete(s.m, oldest)
	}
	s.m[sha256.Sum256([]byte(id))] = ss
	s.mu.Unlock()
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: id, Path: "/", HttpOnly: true, Secure: secure,
		SameSite: http.SameSiteStrictMode, MaxAge: int(sessionMax / time.Second)})
	return ss
}

// sweep drops expired sessions; the lock is held.
func (s *sessions) sweep(now time.Time) {
	for k, v := range s.m {
		if s.expired(v, now) {
			delete(s.m, k)
		}
	}
}

func (s *sessions) expired(v *session, now time.Time) bool {
	return now.Sub(v.seen) > sessionIdle || now.Sub(v.created) > sessionMax
}

// get returns the request's live session, or nil.
func (s *sessions) get(r *http.Request) *session {
	c, err := r.Cookie(cookieName)
	if err != nil || c.Value == "" || len(c.Value) > 100 {
		return nil
	}
	key := sha256.Sum256([]byte(c.Value))
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	v := s.m[key]
	if v == nil {
		return nil
	}
	if s.expired(v, now) {
		delete(s.m, key)
		return nil
	}
	v.seen = now
	return v
}

// end signs the request's session out and clears its cookie.
func (s *sessions) end(w http.ResponseWriter, r *http.Request, secure bool) {
	if c, err := r.Cookie(cookieName); err == nil {
		s.mu.Lock()
		delete(s.m, sha256.Sum256([]byte(c.Value)))
		s.mu.Unlock()
	}
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: "", Path: "/", HttpOnly: true, Secure: secure,
		SameSite: http.SameSiteStrictMode, MaxAge: -1})
}

// validCSRF reports whether a form's or header's token is the session's.
func (ss *session) validCSRF(token string) bool {
	return token != "" && subtle.ConstantTimeCompare([]byte(token), []byte(ss.csrf)) == 1
}

// sameOrigin reports whether a state-changing request comes from the console's own pages: the browser's
// Sec-Fetch-Site, or else its Origin, must say so. public is the console's external URL when a proxy terminates
// TLS in front of it ("" compares with the request's own scheme and host). Requests with neither header (old
// browsers, scripts) rely on the CSRF token alone.
func sameOrigin(r *http.Request, public string) bool {
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" {
		return false
	}
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	if public != "" {
		return strings.EqualFold(origin, strings.TrimRight(public, "/"))
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return origin == scheme+"://"+r.Host
}
