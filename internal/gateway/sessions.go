package gateway

import (
	"strings"
	"sync"
	"time"
)

// sessionTable binds each MCP session ID an upstream hands out to the agent that opened the session, so that a
// session ID learned by another agent is worthless. Bindings live in memory; after a restart every old session gets
// 404 and its client starts a new one, as the Streamable HTTP transport prescribes.
type sessionTable struct {
	mu      sync.Mutex
	owners  map[string]sessionOwner // server + "\x00" + session ID
	inserts int
	max     int // sessions one agent may hold on one server
}

type sessionOwner struct {
	agent string
	seen  time.Time
}

// sessionIdle is how long an unused binding is kept; sessionSweep is how often (in binds) old ones are swept.
const (
	sessionIdle  = 24 * time.Hour
	sessionSweep = 1024
)

func newSessionTable(maxPerAgent int) *sessionTable {
	return &sessionTable{owners: map[string]sessionOwner{}, max: maxPerAgent}
}

// owned reports whether session id on server belongs to agent, and refreshes its binding.
func (t *sessionTable) owned(server, id, agent string, now time.Time) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	k := server + "\x00" + id
	o, ok := t.owners[k]
	if !ok || o.agent != agent {
		return false
	}
	t.owners[k] = sessionOwner{agent: agent, seen: now}
	return true
}

// bind records that agent opened session id on server; it refuses to move a session to another agent. When the agent
// holds the most sessions it may on that server, its least recently used one is unbound and returned (evicted), for
// the gateway to end it on the server too.
func (t *sessionTable) bind(server, id, agent string, now time.Time) (evicted string, ok bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	k := server + "\x00" + id
	if o, ok := t.owners[k]; ok {
		if o.agent != agent {
			return "", false
		}
	} else if oldest, n := t.oldestOf(server, agent); n >= t.max && t.max > 0 {
		delete(t.owners, server+"\x00"+oldest)
		evicted = oldest
	}
	t.owners[k] = sessionOwner{agent: agent, seen: now}
	if t.inserts++; t.inserts%sessionSweep == 0 {
		for k, o := range t.owners {
			if now.Sub(o.seen) > sessionIdle {
				delete(t.owners, k)
			}
		}
	}
	return evicted, true
}

// oldestOf returns the least recently used session of agent on server and how many the agent holds there.
func (t *sessionTable) oldestOf(server, agent string) (oldest string, n int) {
	var seen time.Time
	prefix := server + "\x00"
	for k, o := range t.owners {
		id, ok := strings.CutPrefix(k, prefix)
		if !ok || o.agent != agent {
			continue
		}
		if n++; oldest == "" || o.seen.Before(seen) {
			oldest, seen = id, o.seen
		}
	}
	return oldest, n
}

func (t *sessionTable) drop(server, id string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.owners, server+"\x00"+id)
}
