package audit

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"testing"

	"golang.org/x/mod/sumdb/note"
)

// fixedKey is a key made from a fixed seed, so that the fuzz seeds' signatures verify on every run.
func fixedKey(t testing.TB) *Key {
	t.Helper()
	seed := sha256.Sum256([]byte("agops audit fuzz key"))
	skey, _, err := note.GenerateKey(bytes.NewReader(seed[:]), "fuzz.example")
	if err != nil {
		t.Fatal(err)
	}
	k, err := ParseKey([]byte(skey))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// FuzzOpenCheckpoint: no input makes OpenCheckpoint panic; what it accepts is a signed, canonical checkpoint text.
func FuzzOpenCheckpoint(f *testing.F) {
	k := fixedKey(f)
	cp := Checkpoint{Origin: "fuzz.example", Size: 7, Root: make([]byte, 32), Head: Genesis}
	msg, err := SignCheckpoint(cp, k.Signer)
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range [][]byte{msg, nil, []byte("fuzz.example\n7\n\n— fuzz.example AAAA\n"), msg[:len(msg)/2],
		bytes.Replace(msg, []byte("\n7\n"), []byte("\n07\n"), 1), append(bytes.Clone(msg), msg...)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := OpenCheckpoint(data, k.Verifier)
		if err != nil {
			if !errors.Is(err, ErrCheckpointMalformed) && !errors.Is(err, ErrCheckpointSignature) {
				t.Fatalf("error %v wraps neither sentinel", err)
			}
			return
		}
		if !bytes.HasPrefix(data, []byte(c.Text()+"\n")) {
			t.Fatalf("accepted a checkpoint whose text is not canonical: %q", data)
		}
	})
}

// FuzzCheckpointText: the checkpoint body parser never panics and accepts only what Text writes.
func FuzzCheckpointText(f *testing.F) {
	f.Add(Checkpoint{Origin: "o", Size: 1, Root: make([]byte, 32), Head: Genesis}.Text())
	f.Add("o\n18446744073709551616\nAAAA\nchain x\n")
	f.Add("o\n1\n" + string(make([]byte, 44)) + "\n")
	f.Fuzz(func(t *testing.T, text string) {
		c, err := parseCheckpointText(text)
		if err == nil && c.Text() != text {
			t.Fatalf("parsed %q, which writes back as %q", text, c.Text())
		}
	})
}

// FuzzParseKey: no key file makes ParseKey or ParseVerifier panic; a key ParseKey accepts signs what its
// verifier accepts.
func FuzzParseKey(f *testing.F) {
	skey, vkey, err := note.GenerateKey(bytes.NewReader(make([]byte, 32)), "seed")
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{skey, vkey, skey + "\n", "PRIVATE+KEY+a+00000000+AQ==", "a+b+c", "", "\x00"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _ = ParseVerifier(data)
		k, err := ParseKey(data)
		if err != nil {
			return
		}
		msg, err := SignCheckpoint(Checkpoint{Origin: "o", Root: emptyRoot(), Head: Genesis}, k.Signer)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := OpenCheckpoint(msg, k.Verifier); err != nil {
			t.Fatalf("the key's verifier refuses its signature: %v", err)
		}
	})
}

// FuzzParseState: no state file makes parseState panic, and a state it accepts has a usable tree.
func FuzzParseState(f *testing.F) {
	f.Add([]byte(`{"v":1,"size":3,"bytes":900,"head":"` + Genesis + `","tree":["` +
		"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=" + `","` + "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=" + `"]}`))
	f.Add([]byte(`{"v":1,"size":0,"bytes":0,"head":"` + Genesis + `","tree":[]}`))
	f.Add([]byte(`{"v":1,"size":1}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := parseState(data)
		if err != nil {
			return
		}
		r, err := s.rangeOf()
		if err != nil {
			t.Fatalf("accepted a state whose tree is unusable: %v", err)
		}
		_ = rootOf(r)
	})
}
