package specyaml

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
)

// testDoc uses every kind and every opt-in interface Decode knows.
type testDoc struct {
	Name    string     `yaml:"name"`
	Count   int        `yaml:"count"`
	Ratio   float64    `yaml:"ratio"`
	On      bool       `yaml:"on"`
	Tags    []string   `yaml:"tags"`
	Wait    *duration  `yaml:"wait"`
	Tool    tool       `yaml:"tool"`
	Tools   []tool     `yaml:"tools"`
	Models  modelList  `yaml:"models"`
	Approve *approval  `yaml:"approve"`
	Limit   *int       `yaml:"limit"`
	Nested  nestedSpec `yaml:"nested"`
	Grid    [][]string `yaml:"grid"`
	Ignored string     `yaml:"-"`
	hidden  string     `yaml:"hidden"` // unexported: not part of the document
}

type nestedSpec struct {
	Deep struct {
		Value int `yaml:"value"`
	} `yaml:"deep"`
}

// duration implements Scalar.
type duration time.Duration

func (d *duration) DecodeScalar(s string) error {
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("want a duration,\nsuch as 90s, got %s", Quote(s)) // the line break must not survive
	}
	*d = duration(v)
	return nil
}

// tool implements StringShorthand.
type tool struct {
	Ref    string `yaml:"-"`
	Server string `yaml:"server"`
	Tool   string `yaml:"tool"`
}

func (t *tool) FromString(s string) {
	t.Ref = s
	t.Server, t.Tool, _ = strings.Cut(s, "/")
}

// modelList implements KeyedList.
type modelList []model

func (modelList) Keyed() {}

type model struct {
	Name string `yaml:"-"`
	URL  string `yaml:"url"`
}

// approval implements BoolShorthand.
type approval struct {
	Short   bool   `yaml:"-"`
	Timeout string `yaml:"timeout"`
}

func (a *approval) FromBool() { a.Short = true }

var testLimits = Limits{MaxBytes: 4096, MaxNodes: 200}

// decodeString decodes src into a testDoc; the error is the ValidationError's text, "" without problems.
func decodeString(src string, lim Limits) (testDoc, bool, string) {
	var doc testDoc
	var ps Problems
	ok := Decode([]byte(src), &doc, lim, &ps)
	if err := ps.Err(); err != nil {
		return doc, ok, err.Error()
	}
	return doc, ok, ""
}

func TestDecodeValid(t *testing.T) {
	t.Parallel()
	src := `
name: n
count: 3
ratio: 0.5
on: true
tags: [a, b]
wait: 90s
tool: srv/echo
tools: [files/read, {server: s, tool: t}]
models:
  zeta: {url: "http://z"}
  alpha: {url: "http://a"}
approve: true
limit: 0
nested: {deep: {value: 7}}
`
	doc, ok, errText := decodeString(src, testLimits)
	if !ok || errText != "" {
		t.Fatalf("Decode: ok %t, %s", ok, errText)
	}
	limit := 0
	want := testDoc{
		Name: "n", Count: 3, Ratio: 0.5, On: true, Tags: []string{"a", "b"}, Wait: ptr(duration(90 * time.Second)),
		Tool:    tool{Ref: "srv/echo", Server: "srv", Tool: "echo"},
		Tools:   []tool{{Ref: "files/read", Server: "files", Tool: "read"}, {Server: "s", Tool: "t"}},
		Models:  modelList{{Name: "zeta", URL: "http://z"}, {Name: "alpha", URL: "http://a"}},
		Approve: &approval{Short: true}, Limit: &limit,
	}
	want.Nested.Deep.Value = 7
	if !reflect.DeepEqual(doc, want) {
		t.Errorf("got  %+v\nwant %+v", doc, want)
	}
}

func ptr[T any](v T) *T { return &v }

func TestDecodeShorthands(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, src string
		check     func(testDoc) bool
	}{
		{"valid-bool-false-is-absent", "approve: false", func(d testDoc) bool { return d.Approve == nil }},
		{"valid-bool-mapping", "approve: {timeout: 5m}", func(d testDoc) bool { return !d.Approve.Short && d.Approve.Timeout == "5m" }},
		{"valid-null-is-absent", "approve: null\nwait: ~", func(d testDoc) bool { return d.Approve == nil && d.Wait == nil }},
		{"valid-string-or-mapping", "tool: {server: a, tool: b}", func(d testDoc) bool { return d.Tool == tool{Server: "a", Tool: "b"} }},
		{"valid-keyed-empty", "models: {}", func(d testDoc) bool { return d.Models != nil && len(d.Models) == 0 }},
		{"valid-scalar-any-tag", "name: 3", func(d testDoc) bool { return d.Name == "3" }},
		{"valid-merge-explicit-wins", "nested: &n {deep: {value: 1}}\ntool: {<<: {server: a, tool: b}, tool: c}",
			func(d testDoc) bool { return d.Tool == tool{Server: "a", Tool: "c"} && d.Nested.Deep.Value == 1 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			doc, ok, errText := decodeString(tc.src, testLimits)
			if !ok || errText != "" || !tc.check(doc) {
				t.Errorf("ok %t, error %q, doc %+v", ok, errText, doc)
			}
		})
	}
}

func TestDecodeInvalid(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, src string
		lim       Limits
		want      string // the whole error
		decoded   bool   // what Decode returns: true when validation may go on
	}{
		{"invalid-unknown-field", "name: a\nnmae: b", testLimits,
			`line 2: nmae: unknown field (did you mean "name"?)`, true},
		{"invalid-unknown-nested", "nested:\n  deep: {valeu: 1, other: 2}", testLimits,
			"line 2: nested.deep.valeu: unknown field (did you mean \"value\"?)\nline 2: nested.deep.other: unknown field", true},
		{"invalid-hidden-and-ignored", "hidden: x\nIgnored: y", testLimits,
			"line 1: hidden: unknown field\nline 2: Ignored: unknown field", true},
		{"invalid-duplicate-key", "name: a\ncount: 1\nname: b", testLimits, "line 3: name: duplicate key", true},
		// An exact duplicate however it is spelled is a duplicate (not "keys that differ in case"); keys that differ
		// only in case are two keys, and the unknown one says so.
		{"invalid-duplicate-key-spelled", "name: a\n\"n\\u0061me\": b\n? name\n: c", testLimits,
			"line 2: name: duplicate key\nline 3: name: duplicate key", true},
		{"invalid-key-differs-in-case", "name: a\nName: b", testLimits, `line 2: Name: unknown field (did you mean "name"?)`, true},
		{"invalid-wrong-kinds",
			"count: many\nratio: .nan\non: yes\ntags: a\ntool: [x]\nname: {a: b}\nlimit: 99999999999999999999\nmodels: [a]",
			testLimits, `line 1: count: want an integer, got "many"` + "\n" +
				`line 2: ratio: want a number, got ".nan"` + "\n" +
				`line 3: on: want true or false, got "yes"` + "\n" +
				`line 4: tags: want a list, got "a"` + "\n" +
				`line 5: tool: want a mapping (key: value), got a list` + "\n" +
				`line 6: name: want a string, got a mapping` + "\n" +
				`line 7: limit: want an integer, got "99999999999999999999"` + "\n" +
				`line 8: models: want a mapping (key: value), got a list`, true},
		{"invalid-bool-shorthand", "approve: maybe", testLimits,
			`line 1: approve: want true, false or a mapping, got "maybe"`, true},
		{"invalid-scalar", "wait: soon", testLimits,
			`line 1: wait: want a duration, such as 90s, got "soon"`, true},
		{"invalid-keyed-duplicate", "models:\n  a: {url: x}\n  a: {url: y}\n  b: {nope: 1}", testLimits,
			"line 3: models.a: duplicate key\nline 4: models.b.nope: unknown field", true},
		{"invalid-keyed-duplicate-quoted", "models:\n  a: {url: x}\n  'a': {url: y}\n  A: {url: z}", testLimits,
			"line 3: models.a: duplicate key", true},
		{"invalid-key-not-plain", "\"a\\nb\": 1\n? [k]\n: v", testLimits,
			"line 1: a key must be a plain string, got a list\nline 1: [\"a\\nb\"]: unknown field", true},
		{"invalid-merge", "tool: {<<: [1]}", testLimits, "line 1: tool: '<<' merges a mapping or a list of mappings", true},
		{"invalid-unresolved-merge-loop", "tool: &t {<<: *t}", testLimits, "", true},
		{"invalid-syntax", "name: a\ntool: {server: b\ncount: 1\n", testLimits, // the last "line N" is the problem's
			"line 2: invalid YAML: while parsing a flow mapping at line 1, column 7: line 2, column 6: did not find expected ',' or '}'", false},
		{"invalid-syntax-no-column", "name: a\ntags: [a, b\n", testLimits, "", false},
		{"invalid-tab", "name: a\n\tcount: 1\n", testLimits, "", false},
		{"invalid-empty", "# nothing\n", testLimits, "empty document", false},
		{"invalid-two-documents", "name: a\n---\nname: b\n", testLimits,
			"want exactly one YAML document (found a second '---' document)", false},
		{"invalid-not-mapping", "- a\n- b\n", testLimits,
			"want a mapping (name, count, ratio, on, tags, wait, tool, tools, models, approve, limit, nested, grid), got a list", false},
		{"invalid-too-many-bytes", "name: abcdefghijk", Limits{MaxBytes: 10}, "the document is larger than 10 bytes", false},
		{"invalid-too-many-mib", strings.Repeat(" ", 1<<20+1), Limits{MaxBytes: 1 << 20}, "the document is larger than 1 MiB", false},
		{"invalid-alias-bomb-lists", // what was found before the budget ran out is dropped
			"nmae: x\na: &a [x, x, x, x, x, x, x, x]\ngrid: [*a, *a, *a, *a, *a, *a, *a, *a, *a]\ncount: z",
			Limits{MaxNodes: 50}, "line 2: grid[4][6]: document too large: more than 50 YAML nodes once aliases are expanded", false},
		{"invalid-alias-bomb-merges",
			"nmae: x\na: &a {value: 1, v2: 2, v3: 3, v4: 4}\nb: &b {<<: [*a, *a, *a, *a]}\nc: &c {<<: [*b, *b, *b, *b]}\n" +
				"nested: {deep: {<<: [*c, *c, *c, *c]}}\ncount: z",
			Limits{MaxNodes: 50}, "line 5: nested.deep: document too large: more than 50 YAML nodes once aliases are expanded", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, ok, errText := decodeString(tc.src, tc.lim)
			if ok != tc.decoded {
				t.Errorf("Decode returned %t, want %t", ok, tc.decoded)
			}
			if tc.want == "" { // only the shape: some problem, one line each
				if errText == "" && !ok {
					t.Error("Decode failed without a problem")
				}
				return
			}
			if errText != tc.want {
				t.Errorf("got\n%s\nwant\n%s", errText, tc.want)
			}
		})
	}
}

// TestDecodeDefaultBudget: MaxNodes 0 is DefaultMaxNodes, not "no budget".
func TestDecodeDefaultBudget(t *testing.T) {
	t.Parallel()
	src := "a: &a {v0: 0, v1: 1, v2: 2, v3: 3, v4: 4, v5: 5, v6: 6, v7: 7, v8: 8, v9: 9}\n"
	for _, l := range []string{"b", "c", "d", "e"} {
		prev := string(rune(l[0] - 1))
		src += fmt.Sprintf("%s: &%s {<<: [%s]}\n", l, l, strings.TrimSuffix(strings.Repeat("*"+prev+", ", 10), ", "))
	}
	src += "nested: {deep: {<<: [*e, *e]}}\n"
	_, ok, errText := decodeString(src, Limits{})
	if ok || !strings.HasSuffix(errText, fmt.Sprintf("more than %d YAML nodes once aliases are expanded", DefaultMaxNodes)) {
		t.Errorf("ok %t, error %s", ok, errText)
	}
}

func TestDecodeCallerMistakes(t *testing.T) {
	t.Parallel()
	var ps Problems
	n := 3
	if Decode([]byte("a: 1"), &n, Limits{}, &ps) || ps.Err().Error() != "cannot decode into *int" {
		t.Errorf("a pointer to an int: %v", ps.Err())
	}
	var doc struct {
		List keyedNoName `yaml:"list"`
		Ch   chan int    `yaml:"ch"`
	}
	ps = Problems{}
	if !Decode([]byte("list: {a: {}}\nch: 1"), &doc, Limits{}, &ps) {
		t.Fatal("Decode gave up")
	}
	want := "line 1: list: cannot decode into specyaml.keyedNoName: a keyed list's elements need a Name string\n" +
		"line 2: ch: cannot decode into chan int"
	if err := ps.Err(); err == nil || err.Error() != want {
		t.Errorf("got %v", err)
	}
}

type keyedNoName []struct {
	URL string `yaml:"url"`
}

func (keyedNoName) Keyed() {}

func TestProblems(t *testing.T) {
	t.Parallel()
	var doc testDoc
	var ps Problems
	if !Decode([]byte("name: a\ntools:\n  - {server: s}\n  - x/y\nnested:\n  deep: {value: x}\n"), &doc, testLimits, &ps) {
		t.Fatal(ps.Err())
	}
	decoded := ps.Len()
	ps.Add("tools[0].tool", "required")             // no line of its own: its parent's
	ps.Add("nested.deep.value", "must be positive") // under a decoding problem: dropped
	ps.Add("nested.deeper", "x\r\ny")               // unknown path: the nearest recorded parent's (nested's value)
	ps.Add("", "the document as a whole")           // the root mapping's line
	ps.AddAt(9, "over\nthere", "at %d", 9)
	ps.DropUnder(decoded)
	var ve *ValidationError
	if !errors.As(ps.Err(), &ve) {
		t.Fatalf("got %T", ps.Err())
	}
	ve.File = "doc.yaml"
	want := "doc.yaml:1: the document as a whole\n" +
		"doc.yaml:3: tools[0].tool: required\n" +
		`doc.yaml:6: nested.deep.value: want an integer, got "x"` + "\n" +
		`doc.yaml:6: nested.deeper: x y` + "\n" +
		"doc.yaml:9: over there: at 9"
	if ve.Error() != want {
		t.Errorf("got\n%s\nwant\n%s", ve, want)
	}
	if s := ve.Problems[1].String(); s != "line 3: tools[0].tool: required" {
		t.Errorf("Problem.String() = %q", s)
	}
}

func TestManyProblems(t *testing.T) {
	t.Parallel()
	var ps Problems
	if ps.Err() != nil {
		t.Fatal("an empty Problems is an error")
	}
	for i := range MaxProblems + 7 {
		ps.AddAt(MaxProblems+7-i, "", "problem %d", i)
	}
	var ve *ValidationError
	if !errors.As(ps.Err(), &ve) || len(ve.Problems) != MaxProblems || ve.Omitted != 7 {
		t.Fatalf("got %v", ps.Err())
	}
	lines := strings.Split(ve.Error(), "\n")
	if len(lines) != MaxProblems+1 || lines[0] != "line 1: problem 106" || lines[MaxProblems] != "... and 7 more problems" {
		t.Errorf("first %q, last %q", lines[0], lines[len(lines)-1])
	}
}

func TestKeyPathAndQuote(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ path, key, want string }{
		{"", "spec", "spec"},
		{"spec.models", "local-1_x", "spec.models.local-1_x"},
		{"spec.models", "a b", `spec.models["a b"]`},
		{"", "", `[""]`},
		{"spec", strings.Repeat("k", 65), `spec["` + strings.Repeat("k", 65) + `"]`},
	} {
		if got := KeyPath(tc.path, tc.key); got != tc.want {
			t.Errorf("KeyPath(%q, %q) = %q, want %q", tc.path, tc.key, got, tc.want)
		}
	}
	if got, want := Quote(strings.Repeat("é", 41)), `"`+strings.Repeat("é", 40)+`"...`; got != want {
		t.Errorf("Quote = %s", got)
	}
}
