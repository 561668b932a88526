package specyaml

import (
	"strings"
	"testing"
)

// FuzzDecode feeds arbitrary bytes to Decode into a type with every opt-in interface: it must never panic, must
// report a problem whenever it gives up, and every problem must be one line. The seed corpus is the unit tests'
// documents and testdata/fuzz/FuzzDecode.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		"name: n\ncount: 3\nratio: 0.5\non: true\ntags: [a]\nwait: 90s\ntool: s/t\ntools: [a/b, {server: s, tool: t}]\n",
		"models: {zeta: {url: z}, alpha: {url: a}}\napprove: true\nlimit: 0\nnested: {deep: {value: 7}}\n",
		"tool: &t {<<: *t}\n", "a: &a [x, x]\nb: &b [*a, *a]\ntags: [*b, *b]\n", "\"a\\nb\": 1\n? [k]\n: v\n",
		"name: a\n---\nname: b\n", "- a\n", "wait: soon\napprove: maybe\n", "name: a\ntool: {server: b\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var doc testDoc
		var ps Problems
		ok := Decode(data, &doc, Limits{MaxBytes: 1 << 16, MaxNodes: 2000}, &ps)
		err := ps.Err()
		if !ok && err == nil {
			t.Fatal("Decode gave up without a problem")
		}
		if err == nil {
			return
		}
		ve := err.(*ValidationError)
		for _, p := range ve.Problems {
			if strings.ContainsAny(p.Path+p.Message, "\r\n") || p.Line < 0 {
				t.Fatalf("problem %q is not one line", p)
			}
		}
		if got := strings.Count(err.Error(), "\n") + 1; got != len(ve.Problems) {
			t.Fatalf("%d problems in %d lines:\n%v", len(ve.Problems), got, err)
		}
	})
}
