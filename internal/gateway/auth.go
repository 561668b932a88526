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
		agent, err := g.opts.Authenticator.Authenticate(r)
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
			_ = g.appendAudit(r.Context(), rec)
			w.Header().Set("WWW-Authenticate", `Bearer realm="agops"`)
			writeRPCError(w, nil, newRPCError(http.StatusUnauthorized, CodeUnauthenticated, "gateway:authentication",
				"missing or invalid bearer token"), requestID)
			return
		}
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

// Reload rereads the token file; on any problem the current table stays and all problems are returned.
func (s *StaticTokens) Reload() error {
	data, err := os.ReadFile(s.path)
	if err != nil {
		return fmt.Errorf("reading token file: %w", err)
	}
	entries, err := parseTokens(data)
	if err != nil {
		return fmt.Errorf("token file %s: %w", s.path, err)
	}
	s.table.Store(&entries)
	return nil
}

func parseTokens(data []byte) ([]tokenEntry, error) {
	var entries []tokenEntry
	var errs []error
	seen := map[[sha256.Size]byte]bool{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.FieldsFunc(line, unicode.IsSpace)
		switch {
		case len(fields) != 2:
			errs = append(errs, fmt.Errorf("line %d: want \"token agent\"", n))
			continue
		case len(fields[0]) < minTokenLen:
			errs = append(errs, fmt.Errorf("line %d: token shorter than %d characters", n, minTokenLen))
			continue
		}
		e := tokenEntry{sum: sha256.Sum256([]byte(fields[0])), agent: fields[1]}
		if seen[e.sum] {
			errs = append(errs, fmt.Errorf("line %d: token listed twice", n))
			continue
		}
		seen[e.sum] = true
		entries = append(entries, e)
	}
	if err := sc.Err(); err != nil {
		errs = append(errs, err)
	}
	return entries, errors.Join(errs...)
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
