package console

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	authnv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/agops/agops/internal/gateway"
)

// ErrSignIn is every refused sign-in: the page says no more than that.
var ErrSignIn = errors.New("sign-in refused")

// TokenSignIn checks a token a person pastes into the sign-in page.
type TokenSignIn interface {
	SignIn(ctx context.Context, token string) (Person, error)
}

// StaticUsers signs people in with tokens listed in a file: lines of "TOKEN IDENTITY ROLE" (role viewer or
// approver), "#" comments. Tokens are kept as SHA-256 sums; the file is reread when it changes.
type StaticUsers struct {
	path string

	mu    sync.Mutex
	mod   time.Time
	size  int64
	users []staticUser
}

type staticUser struct {
	sum    [sha256.Size]byte
	person Person
}

// minTokenLen is the shortest token accepted in a users file.
const minTokenLen = 16

// NewStaticUsers reads the users file at path; every problem is reported at once, with its line.
func NewStaticUsers(path string) (*StaticUsers, error) {
	s := &StaticUsers{path: path}
	if err := s.reload(); err != nil {
		return nil, err
	}
	return s, nil
}

// ParseUsers reads a users file's content.
func ParseUsers(data []byte) ([]Person, [][sha256.Size]byte, error) {
	var people []Person
	var sums [][sha256.Size]byte
	var problems []string
	seen := map[[sha256.Size]byte]int{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 4096), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		if len(f) != 3 {
			problems = append(problems, fmt.Sprintf("line %d: want TOKEN IDENTITY ROLE", n))
			continue
		}
		role, ok := ParseRole(f[2])
		switch {
		case len(f[0]) < minTokenLen:
			problems = append(problems, fmt.Sprintf("line %d: the token is shorter than %d characters", n, minTokenLen))
			continue
		case gateway.ValidIdentity(f[1]) != nil:
			problems = append(problems, fmt.Sprintf("line %d: %v", n, gateway.ValidIdentity(f[1])))
			continue
		case gateway.IsConsole(f[1]):
			problems = append(problems, fmt.Sprintf("line %d: %q is a console's identity, not a person's", n, f[1]))
			continue
		case !ok:
			problems = append(problems, fmt.Sprintf("line %d: role %q: want viewer or approver", n, f[2]))
			continue
		}
		sum := sha256.Sum256([]byte(f[0]))
		if prev, dup := seen[sum]; dup {
			problems = append(problems, fmt.Sprintf("line %d: the same token as line %d", n, prev))
			continue
		}
		seen[sum] = n
		people = append(people, Person{Name: f[1], Role: role, Method: "token"})
		sums = append(sums, sum)
	}
	if err := sc.Err(); err != nil {
		problems = append(problems, err.Error())
	}
	if len(problems) > 0 {
		return nil, nil, errors.New(strings.Join(problems, "; "))
	}
	return people, sums, nil
}

func (s *StaticUsers) reload() error {
	fi, err := os.Stat(s.path)
	if err != nil {
		return fmt.Errorf("console users: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if fi.ModTime().Equal(s.mod) && fi.Size() == s.size && s.users != nil {
		return nil
	}
	data, err := os.ReadFile(s.path)
	if err != nil {
		return fmt.Errorf("console users: %w", err)
	}
	people, sums, err := ParseUsers(data)
	if err != nil {
		return fmt.Errorf("console users %s: %w", s.path, err)
	}
	users := make([]staticUser, len(people))
	for i := range people {
		users[i] = staticUser{sum: sums[i], person: people[i]}
	}
	s.users, s.mod, s.size = users, fi.ModTime(), fi.Size()
	return nil
}

// SignIn implements TokenSignIn. A file that no longer loads keeps the last good table (and the error is logged
// by the caller through the refusal).
func (s *StaticUsers) SignIn(_ context.Context, token string) (Person, error) {
	reloadErr := s.reload()
	sum := sha256.Sum256([]byte(token))
	s.mu.Lock()
	defer s.mu.Unlock()
	var found *Person
	for i := range s.users {
		if subtle.ConstantTimeCompare(sum[:], s.users[i].sum[:]) == 1 {
			found = &s.users[i].person
		}
	}
	if found == nil {
		return Person{}, errors.Join(ErrSignIn, reloadErr)
	}
	return *found, nil
}

// OneTimeTokens are sign-in links that work once: what `agops dev` prints, as Jupyter does.
type OneTimeTokens struct {
	mu  sync.Mutex
	m   map[[sha256.Size]byte]oneTime
	now func() time.Time
}

type oneTime struct {
	person  Person
	expires time.Time
}

// maxOneTime bounds the links waiting to be used.
const maxOneTime = 100

// NewOneTimeTokens returns an empty set of links.
func NewOneTimeTokens() *OneTimeTokens {
	return &OneTimeTokens{m: map[[sha256.Size]byte]oneTime{}, now: time.Now}
}

// Issue returns a new token that signs p in once, within ttl.
func (o *OneTimeTokens) Issue(p Person, ttl time.Duration) (string, error) {
	if gateway.ValidIdentity(p.Name) != nil || gateway.IsConsole(p.Name) {
		return "", fmt.Errorf("console: %q cannot sign in: not a person's identity", p.Name)
	}
	tok := randomToken()
	p.Method = "one-time"
	o.mu.Lock()
	defer o.mu.Unlock()
	now := o.now()
	for k, v := range o.m {
		if now.After(v.expires) {
			delete(o.m, k)
		}
	}
	if len(o.m) >= maxOneTime {
		return "", errors.New("console: too many unused sign-in links")
	}
	o.m[sha256.Sum256([]byte(tok))] = oneTime{person: p, expires: now.Add(ttl)}
	return tok, nil
}

// SignIn implements TokenSignIn: the token is spent.
func (o *OneTimeTokens) SignIn(_ context.Context, token string) (Person, error) {
	key := sha256.Sum256([]byte(token))
	o.mu.Lock()
	defer o.mu.Unlock()
	v, ok := o.m[key]
	delete(o.m, key)
	if !ok || o.now().After(v.expires) {
		return Person{}, ErrSignIn
	}
	return v.person, nil
}

// TokenReviewer creates TokenReviews; client-go's AuthenticationV1().TokenReviews() is one.
type TokenReviewer = gateway.TokenReviewer

// KubeSignIn signs people in with a Kubernetes token (a user's or a ServiceAccount's), asking the API server
// through a TokenReview. The identity is the user name the API server gives ("system:serviceaccount:NS:NAME"
// becomes "NS/NAME", as the gateway names agents); the role is approver for the users and groups Approvers lists,
// else viewer. Audience, when set, is required of the token.
type KubeSignIn struct {
	Reviews   TokenReviewer
	Audience  string
	Approvers []string // user names or groups
	Timeout   time.Duration
}

// SignIn implements TokenSignIn.
func (k *KubeSignIn) SignIn(ctx context.Context, token string) (Person, error) {
	if token == "" || len(token) > 16<<10 {
		return Person{}, ErrSignIn
	}
	ctx, cancel := context.WithTimeout(ctx, cmpDuration(k.Timeout, 5*time.Second))
	defer cancel()
	review := &authnv1.TokenReview{Spec: authnv1.TokenReviewSpec{Token: token}}
	if k.Audience != "" {
		review.Spec.Audiences = []string{k.Audience}
	}
	got, err := k.Reviews.Create(ctx, review, metav1.CreateOptions{})
	if err != nil {
		return Person{}, fmt.Errorf("%w: the API server: %v", ErrSignIn, err)
	}
	st := got.Status
	if !st.Authenticated || st.Error != "" {
		return Person{}, ErrSignIn
	}
	if k.Audience != "" && !contains(st.Audiences, k.Audience) {
		return Person{}, ErrSignIn
	}
	name := st.User.Username
	if rest, ok := strings.CutPrefix(name, "system:serviceaccount:"); ok {
		name = strings.Replace(rest, ":", "/", 1)
	}
	if gateway.ValidIdentity(name) != nil || gateway.IsConsole(name) {
		return Person{}, fmt.Errorf("%w: user name %q is not usable as an identity", ErrSignIn, st.User.Username)
	}
	role := Viewer
	for _, a := range k.Approvers {
		if a == st.User.Username || a == name || contains(st.User.Groups, a) {
			role = Approver
		}
	}
	return Person{Name: name, Role: role, Method: "kubernetes"}, nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func cmpDuration(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}
