package gateway

import (
	"context"
	"sync"
)

// byteBudget bounds the memory all request bodies together may hold: a reader reserves what it may read before it
// reads it, and waits (at most as long as its context allows) while others hold the rest. Waiters are served in
// order of arrival, so a large body is not starved by small ones.
type byteBudget struct {
	mu      sync.Mutex
	free    int64
	size    int64
	waiters []*budgetWaiter
}

type budgetWaiter struct {
	n     int64
	ready chan struct{}
}

func newByteBudget(size int64) *byteBudget { return &byteBudget{free: size, size: size} }

// acquire reserves n bytes (at most the budget's size), waiting until they are free or ctx ends.
func (b *byteBudget) acquire(ctx context.Context, n int64) error {
	n = min(n, b.size)
	b.mu.Lock()
	if len(b.waiters) == 0 && b.free >= n {
		b.free -= n
		b.mu.Unlock()
		return nil
	}
	w := &budgetWaiter{n: n, ready: make(chan struct{})}
	b.waiters = append(b.waiters, w)
	b.mu.Unlock()
	select {
	case <-w.ready:
		return nil
	case <-ctx.Done():
		b.mu.Lock()
		defer b.mu.Unlock()
		select {
		case <-w.ready: // granted meanwhile: give it back
			b.free += n
			b.grant()
		default:
			for i, x := range b.waiters {
				if x == w {
					b.waiters = append(b.waiters[:i], b.waiters[i+1:]...)
					break
				}
			}
			b.grant() // the head may have changed
		}
		return ctx.Err()
	}
}

// release gives back n bytes reserved by acquire.
func (b *byteBudget) release(n int64) {
	if n <= 0 {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.free = min(b.free+min(n, b.size), b.size)
	b.grant()
}

// grant wakes the waiters at the head of the queue that fit; the lock is held.
func (b *byteBudget) grant() {
	for len(b.waiters) > 0 && b.free >= b.waiters[0].n {
		w := b.waiters[0]
		b.waiters = b.waiters[1:]
		b.free -= w.n
		close(w.ready)
	}
}

// agentShares bounds the body memory one agent holds to a quarter of the total, so that one agent stalling its
// bodies cannot take every other agent's share.
type agentShares struct {
	mu   sync.Mutex
	held map[string]int64
	max  int64
}

func newAgentShares(total int64) *agentShares {
	return &agentShares{held: map[string]int64{}, max: max(total/4, 1)}
}

// take reserves n bytes for agent, or reports that the agent holds its share already.
func (a *agentShares) take(agent string, n int64) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.held[agent]+n > a.max && a.held[agent] > 0 {
		return false
	}
	a.held[agent] += n
	return true
}

func (a *agentShares) give(agent string, n int64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.held[agent] -= n; a.held[agent] <= 0 {
		delete(a.held, agent)
	}
}
