package policy

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/lint/*.golden from the current warnings and explanations")

// TestLintGolden: each testdata/lint policy's warnings, then the explanation of each call its "# explain: AGENT
// TOOL ARGS" comments name, as `agops policy validate` and `agops policy explain` print them.
func TestLintGolden(t *testing.T) {
	t.Parallel()
	files, _ := filepath.Glob("testdata/lint/*.yaml")
	if len(files) < 3 {
		t.Fatalf("found %d testdata/lint/*.yaml files, want at least 3", len(files))
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			t.Parallel()
			p := mustLoad(t, f)
			var b bytes.Buffer
			for _, l := range WarningLines(filepath.Base(f), p.Warnings()) {
				b.WriteString(l + "\n")
			}
			for _, c := range explainCalls(t, readFile(t, f)) {
				b.WriteString("\n$ explain " + c.Agent + " " + c.Tool + " " + string(c.Args) + "\n" + p.Explain(c))
			}
			golden := strings.TrimSuffix(f, ".yaml") + ".golden"
			if *update {
				if err := os.WriteFile(golden, b.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if want := readFile(t, golden); !bytes.Equal(b.Bytes(), want) {
				t.Errorf("%s differs from the output (go test -update rewrites it):\n--- got\n%s--- want\n%s", golden, b.Bytes(), want)
			}
			wantWarnings := !strings.HasPrefix(filepath.Base(f), "clean-")
			if got := len(p.Warnings()) > 0; got != wantWarnings {
				t.Errorf("%d warnings, want some: %t", len(p.Warnings()), wantWarnings)
			}
		})
	}
}

func explainCalls(t *testing.T, data []byte) []Call {
	var out []Call
	for _, l := range strings.Split(string(data), "\n") {
		rest, ok := strings.CutPrefix(l, "# explain: ")
		if !ok {
			continue
		}
		f := strings.SplitN(rest, " ", 3)
		if len(f) != 3 || !json.Valid([]byte(f[2])) {
			t.Fatalf("bad explain line %q", l)
		}
		server := "mcp-tools"
		if !strings.Contains(string(data), "name: mcp-tools") {
			server = "tools"
		}
		out = append(out, Call{Agent: f[0], Server: server, Tool: f[1], Args: json.RawMessage(f[2])})
	}
	return out
}

// TestLintCases: one expression at a time, for a grant's when and a rule's deny.
func TestLintCases(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		expr string
		deny bool
		want []string // a substring of each warning, in order; none: no warning
	}{
		{`args.exists(k, type(args[k]) == string && args[k].contains("../"))`, true, []string{"args.exists(k, ...) looks only at the top level of args"}},
		{`args.all(k, args[k] != "x")`, false, []string{"args.all(k, ...) looks only at the top level"}},
		{`args.exists_one(k, args[k] == 1)`, true, []string{"args.exists_one(k, ...)"}},
		{`args.filter(k, args[k] == 1).size() == 0`, false, []string{"args.filter(k, ...)"}},
		{`args.map(k, args[k]).exists(v, v == 1)`, false, []string{"args.map(k, ...)"}},
		{`args.exists(k, matches(k, "^x"))`, true, []string{"only at the top-level keys"}},
		{`args.exists(k, k == "x" || k in ["y"])`, true, nil},
		{`args.l.exists(x, x.contains("../"))`, true, nil}, // a loop over one argument: its elements are what it means
		{`allStrings(args).exists(s, s.contains("../"))`, true, nil},
		{`args.a < 1000`, false, []string{"(args.a < 1000): negative numbers pass"}},
		{`args.a <= 1000.5`, false, []string{"args.a <= 1000.5"}},
		{`args.a > 0`, false, []string{"(args.a > 0): numbers of any size pass"}},
		{`args.a > 1000`, true, []string{"(args.a > 1000): negative numbers pass"}},
		{`args.a < 0`, true, []string{"(args.a < 0): numbers of any size pass"}},
		{`!(args.a < 0)`, false, []string{"numbers of any size pass"}},
		{`!(!(args.a < 10))`, false, []string{"negative numbers pass"}},
		{`-5 < args.a`, false, []string{"(-5 < args.a): numbers of any size pass"}},
		{`args.a < 10u`, false, []string{"args.a < 10u"}},
		{`args["a"] < 1 && args.b.c[2] < 1`, false, []string{`args["a"]`, "args.b.c[2]"}},
		{`args.a > 0 && args.a < 10`, false, nil},
		{`args.a > 0 || args.a < 10`, true, nil},
		{`args.a < 10 && args.b > 0 && args.b < 10`, false, []string{"args.a"}},
		{`between(args.a, 0, 10) && args.a != 5`, false, nil},
		{`between(args.a, 5, 4.5)`, false, []string{"between(..., 5, 4.5) is never true"}},
		{`between(args.a, 5, 5)`, false, nil},
		{`args.a < args.b`, false, nil},
		{`size(args.l) < 10`, false, nil},
		{`has(args.a) && args.?b.orValue(0) < 10`, false, nil},
	} {
		prg, err := compile(tc.expr)
		if err != nil {
			t.Fatalf("%s: %v", tc.expr, err)
		}
		got := lint(prg.ast, tc.deny)
		if len(got) != len(tc.want) {
			t.Errorf("%s (deny %t): %d warnings, want %d:\n%s", tc.expr, tc.deny, len(got), len(tc.want), strings.Join(got, "\n"))
			continue
		}
		for i, w := range tc.want {
			if !strings.Contains(got[i], w) {
				t.Errorf("%s (deny %t): warning %q lacks %q", tc.expr, tc.deny, got[i], w)
			}
		}
	}
}

// TestExampleHasNoWarnings: the shipped policy follows its own advice.
func TestExampleHasNoWarnings(t *testing.T) {
	t.Parallel()
	p := mustLoad(t, examplePolicy)
	if ws := p.Warnings(); len(ws) > 0 {
		t.Errorf("the example policy has warnings:\n%s", strings.Join(WarningLines(examplePolicy, ws), "\n"))
	}
}
