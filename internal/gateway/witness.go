package gateway

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"golang.org/x/mod/sumdb/note"

	"github.com/agops/agops/internal/audit"
)

// Replicas witness each other's audit logs: each publishes every signed checkpoint of its log to its peers
// (POST /audit/checkpoints, replicas only), and each keeps, in its own folder (Options.WitnessDir, on its own
// volume), the latest checkpoint of every other replica's log. Whoever later checks a replica's log takes that
// replica's checkpoint from another replica (GET /audit/checkpoints), which the first replica's disk cannot rewrite.
//
// A witness pins the verifier key of a log's origin the first time it sees it, and then refuses a checkpoint of that
// origin signed by another key, one of a smaller log (a rollback), and one of the same size with another root (a
// fork: logged as an error, the first one is kept).

// WitnessedCheckpoint is one replica's latest checkpoint as another replica keeps it.
type WitnessedCheckpoint struct {
	Origin     string `json:"origin"`
	Size       uint64 `json:"size"`
	Verifier   string `json:"verifier"`   // the pinned verifier key
	Checkpoint string `json:"checkpoint"` // the signed note
}

// witnessPost is the body of POST /audit/checkpoints.
type witnessPost struct {
	Verifier   string `json:"verifier"`
	Checkpoint string `json:"checkpoint"`
}

// witness is the store of the checkpoints this replica keeps for the others.
type witness struct {
	mu  sync.Mutex
	dir string
}

var (
	errWitnessKey  = errors.New("another key than the one pinned for this origin")
	errWitnessBack = errors.New("a smaller log than the witnessed checkpoint: a rollback")
	errWitnessFork = errors.New("the same size as the witnessed checkpoint with another root: a fork")
)

func (w *witness) path(origin string) string {
	sum := sha256.Sum256([]byte(origin))
	return filepath.Join(w.dir, hex.EncodeToString(sum[:16])+".json")
}

// accept verifies a published checkpoint and keeps it if it extends the one kept for its origin.
func (w *witness) accept(p witnessPost) (audit.Checkpoint, error) {
	v, err := note.NewVerifier(p.Verifier)
	if err != nil {
		return audit.Checkpoint{}, fmt.Errorf("verifier key: %w", err)
	}
	cp, err := audit.OpenCheckpoint([]byte(p.Checkpoint), v)
	if err != nil {
		return cp, err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	old, found, err := w.read(cp.Origin)
	switch {
	case err != nil:
		return cp, err
	case found && old.Verifier != p.Verifier:
		return cp, errWitnessKey
	case found && cp.Size < old.Size:
		return cp, errWitnessBack
	case found && cp.Size == old.Size && old.Checkpoint != p.Checkpoint:
		prev, err := audit.OpenCheckpoint([]byte(old.Checkpoint), v)
		if err != nil || !bytes.Equal(prev.Root, cp.Root) {
			return cp, errWitnessFork
		}
		return cp, nil // the same state signed again
	}
	b, _ := json.Marshal(WitnessedCheckpoint{Origin: cp.Origin, Size: cp.Size, Verifier: p.Verifier, Checkpoint: p.Checkpoint})
	return cp, writeFileAtomic(w.dir, filepath.Base(w.path(cp.Origin)), ".cp-*.tmp", b)
}

func (w *witness) read(origin string) (WitnessedCheckpoint, bool, error) {
	var c WitnessedCheckpoint
	b, err := os.ReadFile(w.path(origin))
	if errors.Is(err, os.ErrNotExist) {
		return c, false, nil
	}
	if err == nil {
		err = json.Unmarshal(b, &c)
	}
	return c, err == nil, err
}

// list returns every kept checkpoint, by origin.
func (w *witness) list() ([]WitnessedCheckpoint, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	names, err := filepath.Glob(filepath.Join(w.dir, "*.json"))
	if err != nil {
		return nil, err
	}
	out := []WitnessedCheckpoint{}
	for _, n := range names {
		var c WitnessedCheckpoint
		b, err := os.ReadFile(n)
		if err != nil || json.Unmarshal(b, &c) != nil {
			continue
		}
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b WitnessedCheckpoint) int { return strings.Compare(a.Origin, b.Origin) })
	return out, nil
}

// serveWitnessPost serves POST /audit/checkpoints: a replica publishes a checkpoint of its log.
func (g *Gateway) serveWitnessPost(w http.ResponseWriter, r *http.Request) {
	if _, ok := g.admin(w, r, peersOnly); !ok {
		return
	}
	if g.witness == nil {
		writeJSONError(w, http.StatusNotFound, "this replica keeps no checkpoints (no witness folder)")
		return
	}
	var p witnessPost
	raw, err := readAdminBody(w, r, 64<<10)
	if err != nil || json.Unmarshal(raw, &p) != nil || p.Verifier == "" || p.Checkpoint == "" {
		writeJSONError(w, http.StatusBadRequest, `want {"verifier": "<verifier key>", "checkpoint": "<signed note>"}`)
		return
	}
	cp, err := g.witness.accept(p)
	switch {
	case errors.Is(err, errWitnessKey), errors.Is(err, errWitnessBack), errors.Is(err, errWitnessFork):
		g.log.Error("audit checkpoint refused", "origin", cp.Origin, "size", cp.Size, "err", err)
		writeJSONError(w, http.StatusConflict, err.Error())
	case err != nil:
		writeJSONError(w, http.StatusBadRequest, err.Error())
	default:
		writeJSON(w, http.StatusOK, map[string]any{"origin": cp.Origin, "size": cp.Size})
	}
}

// serveWitnessList serves GET /audit/checkpoints: the latest checkpoint of every other replica's log kept here.
func (g *Gateway) serveWitnessList(w http.ResponseWriter, r *http.Request) {
	if _, ok := g.admin(w, r, humansAndPeers); !ok {
		return
	}
	if g.witness == nil {
		writeJSON(w, http.StatusOK, []WitnessedCheckpoint{})
		return
	}
	list, err := g.witness.list()
	if err != nil {
		writeJSONError(w, http.StatusInternalServerError, "witness folder unreadable")
		return
	}
	writeJSON(w, http.StatusOK, list)
}

// PeerPublisher publishes each checkpoint of this replica's log to every peer (see Options.Peers) with the replicas'
// token; verifierKey is the log's verifier key. A peer that cannot be reached is skipped: the next checkpoint goes
// again.
func PeerPublisher(peers func(context.Context) []string, peerToken, verifierKey string) audit.Publisher {
	return audit.PublishFunc(func(ctx context.Context, cp []byte) error {
		body, _ := json.Marshal(witnessPost{Verifier: verifierKey, Checkpoint: string(cp)})
		var errs []error
		for _, peer := range peers(ctx) {
			req, err := http.NewRequestWithContext(ctx, http.MethodPost, peer+"/audit/checkpoints", bytes.NewReader(body))
			if err != nil {
				errs = append(errs, err)
				continue
			}
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer "+peerToken)
			resp, err := peerClient.Do(req)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				errs = append(errs, fmt.Errorf("%s: %d %s", peer, resp.StatusCode, bytes.TrimSpace(msg)))
			}
		}
		return errors.Join(errs...)
	})
}
