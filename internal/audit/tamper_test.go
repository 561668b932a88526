package audit

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"testing"
)

// checkpointedLog is a log written by a Log that signs checkpoints, closed: its checkpoint covers every record.
type checkpointedLog struct {
	path, cpPath string
	key          *Key
	data, cp     []byte
}

func newCheckpointedLog(t *testing.T, n int, opts ...Option) checkpointedLog {
	t.Helper()
	dir := t.TempDir()
	key := testKey(t, "audit-test")
	c := checkpointedLog{path: filepath.Join(dir, "audit.log"), cpPath: filepath.Join(t.TempDir(), "audit.checkpoint"), key: key}
	l := mustOpen(t, c.path, append(opts, WithCheckpoints(Checkpoints{Path: c.cpPath, Signer: key.Signer, Verifier: key.Verifier}))...)
	for i := 1; i <= n; i++ {
		if err := l.Append(context.Background(), testRecord(i)); err != nil {
			t.Fatalf("append %d: %v", i, err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	c.data, c.cp = readFile(t, c.path), readFile(t, c.cpPath)
	return c
}

// testKey generates a key pair in a temporary directory and loads it.
func testKey(t *testing.T, name string) *Key {
	t.Helper()
	keyPath, _, err := WriteKeyPair(t.TempDir(), name)
	if err != nil {
		t.Fatal(err)
	}
	k, err := LoadKey(keyPath)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// The attacker's tools use only what docs/audit.md says of the format: the hash is SHA-256 of the line minus its
// last 82 bytes plus "}", and "prev" is the previous line's hash.

var prevMember = regexp.MustCompile(`"prev":"sha256:[0-9a-f]{64}"`)

// lineHash is the value of a line's "hash" member.
func lineHash(ln []byte) []byte {
	ln = bytes.TrimSuffix(ln, []byte("\n"))
	return ln[len(ln)-len(`sha256:`)-64-2 : len(ln)-2]
}

// rechain rewrites lines from index i on as a forger would: each one's prev becomes the hash of the line before,
// then its own hash is recomputed.
func rechain(ls [][]byte, i int) [][]byte {
	out := append([][]byte{}, ls...)
	for ; i < len(out); i++ {
		prev := []byte(Genesis)
		if i > 0 {
			prev = lineHash(out[i-1])
		}
		ln := prevMember.ReplaceAll(out[i], []byte(`"prev":"`+string(prev)+`"`))
		out[i] = rehash(ln)
	}
	return out
}

// forgeNext makes a line that continues ls: the last line with the next seq, another request and a new hash.
func forgeNext(ls [][]byte) []byte {
	last := ls[len(ls)-1]
	seq := len(ls)
	ln := bytes.Replace(last, fmt.Appendf(nil, `"seq":%d,`, seq), fmt.Appendf(nil, `"seq":%d,`, seq+1), 1)
	ln = regexp.MustCompile(`"requestId":"[^"]*"`).ReplaceAll(ln, []byte(`"requestId":"forged"`))
	return rechain(append(ls[:len(ls):len(ls)], ln), seq)[seq]
}

// TestTamperingDetectedByCheckpoint: each attack the red team made still passes the chain-only check (which is why
// checkpoints are needed), and each is caught against the signed checkpoint with its own error — by
// VerifyCheckpoint and by Open.
func TestTamperingDetectedByCheckpoint(t *testing.T) {
	t.Parallel()
	c := newCheckpointedLog(t, 30)
	ls := lines(c.data)
	middle := bytes.Clone(ls[14])
	middle = bytes.Replace(middle, []byte(`"decision":"`), []byte(`"decision":"x`), 1) // a longer line
	edited := append(append(append([][]byte{}, ls[:14]...), middle), ls[15:]...)
	for _, tc := range []struct {
		name   string
		tamper []byte
		want   error
	}{
		{"truncated: last 3 records removed", join(ls[:27]), ErrShorterThanCheckpoint},
		{"forged record appended", append(bytes.Clone(c.data), forgeNext(ls)...), ErrUncovered},
		{"middle edited, every later hash recomputed", join(rechain(edited, 14)), ErrRootMismatch},
		{"cut to its first ten lines", join(ls[:10]), ErrShorterThanCheckpoint},
		{"suffix rewritten", join(rechain(append(ls[:29:29], bytes.Replace(ls[29], []byte("req-30"), []byte("req-31"), 1)), 29)), ErrRootMismatch},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "audit.log")
			writeFile(t, path, tc.tamper)
			if _, err := VerifyFile(path); err != nil {
				t.Fatalf("the chain-only check should not see this attack, yet: %v", err)
			}
			_, err := VerifyCheckpoint(path, c.cp, c.key.Verifier)
			wantProblem(t, err, tc.want, 0)
			// Open, holding the log to the same checkpoint, refuses it too (the forged append is the exception: Open
			// cannot tell it from records written just before a crash, and docs/audit.md says so).
			l, err := Open(path, WithCheckpoints(Checkpoints{Path: c.cpPath, Verifier: c.key.Verifier}))
			if tc.want == ErrUncovered {
				if err == nil {
					l.Close()
				}
				return
			}
			if err == nil {
				l.Close()
				t.Fatal("Open accepted a tampered log")
			}
			wantProblem(t, err, tc.want, 0)
		})
	}
	if sum, err := VerifyCheckpoint(c.path, c.cp, c.key.Verifier); err != nil || sum.Uncovered != 0 || sum.Records != 30 {
		t.Fatalf("the untouched log: %+v, %v", sum, err)
	}
}

// TestCheckpointForgery: a checkpoint signed by another key, or edited after signing, is refused before the log is
// read; a checkpoint for a longer log than the one given means records were removed.
func TestCheckpointForgery(t *testing.T) {
	t.Parallel()
	c := newCheckpointedLog(t, 12)
	cp, err := OpenCheckpoint(c.cp, c.key.Verifier)
	if err != nil {
		t.Fatal(err)
	}
	other := testKey(t, "audit-test") // same name, another key
	forged, err := SignCheckpoint(Checkpoint{Origin: cp.Origin, Size: 20, Root: cp.Root, Head: cp.Head}, other.Signer)
	if err != nil {
		t.Fatal(err)
	}
	longer, err := SignCheckpoint(Checkpoint{Origin: cp.Origin, Size: 13, Root: cp.Root, Head: cp.Head}, c.key.Signer)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		cp   []byte
		want error
	}{
		{"signed by another key", forged, ErrCheckpointSignature},
		{"size edited", bytes.Replace(c.cp, []byte("\n12\n"), []byte("\n11\n"), 1), ErrCheckpointSignature},
		{"root edited", bytes.Replace(c.cp, c.cp[bytes.IndexByte(c.cp, '\n')+4:][:4], []byte("AAAA"), 1), ErrCheckpointSignature},
		{"signature removed", c.cp[:bytes.Index(c.cp, []byte("\n\n"))+2], ErrCheckpointMalformed},
		{"not a checkpoint", []byte("hello\n"), ErrCheckpointMalformed},
		{"for a longer log", longer, ErrShorterThanCheckpoint},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := VerifyCheckpoint(c.path, tc.cp, c.key.Verifier)
			if !errors.Is(err, tc.want) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
		})
	}
}

// TestOpenRefusesForeignCheckpoint: a Log whose checkpoint file was signed by another key does not start.
func TestOpenRefusesForeignCheckpoint(t *testing.T) {
	t.Parallel()
	c := newCheckpointedLog(t, 3)
	other := testKey(t, "audit-test")
	_, err := Open(c.path, WithCheckpoints(Checkpoints{Path: c.cpPath, Signer: other.Signer, Verifier: other.Verifier}))
	if !errors.Is(err, ErrCheckpointSignature) {
		t.Fatalf("Open with a checkpoint of another key: %v", err)
	}
	if got := readFile(t, c.cpPath); !bytes.Equal(got, c.cp) {
		t.Fatal("a refused Open replaced the checkpoint")
	}
	if err := os.Remove(c.cpPath); err != nil {
		t.Fatal(err)
	}
	l := mustOpen(t, c.path, WithCheckpoints(Checkpoints{Path: c.cpPath, Signer: other.Signer, Verifier: other.Verifier}))
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := VerifyCheckpoint(c.path, readFile(t, c.cpPath), other.Verifier); err != nil {
		t.Fatalf("after moving the old checkpoint away, the new key's: %v", err)
	}
}
