package gateway

import (
	"context"
	"crypto/sha256"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	authnv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TokenReviewer creates TokenReviews; client-go's AuthenticationV1().TokenReviews() is one.
type TokenReviewer interface {
	Create(ctx context.Context, review *authnv1.TokenReview, opts metav1.CreateOptions) (*authnv1.TokenReview, error)
}

// TokenReview authenticates Kubernetes ServiceAccount tokens with the TokenReview API: the token must be
// authenticated for Audience and belong to system:serviceaccount:NS:NAME, which becomes agent "NS/NAME".
// Positive answers are cached for CacheTTL (keyed by the token's SHA-256); errors and refusals never are.
type TokenReview struct {
	reviews  TokenReviewer
	audience string
	ttl      time.Duration
	timeout  time.Duration
	now      func() time.Time

	mu    sync.Mutex
	cache map[[sha256.Size]byte]cachedAgent
}

type cachedAgent struct {
	agent   string
	expires time.Time
}

// TokenReviewOptions tune a TokenReview authenticator.
type TokenReviewOptions struct {
	CacheTTL time.Duration    // default 10s; negative disables the cache
	Timeout  time.Duration    // one API call; default 5s
	Clock    func() time.Time // default time.Now
}

// maxCachedTokens bounds the cache; when full, expired entries go, then everything.
const maxCachedTokens = 10000

// NewTokenReview returns an authenticator asking reviews about tokens meant for audience (required: a token minted
// for another service must not open the gateway).
func NewTokenReview(reviews TokenReviewer, audience string, o TokenReviewOptions) (*TokenReview, error) {
	if reviews == nil || audience == "" {
		return nil, fmt.Errorf("token review: a reviewer and an audience are required")
	}
	if o.CacheTTL == 0 {
		o.CacheTTL = 10 * time.Second
	}
	if o.Timeout <= 0 {
		o.Timeout = 5 * time.Second
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	return &TokenReview{reviews: reviews, audience: audience, ttl: o.CacheTTL, timeout: o.Timeout, now: o.Clock,
		cache: map[[sha256.Size]byte]cachedAgent{}}, nil
}

// Authenticate implements Authenticator.
func (t *TokenReview) Authenticate(r *http.Request) (string, error) {
	token, err := bearerToken(r)
	if err != nil {
		return "", err
	}
	key := sha256.Sum256([]byte(token))
	if agent, ok := t.cached(key); ok {
		return agent, nil
	}
	ctx, cancel := context.WithTimeout(r.Context(), t.timeout)
	defer cancel()
	review := &authnv1.TokenReview{Spec: authnv1.TokenReviewSpec{Token: token, Audiences: []string{t.audience}}}
	res, err := t.reviews.Create(ctx, review, metav1.CreateOptions{})
	if err != nil {
		return "", fmt.Errorf("%w: token review: %w", ErrUnauthenticated, err)
	}
	agent, err := t.agentOf(res.Status)
	if err != nil {
		return "", err
	}
	t.remember(key, agent)
	return agent, nil
}

func (t *TokenReview) agentOf(st authnv1.TokenReviewStatus) (string, error) {
	if !st.Authenticated || st.Error != "" {
		return "", fmt.Errorf("%w: token not authenticated", ErrUnauthenticated)
	}
	if !slices.Contains(st.Audiences, t.audience) {
		return "", fmt.Errorf("%w: token not meant for audience %q", ErrUnauthenticated, t.audience)
	}
	return serviceAccountAgent(st.User.Username)
}

// serviceAccountAgent maps "system:serviceaccount:NS:NAME" to "NS/NAME"; any other user is refused.
func serviceAccountAgent(username string) (string, error) {
	rest, ok := strings.CutPrefix(username, "system:serviceaccount:")
	ns, name, ok2 := strings.Cut(rest, ":")
	if !ok || !ok2 || ns == "" || name == "" || strings.Contains(name, ":") {
		return "", fmt.Errorf("%w: %q is not a service account", ErrUnauthenticated, username)
	}
	return ns + "/" + name, nil
}

func (t *TokenReview) cached(key [sha256.Size]byte) (string, bool) {
	if t.ttl < 0 {
		return "", false
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	e, ok := t.cache[key]
	if !ok || !t.now().Before(e.expires) {
		delete(t.cache, key)
		return "", false
	}
	return e.agent, true
}

func (t *TokenReview) remember(key [sha256.Size]byte, agent string) {
	if t.ttl < 0 {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	if len(t.cache) >= maxCachedTokens {
		for k, e := range t.cache {
			if !now.Before(e.expires) {
				delete(t.cache, k)
			}
		}
		if len(t.cache) >= maxCachedTokens {
			clear(t.cache)
		}
	}
	t.cache[key] = cachedAgent{agent: agent, expires: now.Add(t.ttl)}
}
