package gateway

import (
	"fmt"
	"iter"
	"net/http"
	"sync"
	"time"

	"github.com/agops/agops/internal/audit"
	"github.com/agops/agops/internal/policy"
)

// limiter keeps each agent's rate limit (a token bucket holding CallsPerMinute calls, refilled continuously) and
// daily budgets (calls and tokens since midnight UTC). Everything is in memory: see RestoreBudgets.
type limiter struct {
	mu     sync.Mutex
	agents map[string]*usage
}

type usage struct {
	bucket float64   // calls available now
	filled time.Time // when bucket was last refilled
	day    int64     // the UTC day calls and tokens count for
	calls  int64
	tokens int64
}

// reservation is one admitted call; release gives it back when the call is denied after all.
type reservation struct {
	agent string
	day   int64
	rate  bool // a bucket token was taken
}

func newLimiter() *limiter { return &limiter{agents: map[string]*usage{}} }

func dayOf(t time.Time) int64 { return t.UTC().Unix() / 86400 }

func (l *limiter) usageOf(agent string, now time.Time) *usage {
	u := l.agents[agent]
	if u == nil {
		u = &usage{bucket: -1, day: dayOf(now)}
		l.agents[agent] = u
	}
	if d := dayOf(now); d != u.day {
		u.day, u.calls, u.tokens = d, 0, 0
	}
	return u
}

// reserve admits one call of agent under lim at now, or returns the rule and reason of the limit it hits.
func (l *limiter) reserve(agent string, lim policy.Limits, now time.Time) (reservation, *rpcError) {
	l.mu.Lock()
	defer l.mu.Unlock()
	u := l.usageOf(agent, now)
	limited := func(rule, reason string) (reservation, *rpcError) {
		return reservation{}, newRPCError(http.StatusOK, CodeLimited, rule, reason)
	}
	if lim.TokensPerDay > 0 && u.tokens >= lim.TokensPerDay {
		return limited("limits:tokensPerDay", fmt.Sprintf("daily budget of %d tokens used up", lim.TokensPerDay))
	}
	if lim.CallsPerDay > 0 && u.calls >= lim.CallsPerDay {
		return limited("limits:callsPerDay", fmt.Sprintf("daily budget of %d calls used up", lim.CallsPerDay))
	}
	res := reservation{agent: agent, day: u.day}
	if lim.CallsPerMinute > 0 {
		capacity := float64(lim.CallsPerMinute)
		if u.bucket < 0 {
			u.bucket, u.filled = capacity, now
		}
		if elapsed := now.Sub(u.filled); elapsed > 0 {
			u.bucket += elapsed.Minutes() * capacity
		}
		u.bucket, u.filled = min(u.bucket, capacity), now
		if u.bucket < 1 {
			return limited("limits:callsPerMinute", fmt.Sprintf("rate limit of %d calls per minute", lim.CallsPerMinute))
		}
		u.bucket--
		res.rate = true
	}
	u.calls++
	return res, nil
}

// release gives back a reservation whose call was not forwarded.
func (l *limiter) release(r reservation) {
	if r.agent == "" {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	u := l.agents[r.agent]
	if u == nil || u.day != r.day {
		return
	}
	u.calls--
	if r.rate {
		u.bucket++
	}
}

// addTokens counts tokens a result reported.
func (l *limiter) addTokens(agent string, n int64, now time.Time) {
	if n <= 0 {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.usageOf(agent, now).tokens += n
}

// RestoreBudgets rebuilds today's daily budgets (UTC, by the gateway's clock) from audit records, typically the
// audit file read at start: each allowed decision on a call counts one call, each result record its tokens.
// Per-minute windows start empty. It returns how many records counted; call it before serving.
func (g *Gateway) RestoreBudgets(records iter.Seq[audit.Record]) int {
	now := g.now()
	today := dayOf(now)
	n := 0
	g.limits.mu.Lock()
	defer g.limits.mu.Unlock()
	for r := range records {
		if r.Caller == "" || dayOf(r.Time) != today {
			continue
		}
		switch {
		case r.Event == "decision" && r.Decision == "allow" && (r.Tool != "" || r.Path != ""):
			g.limits.usageOf(r.Caller, now).calls++
		case r.Event == "result" && r.Tokens > 0:
			g.limits.usageOf(r.Caller, now).tokens += r.Tokens
		default:
			continue
		}
		n++
	}
	return n
}
