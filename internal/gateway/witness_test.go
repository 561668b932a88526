package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/agops/agops/internal/audit"
)

// Finding 8, in the cluster: a replica's checkpoints are kept by another replica, whose volume the first one's disk
// cannot rewrite; the witness refuses rollbacks, forks and another key for a log it knows, and only replicas may
// publish. The witnessed checkpoint then catches a truncated log.
func TestReplicasWitnessCheckpoints(t *testing.T) {
	t.Parallel()
	b := newEnv(t, upstreamModes[3], func(e *env) { e.opts.WitnessDir, e.opts.PeerToken = t.TempDir(), peerToken })
	dir := t.TempDir()
	key, _, err := audit.LoadOrCreateKey(filepath.Join(dir, "a.key"), "gateway-a")
	if err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(dir, "audit.jsonl")
	pub := PeerPublisher(func(context.Context) []string { return []string{b.admin.URL} }, peerToken, key.VerifierKey)
	alog, err := audit.Open(logPath, audit.WithCheckpoints(audit.Checkpoints{Path: logPath + ".checkpoint",
		Signer: key.Signer, Verifier: key.Verifier, Origin: "gateway-a/pod-0", Publisher: pub}))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		if err := alog.Append(t.Context(), audit.Record{Event: "decision", Decision: "allow", Caller: agentA, RequestID: string(rune('a' + i))}); err != nil {
			t.Fatal(err)
		}
	}
	if err := alog.Close(); err != nil { // writes, and publishes, a final checkpoint
		t.Fatal(err)
	}
	witnessed := waitWitnessed(t, b, 20)
	if witnessed.Origin != "gateway-a/pod-0" || witnessed.Verifier != key.VerifierKey {
		t.Fatalf("witnessed %+v", witnessed)
	}

	// The log's own disk is rewritten: cut to 10 lines, its checkpoint file replaced by an old one. The witnessed
	// checkpoint catches it.
	data, _ := os.ReadFile(logPath)
	lines := strings.SplitAfter(string(data), "\n")
	os.WriteFile(logPath, []byte(strings.Join(lines[:10], "")), 0o600)
	os.Remove(audit.StatePath(logPath))
	if _, err := audit.VerifyCheckpoint(logPath, []byte(witnessed.Checkpoint), key.Verifier); !errors.Is(err, audit.ErrShorterThanCheckpoint) {
		t.Errorf("the truncated log against the witnessed checkpoint: %v", err)
	}

	// Attacks on the witness.
	small, _ := audit.SignCheckpoint(audit.Checkpoint{Origin: "gateway-a/pod-0", Size: 3, Root: make([]byte, 32), Head: audit.Genesis}, key.Signer)
	fork, _ := audit.SignCheckpoint(audit.Checkpoint{Origin: "gateway-a/pod-0", Size: 20, Root: make([]byte, 32), Head: audit.Genesis}, key.Signer)
	other, _, _ := audit.LoadOrCreateKey(filepath.Join(dir, "other.key"), "gateway-a")
	foreign, _ := audit.SignCheckpoint(audit.Checkpoint{Origin: "gateway-a/pod-0", Size: 30, Root: make([]byte, 32), Head: audit.Genesis}, other.Signer)
	for _, tc := range []struct {
		name, token, verifier string
		cp                    []byte
		status                int
	}{
		{"rollback", peerToken, key.VerifierKey, small, http.StatusConflict},
		{"fork", peerToken, key.VerifierKey, fork, http.StatusConflict},
		{"another-key", peerToken, other.VerifierKey, foreign, http.StatusConflict},
		{"bad-signature", peerToken, key.VerifierKey, foreign, http.StatusBadRequest},
		{"no-token", "", key.VerifierKey, small, http.StatusUnauthorized},
		{"an-approver", approverTokens["alice"], key.VerifierKey, small, http.StatusForbidden},
		{"an-agent", tokenA, key.VerifierKey, small, http.StatusUnauthorized},
	} {
		body, _ := json.Marshal(witnessPost{Verifier: tc.verifier, Checkpoint: string(tc.cp)})
		if code := b.adminAs(tc.token, http.MethodPost, "/audit/checkpoints", string(body), nil); code != tc.status {
			t.Errorf("%s: status %d, want %d", tc.name, code, tc.status)
		}
	}
	if got := waitWitnessed(t, b, 20); got.Checkpoint != witnessed.Checkpoint {
		t.Errorf("the witness changed after the attacks: %+v", got)
	}
}

// waitWitnessed polls b's witnessed checkpoints until one of size n is there.
func waitWitnessed(t *testing.T, b *env, n uint64) WitnessedCheckpoint {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var list []WitnessedCheckpoint
		b.adminDo(http.MethodGet, "/audit/checkpoints", "", &list)
		if len(list) == 1 && list[0].Size == n {
			return list[0]
		}
		if time.Now().After(deadline) {
			t.Fatalf("witnessed: %+v, want one of size %d", list, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
