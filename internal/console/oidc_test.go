package console

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// idp is a small OpenID provider for the tests: discovery, keys, an authorization endpoint that signs in whoever
// it is told to at once, and a token endpoint that checks the client, the code and its PKCE verifier. No provider
// product runs here; the console's side (go-oidc, oauth2) is the real code.
type idp struct {
	*httptest.Server
	key  *rsa.PrivateKey
	mu   sync.Mutex
	user map[string]any // claims of the next sign-in
	// codes: code → the authorization request's nonce and PKCE challenge
	codes map[string][2]string
	// tamper changes the ID token's claims before signing
	tamper func(map[string]any)
}

func newIDP(t *testing.T) *idp {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	p := &idp{key: key, codes: map[string][2]string{}}
	m := http.NewServeMux()
	m.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, _ *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]any{"issuer": p.URL, "authorization_endpoint": p.URL + "/authorize",
			"token_endpoint": p.URL + "/token", "jwks_uri": p.URL + "/keys", "id_token_signing_alg_values_supported": []string{"RS256"}})
	})
	m.HandleFunc("GET /keys", func(w http.ResponseWriter, _ *http.Request) {
		_ = json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: "k1", Algorithm: "RS256", Use: "sig"}}})
	})
	m.HandleFunc("GET /authorize", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if q.Get("client_id") != "console" || q.Get("code_challenge_method") != "S256" {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		code := randomToken()
		p.mu.Lock()
		p.codes[code] = [2]string{q.Get("nonce"), q.Get("code_challenge")}
		p.mu.Unlock()
		http.Redirect(w, r, q.Get("redirect_uri")+"?code="+code+"&state="+url.QueryEscape(q.Get("state")), http.StatusFound)
	})
	m.HandleFunc("POST /token", func(w http.ResponseWriter, r *http.Request) {
		id, secret, ok := r.BasicAuth()
		if !ok {
			id, secret = r.PostFormValue("client_id"), r.PostFormValue("client_secret")
		}
		p.mu.Lock()
		c, found := p.codes[r.PostFormValue("code")]
		delete(p.codes, r.PostFormValue("code"))
		claims := map[string]any{}
		for k, v := range p.user {
			claims[k] = v
		}
		p.mu.Unlock()
		sum := sha256.Sum256([]byte(r.PostFormValue("code_verifier")))
		if id != "console" || secret != "s3cret" || !found || base64.RawURLEncoding.EncodeToString(sum[:]) != c[1] {
			http.Error(w, `{"error":"invalid_grant"}`, http.StatusBadRequest)
			return
		}
		now := time.Now()
		for k, v := range map[string]any{"iss": p.URL, "aud": "console", "iat": now.Unix(), "exp": now.Add(time.Hour).Unix(),
			"nonce": c[0], "sub": "user-1"} {
			if _, set := claims[k]; !set {
				claims[k] = v
			}
		}
		if p.tamper != nil {
			p.tamper(claims)
		}
		signer, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: key, KeyID: "k1"}}, nil)
		payload, _ := json.Marshal(claims)
		jws, _ := signer.Sign(payload)
		tok, _ := jws.CompactSerialize()
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"access_token": "at", "token_type": "Bearer", "id_token": tok, "expires_in": 3600})
	})
	p.Server = httptest.NewServer(m)
	t.Cleanup(p.Close)
	return p
}

// oidcConsole is a console signing in only through idp.
func oidcConsole(t *testing.T, p *idp) *stack {
	st := &stack{t: t}
	st.console = httptest.NewUnstartedServer(nil)
	st.console.Start()
	t.Cleanup(st.console.Close)
	o := &OIDC{Issuer: p.URL, ClientID: "console", ClientSecret: "s3cret", RedirectURL: st.console.URL + "/oidc/callback",
		Approvers: []string{"ops"}, Allowed: []string{"staff"}}
	if err := o.Init(t.Context()); err != nil {
		t.Fatal(err)
	}
	srv, err := New(Options{OIDC: o})
	if err != nil {
		t.Fatal(err)
	}
	st.srv = srv
	st.console.Config.Handler = srv.Handler()
	return st
}

// follow runs the browser's side of a sign-in from /oidc/start; it returns the callback's URL (not yet visited).
func (b *browser) startOIDC(p *idp) string {
	b.t.Helper()
	resp, err := b.http.Get(b.st.console.URL + "/oidc/start?next=/policy")
	if err != nil || resp.StatusCode != http.StatusFound {
		b.t.Fatalf("start: %v %v", resp, err)
	}
	resp.Body.Close()
	resp, err = b.http.Get(resp.Header.Get("Location"))
	if err != nil || resp.StatusCode != http.StatusFound {
		b.t.Fatalf("authorize: %v %v", resp, err)
	}
	resp.Body.Close()
	return resp.Header.Get("Location")
}

func (b *browser) visit(u string) (int, string) {
	b.t.Helper()
	resp, err := b.http.Get(u)
	if err != nil {
		b.t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode, resp.Header.Get("Location")
}

func TestOIDCSignIn(t *testing.T) {
	t.Parallel()
	p := newIDP(t)
	st := oidcConsole(t, p)
	p.user = map[string]any{"email": "carol@example.com", "email_verified": true, "groups": []string{"staff", "ops"}}
	b := st.browser()
	callback := b.startOIDC(p)
	if code, loc := b.visit(callback); code != http.StatusSeeOther || loc != "/policy" {
		t.Fatalf("callback: %d %q", code, loc)
	}
	if _, page := b.get("/approvals"); !strings.Contains(page, `id="person">carol@example.com`) || !strings.Contains(page, "role-approver") {
		t.Errorf("not signed in as carol, approver:\n%s", page)
	}
	// The same callback again (a replayed state) is refused.
	other := st.browser()
	if code, _ := other.visit(callback); code != http.StatusUnauthorized {
		t.Errorf("replayed callback: %d", code)
	}
}

// TestOIDCRefusals: a flow started in another browser, a wrong nonce, audience or issuer, an unverified email, a
// person outside the allowed groups: each refused; a person outside the approvers is a viewer.
func TestOIDCRefusals(t *testing.T) {
	t.Parallel()
	p := newIDP(t)
	st := oidcConsole(t, p)
	staff := map[string]any{"email": "dan@example.com", "email_verified": true, "groups": []string{"staff"}}
	for _, tc := range []struct {
		name   string
		user   map[string]any
		tamper func(map[string]any)
		other  bool // the callback is opened in another browser
		want   int
	}{
		{"another browser", staff, nil, true, http.StatusUnauthorized},
		{"wrong nonce", staff, func(c map[string]any) { c["nonce"] = "guessed" }, false, http.StatusUnauthorized},
		{"wrong audience", staff, func(c map[string]any) { c["aud"] = "another-app" }, false, http.StatusUnauthorized},
		{"wrong issuer", staff, func(c map[string]any) { c["iss"] = "https://evil.example" }, false, http.StatusUnauthorized},
		{"expired", staff, func(c map[string]any) { c["exp"] = time.Now().Add(-time.Hour).Unix() }, false, http.StatusUnauthorized},
		{"unverified email", map[string]any{"email": "eve@example.com", "email_verified": false, "groups": []string{"staff"}}, nil, false, http.StatusUnauthorized},
		{"not allowed", map[string]any{"email": "mallory@example.com", "email_verified": true, "groups": []string{"guests"}}, nil, false, http.StatusUnauthorized},
		{"a console's name", map[string]any{"preferred_username": "console:x", "groups": []string{"staff"}}, nil, false, http.StatusUnauthorized},
		{"viewer", staff, nil, false, http.StatusSeeOther},
	} {
		p.mu.Lock()
		p.user, p.tamper = tc.user, tc.tamper
		p.mu.Unlock()
		b := st.browser()
		callback := b.startOIDC(p)
		if tc.other {
			b = st.browser()
		}
		if code, _ := b.visit(callback); code != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, code, tc.want)
			continue
		}
		if tc.want == http.StatusSeeOther {
			if _, page := b.get("/approvals"); !strings.Contains(page, "role-viewer") {
				t.Errorf("%s: not a viewer", tc.name)
			}
		}
	}
}
