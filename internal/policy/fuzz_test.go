package policy

import (
	"encoding/json"
	"errors"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// FuzzParse feeds arbitrary bytes to Parse: it must return a policy or a *ValidationError with one line per
// problem, never panic; a policy it returns must answer every question without panicking. The seed corpus is the
// testdata and testdata/lint policies, the example and testdata/fuzz/FuzzParse.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.yaml")
	lint, _ := filepath.Glob("testdata/lint/*.yaml")
	for _, in := range append(append(files, lint...), examplePolicy) {
		f.Add(readFile(f, in))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Parse(data)
		if err != nil {
			var ve *ValidationError
			if p != nil || !errors.As(err, &ve) || len(ve.Problems) == 0 {
				t.Fatalf("Parse: policy %v, error %T %v", p, err, err)
			}
			lines := len(ve.Problems)
			if ve.Omitted > 0 {
				lines++
			}
			if got := strings.Count(err.Error(), "\n") + 1; got != lines || strings.Contains(err.Error(), "goroutine ") {
				t.Fatalf("%d problems in %d lines:\n%v", lines, got, err)
			}
			return
		}
		for _, l := range WarningLines("f", p.Warnings()) {
			if strings.ContainsAny(l, "\r\n") {
				t.Fatalf("a warning spans lines: %q", l)
			}
		}
		for _, agent := range p.Agents() {
			p.Guidance(agent)
			for _, s := range p.Servers() {
				c := Call{Agent: agent, Server: s.Name, Tool: "echo", Args: json.RawMessage(`{"a":1,"url":"https://x"}`)}
				if s.Kind == "http" {
					c.Tool, c.Method, c.Path = "", "GET", "/v1/x"
				}
				p.Allowed(agent, s.Name, "echo")
				if d := p.Decide(c); !strings.Contains(p.Explain(c), string(d.Verdict)+" by "+d.Rule) {
					t.Fatalf("Explain disagrees with Decide %+v", d)
				}
			}
		}
	})
}

const fuzzPolicy = `
apiVersion: agops.dev/v1alpha1
kind: FleetPolicy
metadata: {name: fuzz}
spec:
  servers: [{name: tools, url: "http://tools/mcp"}]
  teams:
    - name: t
      agents: [ns/agent]
      grants:
        - {server: tools, tools: [search, send_email]}
        - {server: tools, tools: ["fetch_*"], when: 'args.url.startsWith("https://")'}
        - {server: tools, tools: [add], when: 'args.a + args.b < 1000', approval: true}
  rules:
    - name: traversal
      deny: 'args.exists(k, type(args[k]) == string && args[k].contains("../"))'
    - name: traversal-anywhere
      deny: hasTraversal(args) || hasAbsPath(args) || !allNumbers(args).all(n, between(n, -1e6, 1e6))
`

// FuzzDecide: whatever the tool name and arguments, Decide never panics, and it allows (or sends for approval)
// only a tool name byte-equal to a granted one, or matching the fetch_* pattern and canonical.
func FuzzDecide(f *testing.F) {
	p, err := Parse([]byte(fuzzPolicy))
	if err != nil {
		f.Fatal(err)
	}
	for _, seed := range []struct{ tool, args string }{
		{"search", `{"q":"x"}`}, {"fetch_page", `{"url":"https://x"}`}, {"add", `{"a":1,"b":2}`},
		{"Search", ""}, {"search\u200b", "{}"}, {"fetch_", `{"url":"https://x","url":"http://y"}`},
		{"send_email", `{"a":[[[[{}]]]]}`}, {"add", `{"a":9223372036854775807,"b":1}`}, {"fetch_x", `{"url":"\ud800"}`},
	} {
		f.Add(seed.tool, []byte(seed.args))
	}
	granted := map[string]bool{"search": true, "send_email": true, "add": true}
	f.Fuzz(func(t *testing.T, tool string, args []byte) {
		d := p.Decide(Call{Agent: "ns/agent", Server: "tools", Tool: tool, Args: args})
		if strings.ContainsAny(d.Reason, "\r\n") || d.Rule == "" {
			t.Fatalf("malformed decision %+v", d)
		}
		if d.Verdict == Deny {
			return
		}
		if !granted[tool] && !(strings.HasPrefix(tool, "fetch_") && toolNameProblem(tool) == "") {
			t.Fatalf("%s for tool %q (%x), args %q: %+v", d.Verdict, tool, tool, args, d)
		}
		if len(args) > 0 && !json.Valid(args) {
			t.Fatalf("%s with invalid JSON arguments %q", d.Verdict, args)
		}
	})
}

// FuzzArgs: the arguments parser is never more lenient than encoding/json, and agrees with it on the value.
func FuzzArgs(f *testing.F) {
	for _, s := range []string{`{}`, `{"a":[1,2.5,"x",null,true,{"b":-0}]}`, `{"a":"\u00e9\ud83d\ude00\n"}`, `{"a":1e400}`,
		`{"a":1,"a":2}`, `{"a":01}`, `{"a":"\ud800"}`, "{\"a\":\"\xff\"}", `null`, `[1]`, ` {"k" : 12345678901234567890 } `} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		got, err := decodeArgs(raw, defaultMaxArgsBytes)
		if err != nil {
			return
		}
		if len(raw) == 0 {
			return
		}
		var want any
		if err := json.Unmarshal(raw, &want); err != nil {
			t.Fatalf("accepted %q, which encoding/json rejects: %v", raw, err)
		}
		if want == nil {
			want = map[string]any{}
		}
		if norm := floats(got); !reflect.DeepEqual(norm, want) {
			t.Fatalf("%q: got %#v, encoding/json %#v", raw, norm, want)
		}
	})
}

// floats turns int64 into float64, as encoding/json decodes every number.
func floats(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, e := range x {
			out[k] = floats(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = floats(e)
		}
		return out
	case int64:
		return float64(x)
	}
	return v
}
