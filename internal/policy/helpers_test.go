package policy

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
)

// TestHelpers: the helpers as a policy author uses them, through Decide.
func TestHelpers(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, when, args string
		want             Verdict
	}{
		{"valid-strings-order", `allStrings(args) == ["a", "b", "k", "l", "c", "d", "e", "n", "m"]`,
			`{"a":"b","k":{"l":["c",{"d":"e","n":1},true,null]},"m":2}`, Allow},
		{"valid-strings-keys", `"secret" in allStrings(args)`, `{"x":[{"secret":1}]}`, Allow},
		{"valid-strings-of-string", `allStrings(args.s) == ["x"]`, `{"s":"x"}`, Allow},
		{"valid-strings-literal", `allStrings({"a": ["b", 1]}) == ["a", "b"] && allStrings(1).size() == 0`, ``, Allow},
		{"valid-numbers", `allNumbers(args) == [1, 2.5, -3]`, `{"a":[1,{"b":2.5}],"c":-3,"d":"4","e":true}`, Allow},
		{"valid-numbers-all", `allNumbers(args).all(n, between(n, 0, 10))`, `{"a":[1,{"b":{"c":[11]}}]}`, Deny},
		{"valid-traversal-nested-object", `!hasTraversal(args)`, `{"a":{"b":{"c":"../x"}}}`, Deny},
		{"valid-traversal-nested-list", `!hasTraversal(args)`, `{"a":[1,["x","..\\y"]]}`, Deny},
		{"valid-traversal-key", `!hasTraversal(args)`, `{"files":{"../../etc/passwd":"x"}}`, Deny},
		{"valid-traversal-none", `!hasTraversal(args)`, `{"a":{"b":["c.d","e/f"]},"..x":1}`, Allow},
		{"valid-abs-nested", `!hasAbsPath(args)`, `{"a":[{"p":"/etc/shadow"}]}`, Deny},
		{"valid-abs-none", `!hasAbsPath(args)`, `{"a":[{"p":"docs/x.md"}]}`, Allow},
		{"valid-between-int", `between(args.a, 0, 999)`, `{"a":999}`, Allow},
		{"valid-between-double", `between(args.a, 0, 999)`, `{"a":998.5}`, Allow},
		{"valid-between-zero", `between(args.a, 0, 999)`, `{"a":-0}`, Allow},
		{"valid-between-neg-zero-double", `between(args.a, 0, 999)`, `{"a":-0.0}`, Allow},
		{"valid-between-double-bounds", `between(args.a, -0.5, 0.5)`, `{"a":0}`, Allow},
		{"invalid-between-above", `between(args.a, 0, 999)`, `{"a":1000}`, Deny},
		{"invalid-between-exponent", `between(args.a, 0, 999)`, `{"a":1e3}`, Deny},
		{"invalid-between-just-above", `between(args.a, 0, 999)`, `{"a":999.0000000001}`, Deny},
		{"invalid-between-negative", `between(args.a, 0, 999)`, `{"a":-1}`, Deny},
		{"invalid-between-huge-negative", `between(args.a, 0, 999)`, `{"a":-1e308}`, Deny},
		{"invalid-between-big-int", `between(args.a, 0, 999)`, `{"a":9223372036854775808}`, Deny},
		{"invalid-between-string", `between(args.a, 0, 999)`, `{"a":"5"}`, Deny},
		{"invalid-between-bool", `between(args.a, 0, 999)`, `{"a":true}`, Deny},
		{"invalid-between-null", `between(args.a, 0, 999)`, `{"a":null}`, Deny},
		{"invalid-between-list", `between(args.a, 0, 999)`, `{"a":[5]}`, Deny},
		{"invalid-between-missing", `between(args.a, 0, 999)`, `{}`, Deny},
		{"invalid-between-string-bound", `between(args.a, "0", 999)`, `{"a":5}`, Deny},
		{"invalid-between-nan", `between(double("NaN"), 0, 1) || between(1, double("NaN"), 2)`, ``, Deny},
		{"valid-not-between-string", `!between(args.a, 0, 999)`, `{"a":"5"}`, Allow},
		{"invalid-between-constant-bad-bound", `between(1, "0", 2)`, ``, Deny},
		{"valid-constants", `hasTraversal("a/../b") && !hasAbsPath("a/b") && allNumbers([1, "2"]) == [1]`, ``, Allow},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := onePolicy(t, fmt.Sprintf("{server: tools, tools: [t], when: %q}", tc.when))
			c := Call{Agent: "ns/a", Server: "tools", Tool: "t"}
			if tc.args != "" {
				c.Args = json.RawMessage(tc.args)
			}
			if d := p.Decide(c); d.Verdict != tc.want {
				t.Errorf("%s with %s: got %+v, want %s\n%s", tc.when, tc.args, d, tc.want, p.Explain(c))
			}
		})
	}
}

// TestExampleAttacks: what the red team tried against the shipped policy, and what must still work.
func TestExampleAttacks(t *testing.T) {
	t.Parallel()
	p := mustLoad(t, examplePolicy)
	const traversal, sum = "rules[no-path-traversal]", "teams[research].grants[1]"
	for _, tc := range []struct {
		name, tool, args string
		want             Verdict
		rule             string
	}{
		{"valid-echo", "echo", `{"message":"hello"}`, Allow, "teams[research].grants[0]"},
		{"valid-echo-dots", "echo", `{"message":"wait... v1.2 is at ./docs"}`, Allow, "teams[research].grants[0]"},
		{"valid-sum", "get-sum", `{"a":2,"b":3}`, Allow, sum},
		{"valid-sum-edges", "get-sum", `{"a":0,"b":999}`, Allow, sum},
		{"valid-sum-double", "get-sum", `{"a":2.5,"b":-0}`, Allow, sum},
		{"invalid-top-level", "echo", `{"message":"../../etc/passwd"}`, Deny, traversal},
		{"invalid-nested-object", "echo", `{"message":"hi","opts":{"path":"../../etc/passwd"}}`, Deny, traversal},
		{"invalid-nested-list", "echo", `{"message":"hi","paths":["ok",["../x"]]}`, Deny, traversal},
		{"invalid-key", "echo", `{"message":"hi","files":{"../secret":true}}`, Deny, traversal},
		{"invalid-backslash", "echo", `{"message":"..\\..\\windows"}`, Deny, traversal},
		{"invalid-encoded", "echo", `{"message":"%2e%2e%2fetc"}`, Deny, traversal},
		{"invalid-double-encoded", "echo", `{"message":"%252e%252e%252fetc"}`, Deny, traversal},
		{"invalid-full-width", "echo", `{"message":"\uff0e\uff0e\uff0fetc"}`, Deny, traversal},
		{"invalid-absolute", "echo", `{"message":"/etc/passwd"}`, Deny, traversal},
		{"invalid-absolute-nested", "echo", `{"message":"x","o":[{"p":"C:\\Windows"}]}`, Deny, traversal},
		{"invalid-home", "echo", `{"message":"~/.ssh/id_rsa"}`, Deny, traversal},
		{"invalid-rule-before-grant", "get-sum", `{"a":1,"b":2,"p":"../x"}`, Deny, traversal},
		{"invalid-sum-negative", "get-sum", `{"a":-5000,"b":1}`, Deny, RuleDefaultDeny},
		{"invalid-sum-huge-negative", "get-sum", `{"a":-1e308,"b":1}`, Deny, RuleDefaultDeny},
		{"invalid-sum-above", "get-sum", `{"a":2000,"b":3}`, Deny, RuleDefaultDeny},
		{"invalid-sum-exponent", "get-sum", `{"a":1e3,"b":3}`, Deny, RuleDefaultDeny},
		{"invalid-sum-string", "get-sum", `{"a":"1","b":3}`, Deny, RuleDefaultDeny},
		{"invalid-sum-bool", "get-sum", `{"a":true,"b":3}`, Deny, RuleDefaultDeny},
		{"invalid-sum-null", "get-sum", `{"a":null,"b":3}`, Deny, RuleDefaultDeny},
		{"invalid-sum-list", "get-sum", `{"a":[1],"b":3}`, Deny, RuleDefaultDeny},
		{"invalid-sum-missing", "get-sum", `{"a":1}`, Deny, sum},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := Call{Agent: worker, Server: "mcp-tools", Tool: tc.tool, Args: json.RawMessage(tc.args)}
			if d := p.Decide(c); d.Verdict != tc.want || d.Rule != tc.rule {
				t.Errorf("got %s by %s (%s), want %s by %s\n%s", d.Verdict, d.Rule, d.Reason, tc.want, tc.rule, p.Explain(c))
			}
		})
	}
}

// nested is {"a":{"a":...{"a":leaf}}} with depth objects.
func nested(depth int, leaf string) string {
	return strings.Repeat(`{"a":`, depth-1) + `{"a":` + leaf + "}" + strings.Repeat("}", depth-1)
}

// TestHelpersAtTheLimits: the deepest arguments the policy accepts, the largest, and values built in the
// expression to make a helper's walk explode.
func TestHelpersAtTheLimits(t *testing.T) {
	t.Parallel()
	p := mustLoad(t, examplePolicy)
	echo := func(args string) Call {
		return Call{Agent: worker, Server: "mcp-tools", Tool: "echo", Args: json.RawMessage(args)}
	}
	many := func(n int, last string) string {
		return `{"message":"x","l":[` + strings.Repeat(`"ok",`, n) + last + `]}`
	}
	for _, tc := range []struct {
		name string
		call Call
		want Verdict
		rule string
	}{
		{"invalid-deepest", echo(`{"message":"x","d":` + nested(maxArgsDepth-1, `"../x"`) + `}`), Deny, "rules[no-path-traversal]"},
		{"valid-deepest", echo(`{"message":"x","d":` + nested(maxArgsDepth-1, `"x"`) + `}`), Allow, "teams[research].grants[0]"},
		{"invalid-too-deep", echo(`{"message":"x","d":` + nested(maxArgsDepth, `"x"`) + `}`), Deny, RuleInvalidCall},
		{"invalid-huge-last", echo(many(200_000, `"a/../../b"`)), Deny, "rules[no-path-traversal]"},
		{"valid-huge", echo(many(200_000, `"ok"`)), Allow, "teams[research].grants[0]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if d := p.Decide(tc.call); d.Verdict != tc.want || d.Rule != tc.rule {
				t.Errorf("%d bytes: got %s by %s (%s), want %s by %s", len(tc.call.Args), d.Verdict, d.Rule, d.Reason, tc.want, tc.rule)
			}
		})
	}
	// A value built out of the arguments many times over: the walk stops at maxWalk and the call is denied.
	bomb := onePolicy(t, `{server: tools, tools: [t], when: '!hasTraversal(args.l.map(x, args.l))'}`)
	c := Call{Agent: "ns/a", Server: "tools", Tool: "t", Args: json.RawMessage(`{"l":[` + strings.Repeat(`"a",`, 2000) + `"a"]}`)}
	if d := bomb.Decide(c); d.Verdict != Deny || !strings.Contains(d.Reason, "could not be evaluated") {
		t.Errorf("a 2001×2001 walk: %+v", d)
	}
	if e := bomb.Explain(c); !strings.Contains(e, errWalkTooBig.Error()) {
		t.Errorf("the explanation does not say why:\n%s", e)
	}
}

// TestWalkBound: a walk visits at most maxWalk values, whatever holds them.
func TestWalkBound(t *testing.T) {
	t.Parallel()
	never := visitor{str: func(string) bool { return false }, num: func(ref.Val) bool { return false }}
	for _, tc := range []struct {
		name string
		v    any
		err  bool
	}{
		{"valid-at-limit", make([]any, maxWalk-1), false},
		{"invalid-native-list", make([]any, maxWalk), true},
		{"invalid-cel-list", types.NewDynamicList(types.DefaultTypeAdapter, make([]any, maxWalk)), true},
		{"invalid-native-map", func() any {
			m := map[string]any{}
			for i := range maxWalk / 2 {
				m[fmt.Sprint(i)] = nil
			}
			return m
		}(), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if err := walk(tc.v, never); (err != nil) != tc.err {
				t.Errorf("walk: %v, want an error: %t", err, tc.err)
			}
		})
	}
}

// refStrings and refNumbers collect like allStrings and allNumbers, recursively and independently.
func refCollect(v any, strs *[]string, nums *[]any) {
	switch v := v.(type) {
	case string:
		*strs = append(*strs, v)
	case int64, float64:
		*nums = append(*nums, v)
	case []any:
		for _, e := range v {
			refCollect(e, strs, nums)
		}
	case map[string]any:
		for k, e := range v {
			*strs = append(*strs, k)
			refCollect(e, strs, nums)
		}
	}
}

// FuzzHelpers: on any arguments the policy accepts, allStrings and allNumbers hold what a plain recursive walk
// finds, and hasTraversal and hasAbsPath agree with testing each of those strings.
func FuzzHelpers(f *testing.F) {
	for _, s := range []string{`{}`, `{"a":["../x",{"/k":1.5}],"b":-0}`, `{"a":{"b":{"c":[[["%2e%2e/"]]]}}}`, `{"k\u2025":[true,null,1e3]}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		m, err := decodeArgs(raw, defaultMaxArgsBytes)
		if err != nil {
			return
		}
		v := types.DefaultTypeAdapter.NativeToValue(m)
		var strs []string
		var nums []any
		refCollect(m, &strs, &nums)
		got := allStrings(v).Value().([]string)
		if !slices.Equal(slices.Sorted(slices.Values(got)), slices.Sorted(slices.Values(strs))) {
			t.Fatalf("allStrings = %q, want %q", got, strs)
		}
		if n := allNumbers(v).(interface{ Size() ref.Val }).Size(); n != types.Int(len(nums)) {
			t.Fatalf("allNumbers has %v, want %d", n, len(nums))
		}
		for _, h := range []struct {
			name string
			fn   func(ref.Val) ref.Val
			test func(string) bool
		}{{"hasTraversal", anyString(hasTraversal), hasTraversal}, {"hasAbsPath", anyString(isAbsPath), isAbsPath}} {
			if got, want := h.fn(v), slices.ContainsFunc(strs, h.test); !reflect.DeepEqual(got, types.Bool(want)) {
				t.Fatalf("%s = %v, want %t", h.name, got, want)
			}
		}
	})
}

// BenchmarkHelpers: each helper over the decoded arguments of about 1 MiB (45,000 path-like strings in a list), and a
// small call.
func BenchmarkHelpers(b *testing.B) {
	big := `{"message":"x","l":[` + strings.Repeat(`"some/path/file.txt",`, 45_000) + `"ok"]}`
	for _, in := range []struct{ name, args string }{{"small", `{"message":"hello","opts":{"n":3,"tags":["a","b"]}}`}, {"1MiB", big}} {
		m, err := decodeArgs([]byte(in.args), defaultMaxArgsBytes)
		if err != nil {
			b.Fatal(err)
		}
		v := types.DefaultTypeAdapter.NativeToValue(m)
		for _, h := range []struct {
			name string
			fn   func(ref.Val) ref.Val
		}{{"hasTraversal", anyString(hasTraversal)}, {"hasAbsPath", anyString(isAbsPath)}, {"allStrings", allStrings}, {"allNumbers", allNumbers}} {
			b.Run(in.name+"/"+h.name, func(b *testing.B) {
				b.SetBytes(int64(len(in.args)))
				b.ReportAllocs()
				for b.Loop() {
					if r := h.fn(v); types.IsError(r) {
						b.Fatal(r)
					}
				}
			})
		}
	}
}

// BenchmarkDecideExample: the shipped policy deciding an echo call (its fleet rule walks every string), small
// and about 1 MiB.
func BenchmarkDecideExample(b *testing.B) {
	p := mustLoad(b, examplePolicy)
	big := `{"message":"x","l":[` + strings.Repeat(`"some/path/file.txt",`, 45_000) + `"ok"]}`
	for _, in := range []struct{ name, args string }{{"small", `{"message":"hello"}`}, {"1MiB", big}} {
		c := Call{Agent: worker, Server: "mcp-tools", Tool: "echo", Args: json.RawMessage(in.args)}
		if d := p.Decide(c); d.Verdict != Allow {
			b.Fatalf("%s: %+v", in.name, d)
		}
		b.Run(in.name, func(b *testing.B) {
			b.SetBytes(int64(len(in.args)))
			b.ReportAllocs()
			for b.Loop() {
				p.Decide(c)
			}
		})
	}
}

// TestPitfalls: the table of docs/policy.md, "Pitfalls" — what a one-sided comparison and between make of each
// kind of value, in a grant's when; and the rules that let a call through.
func TestPitfalls(t *testing.T) {
	t.Parallel()
	const allow, deny, fail = "allow", "deny", "error"
	for _, tc := range []struct {
		value, lessThan, between string
	}{
		{`-5`, allow, deny},
		{`-1e308`, allow, deny},
		{`998.5`, allow, allow},
		{`999.5`, allow, deny},
		{`1e3`, deny, deny},
		{`1000`, deny, deny},
		{`-0`, allow, allow},
		{`-0.0`, allow, allow},
		{`9223372036854775808`, deny, deny},
		{`"5"`, fail, deny},
		{`true`, fail, deny},
		{`null`, fail, deny},
		{`[5]`, fail, deny},
		{``, fail, fail}, // missing
	} {
		args := `{}`
		if tc.value != "" {
			args = `{"a":` + tc.value + `}`
		}
		for _, e := range []struct{ when, want string }{{"args.a < 1000", tc.lessThan}, {"between(args.a, 0, 999)", tc.between}} {
			p := onePolicy(t, fmt.Sprintf("{server: tools, tools: [t], when: %q}", e.when))
			d := p.Decide(Call{Agent: "ns/a", Server: "tools", Tool: "t", Args: json.RawMessage(args)})
			got := deny
			switch {
			case d.Verdict == Allow:
				got = allow
			case strings.Contains(d.Reason, "could not be evaluated"):
				got = fail
			}
			if got != e.want {
				t.Errorf("%s with %s: %s (%s), want %s", e.when, args, got, d.Reason, e.want)
			}
		}
	}
	// Rules that let a call through although their author meant to stop it.
	for _, tc := range []struct{ deny, args string }{
		{`type(args.a) == int && args.a > 1000`, `{"a":5000.0}`},
		{`has(args.a) && args.a > 1000`, `{}`},
		{`args.a > 1000`, `{"a":-1e308}`},
		{`args.exists(k, type(args[k]) == string && args[k].contains("../"))`, `{"o":{"p":"../x"}}`},
	} {
		doc := fmt.Sprintf("apiVersion: agops.dev/v1alpha1\nkind: FleetPolicy\nmetadata: {name: p}\nspec:\n  servers: [{name: tools, url: \"http://tools/mcp\"}]\n"+
			"  agents: [{name: ns/a, grants: [{server: tools, tools: [t]}]}]\n  rules: [{name: r, deny: %q}]\n", tc.deny)
		p, err := Parse([]byte(doc))
		if err != nil {
			t.Fatal(err)
		}
		if d := p.Decide(Call{Agent: "ns/a", Server: "tools", Tool: "t", Args: json.RawMessage(tc.args)}); d.Verdict != Allow {
			t.Errorf("deny %s with %s: %+v, the pitfall is gone: update docs/policy.md", tc.deny, tc.args, d)
		}
	}
}
