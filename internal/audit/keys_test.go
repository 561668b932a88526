package audit

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestKeyFiles: keygen's files load as a signer and a verifier of the same key; each wrong file gets a clear error.
func TestKeyFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	keyPath, pubPath, err := WriteKeyPair(dir, "gw.example")
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(keyPath); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("private key mode: %v, %v", fi.Mode(), err)
	}
	k, err := LoadKey(keyPath)
	if err != nil {
		t.Fatal(err)
	}
	v, err := LoadVerifier(pubPath)
	if err != nil || v.Name() != "gw.example" || v.KeyHash() != k.Verifier.KeyHash() {
		t.Fatalf("verifier: %v, %v", v, err)
	}
	msg, err := SignCheckpoint(Checkpoint{Origin: "o", Size: 0, Root: emptyRoot(), Head: Genesis}, k.Signer)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := OpenCheckpoint(msg, v); err != nil {
		t.Fatalf("the .pub file does not verify the .key file's signature: %v", err)
	}
	if _, _, err := WriteKeyPair(dir, "gw.example"); err == nil {
		t.Fatal("WriteKeyPair replaced an existing key")
	}
	for _, tc := range []struct {
		name, file string
		load       func(string) error
		want       string
	}{
		{"verifier key as private key", pubPath, loadKey, "this is a verifier key"},
		{"private key as verifier key", keyPath, loadVerifier, "this is a private key"},
		{"empty", write(t, dir, "empty", ""), loadKey, "empty"},
		{"two lines", write(t, dir, "two", "a\nb\n"), loadVerifier, "one line"},
		{"garbage private key", write(t, dir, "garbage.key", "PRIVATE+KEY+x+00000000+AAAA\n"), loadKey, "not an audit key file"},
		{"garbage verifier key", write(t, dir, "garbage.pub", "hello\n"), loadVerifier, "not an audit key file"},
		{"a checkpoint", write(t, dir, "cp", string(msg)), loadKey, "one line"},
	} {
		err := tc.load(tc.file)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), tc.file) {
			t.Errorf("%s: %v, want an error naming the file and saying %q", tc.name, err, tc.want)
		}
		if !errors.Is(err, ErrKeyFile) {
			t.Errorf("%s: %v does not wrap ErrKeyFile", tc.name, err)
		}
	}
	if _, err := LoadKey(filepath.Join(dir, "missing.key")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing key: %v", err)
	}
	if _, _, err := WriteKeyPair(dir, "has space"); err == nil {
		t.Error("a key name with a space")
	}
}

func loadKey(p string) error      { _, err := LoadKey(p); return err }
func loadVerifier(p string) error { _, err := LoadVerifier(p); return err }

func write(t *testing.T, dir, name, s string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	writeFile(t, p, []byte(s))
	return p
}

// TestLoadOrCreateKey: the first call creates the key pair, the second loads the same key.
func TestLoadOrCreateKey(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "gw.key")
	k1, created, err := LoadOrCreateKey(path, "gw")
	if err != nil || !created {
		t.Fatalf("first: created %v, %v", created, err)
	}
	k2, created, err := LoadOrCreateKey(path, "gw")
	if err != nil || created || k2.VerifierKey != k1.VerifierKey {
		t.Fatalf("second: created %v, %v, same key %v", created, err, k2 != nil && k2.VerifierKey == k1.VerifierKey)
	}
	if b := readFile(t, PubPath(path)); strings.TrimSpace(string(b)) != k1.VerifierKey {
		t.Fatalf("%s holds %q, want %q", PubPath(path), b, k1.VerifierKey)
	}
	writeFile(t, path, []byte("junk\n"))
	if _, _, err := LoadOrCreateKey(path, "gw"); !errors.Is(err, ErrKeyFile) {
		t.Fatalf("a junk key file must not be replaced: %v", err)
	}
}
