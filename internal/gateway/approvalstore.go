package gateway

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
)

// approvalFile is the on-disk form of one approval: <ApprovalDir>/<id>.json, replaced atomically (temporary file,
// fsync, rename, fsync of the directory) on every change of state. States: pending → approved → used, or
// pending → rejected | expired; approved → expired when unused for Options.ApprovalValidity.
type approvalFile struct {
	Version    int    `json:"version"` // 1
	ID         string `json:"id"`
	Key        string `json:"key"` // approvalKey of the call
	Agent      string `json:"agent"`
	Server     string `json:"server"`
	Tool       string `json:"tool,omitempty"`
	Method     string `json:"method,omitempty"`
	Path       string `json:"path,omitempty"`
	ArgsDigest string `json:"argsDigest"`
	// Args are the call's arguments for the approver to read, credential-looking values masked (mask.Args).
	Args      string    `json:"args,omitempty"`
	Rule      string    `json:"rule,omitempty"`
	Reason    string    `json:"reason,omitempty"`
	RequestID string    `json:"requestId"` // the call that asked
	State     string    `json:"state"`
	Created   time.Time `json:"created"`
	Expires   time.Time `json:"expires"` // a pending approval expires then
	DecidedBy string    `json:"decidedBy,omitempty"`
	DecidedAt time.Time `json:"decidedAt,omitzero"`
	UsedBy    string    `json:"usedBy,omitempty"` // the request that used the approval
	UsedAt    time.Time `json:"usedAt,omitzero"`
}

// The approval states.
const (
	statePending  = "pending"
	stateApproved = "approved"
	stateRejected = "rejected"
	stateExpired  = "expired"
	stateUsed     = "used"
)

// approvalRetention is how long finished approvals stay on disk.
const approvalRetention = 7 * 24 * time.Hour

var errApprovalState = errors.New("approval is not in the expected state")

// approvalStore is the in-memory table of approvals, written through to the directory.
type approvalStore struct {
	dir string
	now func() time.Time

	mu   sync.Mutex
	recs map[string]*approval
}

type approval struct {
	f    approvalFile
	done chan struct{} // closed when the approval leaves pending
}

func openApprovalStore(dir string, now func() time.Time) (*approvalStore, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("approval store: %w", err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("approval store: %w", err)
	}
	s := &approvalStore{dir: dir, now: now, recs: map[string]*approval{}}
	var errs []error
	for _, e := range entries {
		name := e.Name()
		path := filepath.Join(dir, name)
		switch {
		case strings.HasPrefix(name, ".ap-") && strings.HasSuffix(name, ".tmp"):
			_ = os.Remove(path) // a write interrupted before its rename
			continue
		case !strings.HasSuffix(name, ".json"):
			continue
		}
		a, err := readApproval(path)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if a.f.State != statePending && a.f.State != stateApproved && now().Sub(a.f.Created) > approvalRetention {
			_ = os.Remove(path)
			continue
		}
		s.recs[a.f.ID] = a
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("approval store %s: %w", dir, err)
	}
	return s, nil
}

func readApproval(path string) (*approval, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var f approvalFile
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Base(path), err)
	}
	if f.Version != 1 || f.ID+".json" != filepath.Base(path) {
		return nil, fmt.Errorf("%s: not a version 1 approval of that id", filepath.Base(path))
	}
	a := &approval{f: f, done: make(chan struct{})}
	if f.State != statePending {
		close(a.done)
	}
	return a, nil
}

// write replaces the file of f atomically.
func (s *approvalStore) write(f approvalFile) error {
	data, err := json.MarshalIndent(f, "", "  ")
	if err == nil {
		err = writeFileAtomic(s.dir, f.ID+".json", ".ap-*.tmp", append(data, '\n'))
	}
	if err != nil {
		return fmt.Errorf("writing approval %s: %w", f.ID, err)
	}
	return nil
}

// writeFileAtomic replaces dir/name with data: a temporary file (named by pattern) written and fsynced, renamed over
// name, then the directory fsynced, so that a crash leaves either the old file or the new one.
func writeFileAtomic(dir, name, pattern string, data []byte) error {
	return replaceFile(dir, name, pattern, data, true)
}

// replaceFile replaces dir/name with data through a temporary file named by pattern and a rename; durable also
// fsyncs the file before the rename and the folder after it.
func replaceFile(dir, name, pattern string, data []byte, durable bool) error {
	tmp, err := os.CreateTemp(dir, pattern)
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // after a successful rename this fails harmlessly
	_, err = tmp.Write(data)
	if err == nil && durable {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), filepath.Join(dir, name))
	}
	if err == nil && durable {
		err = syncDir(dir)
	}
	return err
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// errTooManyPending refuses an approval request of an agent that has the most pending approvals it may have.
var errTooManyPending = errors.New("too many pending approvals")

// create persists a new pending approval, unless its agent already has maxPending approvals pending (0: no limit).
func (s *approvalStore) create(f approvalFile, maxPending int) (approvalFile, <-chan struct{}, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if maxPending > 0 {
		n := 0
		for _, a := range s.recs {
			if a.f.Agent == f.Agent && a.f.State == statePending && f.Created.Before(a.f.Expires) {
				n++
			}
		}
		if n >= maxPending {
			return f, nil, errTooManyPending
		}
	}
	if err := s.write(f); err != nil {
		return f, nil, err
	}
	a := &approval{f: f, done: make(chan struct{})}
	s.recs[f.ID] = a
	return f, a.done, nil
}

// find returns the approval a retry of the call with key should use: an approved one still valid, else a pending
// one not yet expired.
func (s *approvalStore) find(key string, now time.Time, validity time.Duration) (approvalFile, <-chan struct{}, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var pending *approval
	for _, a := range s.recs {
		if a.f.Key != key {
			continue
		}
		switch {
		case a.f.State == stateApproved && now.Before(a.f.DecidedAt.Add(validity)):
			return a.f, a.done, true
		case a.f.State == statePending && now.Before(a.f.Expires) && (pending == nil || a.f.Created.Before(pending.f.Created)):
			pending = a
		}
	}
	if pending == nil {
		return approvalFile{}, nil, false
	}
	return pending.f, pending.done, true
}

// ended returns the latest approval of key if it ended unused (rejected, or expired) less than validity ago: what an
// identical call sent with nowait is told, rather than asking again. After an approval of key was used, or once
// validity has passed, an identical call asks anew.
func (s *approvalStore) ended(key string, now time.Time, validity time.Duration) (approvalFile, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var latest *approval
	for _, a := range s.recs {
		if a.f.Key == key && a.f.State != statePending && a.f.State != stateApproved &&
			(latest == nil || a.f.Created.After(latest.f.Created)) {
			latest = a
		}
	}
	if latest == nil || latest.f.State == stateUsed {
		return approvalFile{}, false
	}
	end := latest.f.DecidedAt // rejected
	switch {
	case latest.f.State == stateExpired && end.IsZero(): // pending until it expired
		end = latest.f.Expires
	case latest.f.State == stateExpired: // approved, unused for validity
		end = end.Add(validity)
	}
	return latest.f, now.Before(end.Add(validity))
}

// transition moves approval id from one of the states in from to the state set by change, and persists it. On a
// failed write the approval keeps its old state.
func (s *approvalStore) transition(id string, from []string, change func(*approvalFile)) (approvalFile, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.recs[id]
	if !ok {
		return approvalFile{}, fmt.Errorf("approval %s: %w", id, os.ErrNotExist)
	}
	if !slices.Contains(from, a.f.State) {
		return a.f, fmt.Errorf("approval %s is %s: %w", id, a.f.State, errApprovalState)
	}
	f := a.f
	change(&f)
	if err := s.write(f); err != nil {
		return a.f, err
	}
	wasPending := a.f.State == statePending
	a.f = f
	if wasPending && f.State != statePending {
		close(a.done)
	}
	return f, nil
}

func (s *approvalStore) get(id string) (approvalFile, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.recs[id]
	if !ok {
		return approvalFile{}, false
	}
	return a.f, true
}

// due lists the approvals whose time ran out at now: pending past Expires, approved and unused past validity.
func (s *approvalStore) due(now time.Time, validity time.Duration) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var ids []string
	for id, a := range s.recs {
		if a.f.State == statePending && !now.Before(a.f.Expires) ||
			a.f.State == stateApproved && !now.Before(a.f.DecidedAt.Add(validity)) {
			ids = append(ids, id)
		}
	}
	return ids
}

// pending lists the approvals waiting for a human at now, oldest first.
func (s *approvalStore) pending(now time.Time) []approvalFile {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []approvalFile
	for _, a := range s.recs {
		if a.f.State == statePending && now.Before(a.f.Expires) {
			out = append(out, a.f)
		}
	}
	slices.SortFunc(out, func(a, b approvalFile) int { return a.Created.Compare(b.Created) })
	return out
}

func (s *approvalStore) pendingCount() int { return len(s.pending(s.now())) }

// pendingOf counts the approvals of agent pending at now.
func (s *approvalStore) pendingOf(agent string, now time.Time) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, a := range s.recs {
		if a.f.Agent == agent && a.f.State == statePending && now.Before(a.f.Expires) {
			n++
		}
	}
	return n
}
