package gateway

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"unicode"

	"github.com/agops/agops/internal/audit"
)

// ErrUnauthenticated is wrapped by every authentication failure.
var ErrUnauthenticated = errors.New("unauthenticated")

type agentKey struct{}

// agentFrom returns the authenticated agent of a request that went through authenticated.
func agentFrom(ctx context.Context) string {
	a, _ := ctx.Value(agentKey{}).(string)
	return a
}

// authenticated runs before anything else on the agents' routes: no identity, no service. Failures are audited.
func (g *Gateway) authenticated(next http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requestID := newID("rq_")
		w.Header().Set("X-Request-Id", requestID)
		r = r.WithContext(context.WithValue(r.Context(), requestIDKey{}, requestID))
		r, rt := g.startRequest(r)
		defer rt.span.End()
		agent, err := g.traceAuthenticate(r)
		if err == nil && agent == "" {
			err = fmt.Errorf("%w: empty identity", ErrUnauthenticated)
		}
		if err != nil {
			g.metrics.rejected.WithLabelValues("unauthenticated").Inc()
			g.log.Warn("authentication failed", "request", requestID, "remote", r.RemoteAddr, "path", r.URL.Path, "err", err)
			rec := audit.Record{
				Time: g.now(), Event: "decision", RequestID: requestID, Remote: r.RemoteAddr,
				Server: r.PathValue("server"), Method: r.Method, Path: r.URL.Path,
				Decision: "deny", Rule: "gateway:authentication", Reason: "missing or invalid bearer token",
			}
			traceVerdict(r.Context(), "deny", rec.Rule, "")
			g.auditAuthFailure(context.WithoutCancel(r.Context()), rec)
			// The body is never read: answer at once and close, so that a body that never comes holds nothing.
			w.Header().Set("Connection", "close")
			w.Header().Set("WWW-Authenticate", `Bearer realm="agops"`)
			writeRPCError(w, nil, newRPCError(http.StatusUnauthorized, CodeUnauthenticated, "gateway:authentication",
				"missing or invalid bearer token"), requestID)
			return
		}
		leave, ok := g.admitAgent(w, r, agent)
		if !ok {
			return
		}
		defer leave()
		next(w, r.WithContext(context.WithValue(r.Context(), agentKey{}, agent)))
	})
}

type requestIDKey struct{}

func requestIDFrom(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

// bearerToken returns the token of an "Authorization: Bearer" header.
func bearerToken(r *http.Request) (string, error) {
	h := r.Header.Values("Authorization")
	if len(h) != 1 {
		return "", fmt.Errorf("%w: want exactly one Authorization header", ErrUnauthenticated)
	}
	scheme, token, ok := strings.Cut(h[0], " ")
	token = strings.TrimSpace(token)
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return "", fmt.Errorf("%w: not a bearer token", ErrUnauthenticated)
	}
	return token, nil
}

// StaticTokens authenticates bearer tokens listed in a file of "token agent" lines ('#' starts a comment). Tokens
// are compared in constant time against every entry; Reload rereads the file and keeps the old table on error.
type StaticTokens struct {
	path  string
	table atomic.Pointer[[]tokenEntry]
}

type tokenEntry struct {
	sum   [sha256.Size]byte
	agent string
}

// minTokenLen keeps guessable tokens out of the file.
const minTokenLen = 16

// NewStaticTokens loads the token file at path.
func NewStaticTokens(path string) (*StaticTokens, error) {
	s := &StaticTokens{path: path}
	if err := s.Reload(); err != nil {
		return nil, err
	}
	return s, nil
}

// Reload rereads the token file. A file that loads replaces the table. A file with problems never keeps access it
// takes away: of its valid lines, only tokens the current table already held for the same identity stay (nothing
// new is granted until the file is fixed), and a file that cannot be read leaves no token valid. The problems are
// returned, all at once.
func (s *StaticTokens) Reload() error {
	data, err := os.ReadFile(s.path)
	if err != nil {
		s.table.Store(&[]tokenEntry{})
		return fmt.Errorf("reading token file: %w; no token is accepted until it can be read", err)
	}
	entries, err := parseTokens(data)
	if err != nil {
		kept := keptEntries(s.table.Load(), entries)
		s.table.Store(&kept)
		return fmt.Errorf("token file %s: %w; until it is fixed, only the %d tokens it still lists unchanged are accepted",
			s.path, err, len(kept))
	}
	s.table.Store(&entries)
	return nil
}

// keptEntries returns the entries of next that old holds too, for the same identity.
func keptEntries(old *[]tokenEntry, next []tokenEntry) []tokenEntry {
	kept := []tokenEntry{}
	if old == nil {
		return kept
	}
	for _, e := range next {
		for _, o := range *old {
			if o.sum == e.sum && o.agent == e.agent {
				kept = append(kept, e)
				break
			}
		}
	}
	return kept
}

func parseTokens(data []byte) ([]tokenEntry, error) {
	var entries []tokenEntry
	var errs []error
	lines := map[[sha256.Size]byte]int{} // token → the line that first listed it
	twice := map[[sha256.Size]byte]bool{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.FieldsFunc(line, unicode.IsSpace)
		switch {
		case len(fields) != 2:
			errs = append(errs, fmt.Errorf("line %d: want \"token identity\"", n))
			continue
		case len(fields[0]) < minTokenLen:
			errs = append(errs, fmt.Errorf("line %d: token shorter than %d characters", n, minTokenLen))
			continue
		}
		if err := ValidIdentity(fields[1]); err != nil {
			errs = append(errs, fmt.Errorf("line %d: %w", n, err))
			continue
		}
		e := tokenEntry{sum: sha256.Sum256([]byte(fields[0])), agent: fields[1]}
		if first, ok := lines[e.sum]; ok {
			errs = append(errs, fmt.Errorf("line %d: the token of line %d listed again; neither is accepted", n, first))
			twice[e.sum] = true
			continue
		}
		lines[e.sum] = n
		entries = append(entries, e)
	}
	if err := sc.Err(); err != nil {
		errs = append(errs, err)
	}
	entries = slices.DeleteFunc(entries, func(e tokenEntry) bool { return twice[e.sum] })
	return entries, errors.Join(errs...)
}

// ValidIdentity checks the name of an agent or an approver: 1 to 253 characters of ASCII letters, digits and
// ". _ - @ :", in segments joined by single slashes ("namespace/serviceaccount"). Names are compared without regard
// to case (see SameIdentity), so a spelling cannot make one principal into two.
func ValidIdentity(name string) error {
	if name == "" || len(name) > 253 {
		return fmt.Errorf("identity %q: want 1 to 253 characters", name)
	}
	for _, seg := range strings.Split(name, "/") {
		if seg == "" {
			return fmt.Errorf("identity %q: empty segment (leading, trailing or doubled slash)", name)
		}
		for _, c := range seg {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("._-@:", c)) {
				return fmt.Errorf("identity %q: character %q not allowed (letters, digits, . _ - @ : and /)", name, c)
			}
		}
	}
	return nil
}

// SameIdentity reports whether two identities name one principal: equal once trimmed and without regard to case.
func SameIdentity(a, b string) bool {
	return strings.EqualFold(strings.TrimSpace(a), strings.TrimSpace(b))
}

// Authenticate implements Authenticator.
func (s *StaticTokens) Authenticate(r *http.Request) (string, error) {
	token, err := bearerToken(r)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256([]byte(token))
	match := -1
	var entries []tokenEntry
	if t := s.table.Load(); t != nil {
		entries = *t
	}
	for i := range entries {
		// No early exit: every entry is compared, so timing says nothing about which one matched.
		if subtle.ConstantTimeCompare(sum[:], entries[i].sum[:]) == 1 {
			match = i
		}
	}
	if match < 0 {
		return "", fmt.Errorf("%w: unknown token", ErrUnauthenticated)
	}
	return entries[match].agent, nil
}
