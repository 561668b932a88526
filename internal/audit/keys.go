package audit

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/mod/sumdb/note"
)

// Checkpoint keys are the Ed25519 keys of Go's signed notes (golang.org/x/mod/sumdb/note), one per file on a single
// line: the private key "PRIVATE+KEY+<name>+<hash>+<base64>" in NAME.key (mode 0600) and the verifier key
// "<name>+<hash>+<base64>" in NAME.pub, which is what anyone checking a checkpoint needs.

// Key is a checkpoint signing key: both halves of one key pair.
type Key struct {
	Signer   note.Signer
	Verifier note.Verifier
	// VerifierKey is the verifier key's text, the content of the .pub file.
	VerifierKey string
}

// maxKeyBytes bounds a key file.
const maxKeyBytes = 4096

// privatePrefix starts every private key.
const privatePrefix = "PRIVATE+KEY+"

// PubPath is where the verifier key of the private key file keyPath goes: keyPath without ".key", plus ".pub".
func PubPath(keyPath string) string { return strings.TrimSuffix(keyPath, ".key") + ".pub" }

// GenerateKey makes a new key pair named name (the signer's name in signature lines; no spaces or '+').
func GenerateKey(name string) (skey, vkey string, err error) {
	if name == "" || strings.ContainsAny(name, "+ \t\n") || !isPrintable(name) {
		return "", "", fmt.Errorf("audit key name %q: want a non-empty name without spaces or '+'", name)
	}
	skey, vkey, err = note.GenerateKey(rand.Reader, name)
	if err != nil {
		return "", "", fmt.Errorf("generating audit key %q: %w", name, err)
	}
	return skey, vkey, nil
}

// WriteKeyPair generates a key pair named name and writes dir/NAME.key (0600) and dir/NAME.pub (0644). It refuses
// to replace an existing file.
func WriteKeyPair(dir, name string) (keyPath, pubPath string, err error) {
	skey, vkey, err := GenerateKey(name)
	if err != nil {
		return "", "", err
	}
	keyPath = filepath.Join(dir, name+".key")
	pubPath = PubPath(keyPath)
	if err := writeKeyFiles(keyPath, skey, vkey); err != nil {
		return "", "", err
	}
	return keyPath, pubPath, nil
}

// writeKeyFiles creates keyPath and PubPath(keyPath), neither of which may exist.
func writeKeyFiles(keyPath, skey, vkey string) error {
	pubPath := PubPath(keyPath)
	if _, err := os.Lstat(pubPath); err == nil {
		return fmt.Errorf("writing audit key: %s already exists", pubPath)
	}
	if err := createFile(keyPath, []byte(skey+"\n"), 0o600); err != nil {
		return fmt.Errorf("writing audit key: %w", err)
	}
	if err := createFile(pubPath, []byte(vkey+"\n"), 0o644); err != nil {
		os.Remove(keyPath)
		return fmt.Errorf("writing audit key: %w", err)
	}
	return nil
}

// createFile writes a new file, synced; it fails when path exists.
func createFile(path string, data []byte, perm os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
	}
	return err
}

// LoadKey reads a private key file written by WriteKeyPair (or `agops audit keygen`).
func LoadKey(path string) (*Key, error) {
	b, err := readSmallFile(path, maxKeyBytes)
	if err != nil {
		return nil, fmt.Errorf("loading audit key: %w", err)
	}
	k, err := ParseKey(b)
	if err != nil {
		return nil, fmt.Errorf("loading audit key %s: %w", path, err)
	}
	return k, nil
}

// LoadOrCreateKey loads the private key at path or, when there is no such file, creates a key pair named name
// there (and its verifier key at PubPath(path)); created says which. For a gateway that keeps its own key (local
// mode); a key another principal keeps belongs in a file the deployment provides.
func LoadOrCreateKey(path, name string) (k *Key, created bool, err error) {
	k, err = LoadKey(path)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return k, false, err
	}
	skey, vkey, err := GenerateKey(name)
	if err != nil {
		return nil, false, err
	}
	if err := writeKeyFiles(path, skey, vkey); err != nil {
		return nil, false, err
	}
	k, err = ParseKey([]byte(skey))
	return k, err == nil, err
}

// ParseKey reads a private key: one line "PRIVATE+KEY+<name>+<hash>+<base64>".
func ParseKey(data []byte) (*Key, error) {
	s, err := keyLine(data)
	if err != nil {
		return nil, err
	}
	if !strings.HasPrefix(s, privatePrefix) {
		if _, verr := note.NewVerifier(s); verr == nil {
			return nil, fmt.Errorf("%w: this is a verifier key (the .pub file); signing needs the private key (the .key file)", ErrKeyFile)
		}
		return nil, fmt.Errorf("%w: want a line %q<name>+<hash>+<key>", ErrKeyFile, privatePrefix)
	}
	signer, err := note.NewSigner(s)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrKeyFile, err)
	}
	vkey, err := verifierKeyOf(s, signer.Name())
	if err != nil {
		return nil, err
	}
	verifier, err := note.NewVerifier(vkey)
	if err != nil || verifier.KeyHash() != signer.KeyHash() {
		return nil, fmt.Errorf("%w: the key does not match its hash", ErrKeyFile)
	}
	return &Key{Signer: signer, Verifier: verifier, VerifierKey: vkey}, nil
}

// verifierKeyOf derives the verifier key of a private key that note.NewSigner accepted.
func verifierKeyOf(skey, name string) (string, error) {
	parts := strings.SplitN(strings.TrimPrefix(skey, privatePrefix), "+", 3) // the base64 key may hold '+'
	if len(parts) != 3 {
		return "", fmt.Errorf("%w: want %q<name>+<hash>+<key>", ErrKeyFile, privatePrefix)
	}
	raw, err := base64.StdEncoding.DecodeString(parts[2])
	if err != nil || len(raw) != 1+ed25519.SeedSize {
		return "", fmt.Errorf("%w: not an Ed25519 private key", ErrKeyFile)
	}
	pub := ed25519.NewKeyFromSeed(raw[1:]).Public().(ed25519.PublicKey)
	vkey, err := note.NewEd25519VerifierKey(name, pub)
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrKeyFile, err)
	}
	return vkey, nil
}

// LoadVerifier reads a verifier key file (NAME.pub).
func LoadVerifier(path string) (note.Verifier, error) {
	b, err := readSmallFile(path, maxKeyBytes)
	if err != nil {
		return nil, fmt.Errorf("loading audit verifier key: %w", err)
	}
	v, err := ParseVerifier(b)
	if err != nil {
		return nil, fmt.Errorf("loading audit verifier key %s: %w", path, err)
	}
	return v, nil
}

// ParseVerifier reads a verifier key: one line "<name>+<hash>+<base64>".
func ParseVerifier(data []byte) (note.Verifier, error) {
	s, err := keyLine(data)
	if err != nil {
		return nil, err
	}
	if strings.HasPrefix(s, privatePrefix) {
		return nil, fmt.Errorf("%w: this is a private key (the .key file): give the verifier key (the .pub file), "+
			"and keep the private key secret", ErrKeyFile)
	}
	v, err := note.NewVerifier(s)
	if err != nil {
		return nil, fmt.Errorf("%w: want a line <name>+<hash>+<key>: %w", ErrKeyFile, err)
	}
	return v, nil
}

// keyLine returns a key file's single line, without surrounding space.
func keyLine(data []byte) (string, error) {
	s := strings.TrimSpace(string(data))
	switch {
	case s == "":
		return "", fmt.Errorf("%w: the file is empty", ErrKeyFile)
	case strings.ContainsAny(s, "\n\r") || !isPrintable(s):
		return "", fmt.Errorf("%w: a key file holds one line of printable text", ErrKeyFile)
	}
	return s, nil
}
