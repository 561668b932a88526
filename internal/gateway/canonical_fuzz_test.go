package gateway

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
	"unicode/utf8"
)

// FuzzCanonicalize: any body is refused or canonicalised without panicking; the canonical form is JSON that means
// the same as the input (decoded with numbers kept as written), canonicalising it again changes nothing, and the
// digest of arguments read from it (canonicalArgsDigest) is the digest of the arguments as sent (argsDigest).
func FuzzCanonicalize(f *testing.F) {
	for _, s := range []string{echoCall, `{"b":1,"a":[1,2,{"d":"\u00e9","c":null}]}`, `"a\ud83d\ude00b"`, `{"a":"\ud800"}`,
		`[1e400]`, `{"a":9007199254740993}`, `{"A":1,"a":2}`, `{"a":"\u0000"}`, " {\"x\" : -0.5e-3 } ", `{"a\nb":1}`,
		"{\"a\":\"x\u2028y\\u2029<&>\\u007f\\b\"}"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		out, err := canonicalize(body)
		if err != nil {
			return
		}
		if !json.Valid(out) {
			t.Fatalf("canonical form is not JSON: %q", out)
		}
		again, err := canonicalize(out)
		if err != nil || !bytes.Equal(again, out) {
			t.Fatalf("not idempotent: %q → %q (%v)", out, again, err)
		}
		if a, b := decodeNumbers(t, body), decodeNumbers(t, out); !reflect.DeepEqual(a, b) {
			t.Fatalf("meaning changed: %q → %q", body, out)
		}
		if !utf8.Valid(body) {
			return // parseMessage refuses such bodies before any digest
		}
		slow, serr := argsDigest(body)
		if fast, ferr := canonicalArgsDigest(out); serr != nil || ferr != nil || fast != slow {
			t.Fatalf("digest of the canonical form %q is %s (%v), of the arguments %s (%v)", out, fast, ferr, slow, serr)
		}
	})
}

func decodeNumbers(t *testing.T, b []byte) any {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("decoding %q: %v", b, err)
	}
	return v
}

// FuzzWitness: any published body is kept or refused without panicking, and nothing is kept that does not verify.
func FuzzWitness(f *testing.F) {
	f.Add("gw+12345678+AAAA", "gw/0\n1\nAAAA\nchain sha256:00\n\n— gw abc\n")
	f.Add("", "")
	f.Fuzz(func(t *testing.T, verifier, checkpoint string) {
		w := &witness{dir: t.TempDir()}
		if _, err := w.accept(witnessPost{Verifier: verifier, Checkpoint: checkpoint}); err == nil {
			t.Fatalf("a checkpoint no key signed was kept: %q %q", verifier, checkpoint)
		}
		if list, _ := w.list(); len(list) != 0 {
			t.Fatalf("kept %+v", list)
		}
	})
}
