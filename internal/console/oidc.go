package console

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/agops/agops/internal/gateway"
)

// OIDC signs people in with the team's identity provider (authorization code flow with PKCE, state and nonce).
// The person's identity is the NameClaim of the verified ID token (default: email, else preferred_username); the
// role is approver for the names and groups Approvers lists, else viewer; with Allowed set, only those names and
// groups may sign in at all.
type OIDC struct {
	Issuer       string
	ClientID     string
	ClientSecret string
	RedirectURL  string // https://console.example/oidc/callback
	Scopes       []string
	NameClaim    string
	GroupsClaim  string // default "groups"
	Approvers    []string
	Allowed      []string
	HTTPClient   *http.Client

	verifier *oidc.IDTokenVerifier
	config   oauth2.Config

	mu      sync.Mutex
	pending map[string]oidcPending // by state
}

type oidcPending struct {
	verifier string // PKCE
	nonce    string
	browser  [sha256.Size]byte // the sum of the browser's binding cookie
	next     string
	expires  time.Time
}

const (
	oidcCookie     = "agops_oidc"
	oidcWindow     = 10 * time.Minute
	maxOIDCPending = 1000
)

// Init discovers the provider. Call it once before serving.
func (o *OIDC) Init(ctx context.Context) error {
	if o.Issuer == "" || o.ClientID == "" || o.RedirectURL == "" {
		return errors.New("console: OIDC needs an issuer, a client ID and a redirect URL")
	}
	if o.HTTPClient != nil {
		ctx = oidc.ClientContext(ctx, o.HTTPClient)
	}
	p, err := oidc.NewProvider(ctx, o.Issuer)
	if err != nil {
		return fmt.Errorf("console: OIDC provider %s: %w", o.Issuer, err)
	}
	o.verifier = p.Verifier(&oidc.Config{ClientID: o.ClientID})
	scopes := append([]string{oidc.ScopeOpenID, "email", "profile"}, o.Scopes...)
	o.config = oauth2.Config{ClientID: o.ClientID, ClientSecret: o.ClientSecret, RedirectURL: o.RedirectURL,
		Endpoint: p.Endpoint(), Scopes: scopes}
	o.pending = map[string]oidcPending{}
	return nil
}

func (o *OIDC) ctx(ctx context.Context) context.Context {
	if o.HTTPClient != nil {
		return oidc.ClientContext(ctx, o.HTTPClient)
	}
	return ctx
}

// oidcStart sends the browser to the provider, remembering state, nonce and PKCE verifier against a cookie that
// binds the flow to this browser.
func (s *Server) oidcStart(w http.ResponseWriter, r *http.Request) {
	o := s.o.OIDC
	if o == nil || o.verifier == nil {
		http.NotFound(w, r)
		return
	}
	state, nonce, verifier, binding := randomToken(), randomToken(), oauth2.GenerateVerifier(), randomToken()
	now := s.o.Now()
	o.mu.Lock()
	for k, v := range o.pending {
		if now.After(v.expires) {
			delete(o.pending, k)
		}
	}
	if len(o.pending) >= maxOIDCPending {
		o.mu.Unlock()
		http.Error(w, "too many sign-ins in progress; try again in a few minutes", http.StatusServiceUnavailable)
		return
	}
	o.pending[state] = oidcPending{verifier: verifier, nonce: nonce, browser: sha256.Sum256([]byte(binding)),
		next: localPath(r.URL.Query().Get("next")), expires: now.Add(oidcWindow)}
	o.mu.Unlock()
	http.SetCookie(w, &http.Cookie{Name: oidcCookie, Value: binding, Path: "/oidc/", HttpOnly: true,
		Secure: s.secure || r.TLS != nil, SameSite: http.SameSiteLaxMode, MaxAge: int(oidcWindow / time.Second)})
	http.Redirect(w, r, o.config.AuthCodeURL(state, oidc.Nonce(nonce), oauth2.S256ChallengeOption(verifier)), http.StatusFound)
}

// oidcCallback finishes the flow: the state must be one this console started in this browser, the code is
// exchanged with the PKCE verifier, and the ID token's signature, audience, expiry and nonce are verified.
func (s *Server) oidcCallback(w http.ResponseWriter, r *http.Request) {
	o := s.o.OIDC
	if o == nil || o.verifier == nil {
		http.NotFound(w, r)
		return
	}
	p, next, err := s.oidcPerson(r)
	http.SetCookie(w, &http.Cookie{Name: oidcCookie, Value: "", Path: "/oidc/", MaxAge: -1})
	if err != nil {
		s.log.Warn("console: OIDC sign-in refused", "remote", r.RemoteAddr, "err", err)
		s.showLogin(w, http.StatusUnauthorized, loginView{Error: "The identity provider's sign-in was not accepted."})
		return
	}
	s.signedIn(w, r, p, next)
}

func (s *Server) oidcPerson(r *http.Request) (Person, string, error) {
	o := s.o.OIDC
	q := r.URL.Query()
	if e := q.Get("error"); e != "" {
		return Person{}, "", fmt.Errorf("the provider answered %q", e)
	}
	state := q.Get("state")
	o.mu.Lock()
	pend, ok := o.pending[state]
	delete(o.pending, state)
	o.mu.Unlock()
	c, cerr := r.Cookie(oidcCookie)
	switch {
	case !ok || state == "":
		return Person{}, "", errors.New("unknown or used state")
	case s.o.Now().After(pend.expires):
		return Person{}, "", errors.New("the sign-in took too long")
	case cerr != nil || sha256.Sum256([]byte(c.Value)) != pend.browser:
		return Person{}, "", errors.New("the sign-in was started in another browser")
	}
	ctx, cancel := context.WithTimeout(o.ctx(r.Context()), 15*time.Second)
	defer cancel()
	tok, err := o.config.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(pend.verifier))
	if err != nil {
		return Person{}, "", fmt.Errorf("exchanging the code: %w", err)
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return Person{}, "", errors.New("no ID token in the provider's answer")
	}
	idt, err := o.verifier.Verify(ctx, raw)
	if err != nil {
		return Person{}, "", fmt.Errorf("ID token: %w", err)
	}
	if idt.Nonce != pend.nonce {
		return Person{}, "", errors.New("ID token: the nonce is not this sign-in's")
	}
	var claims map[string]any
	if err := idt.Claims(&claims); err != nil {
		return Person{}, "", fmt.Errorf("ID token claims: %w", err)
	}
	p, err := o.person(claims)
	return p, pend.next, err
}

// person maps an ID token's claims to a person.
func (o *OIDC) person(claims map[string]any) (Person, error) {
	name := ""
	for _, c := range []string{o.NameClaim, "email", "preferred_username"} {
		if v, ok := claims[c].(string); ok && c != "" && v != "" {
			name = v
			break
		}
	}
	if v, ok := claims["email_verified"].(bool); ok && !v && name == claims["email"] {
		return Person{}, errors.New("the email address is not verified")
	}
	if gateway.ValidIdentity(name) != nil || gateway.IsConsole(name) {
		return Person{}, fmt.Errorf("the name %q is not usable as an identity", name)
	}
	var groups []string
	gc := o.GroupsClaim
	if gc == "" {
		gc = "groups"
	}
	if list, ok := claims[gc].([]any); ok {
		for _, g := range list {
			if s, ok := g.(string); ok {
				groups = append(groups, s)
			}
		}
	}
	member := func(list []string) bool {
		for _, a := range list {
			if strings.EqualFold(a, name) || contains(groups, a) {
				return true
			}
		}
		return false
	}
	if len(o.Allowed) > 0 && !member(o.Allowed) && !member(o.Approvers) {
		return Person{}, fmt.Errorf("%s is not among the people allowed to sign in", name)
	}
	role := Viewer
	if member(o.Approvers) {
		role = Approver
	}
	return Person{Name: name, Role: role, Method: "oidc"}, nil
}
