package k8s

import (
	"bytes"
	"math"
	"strings"
	"testing"

	yaml "go.yaml.in/yaml/v2"
)

// yamlSamples are strings that take every path of the fast encoder: plain, quoted because they would read back as
// something else, quoted because of an indicator, folded past column 80, and refused (non-ASCII, control
// characters, several lines).
var yamlSamples = []string{
	"", " ", "a", "nginx:1.27", "postgres://app:pw@db0:5432/app", "8000", "0.5", "256Mi", "1e3", "0x1F", "0b101",
	"-0b11", "0o17", "1_000", "+1", "-", "--", "---", "--- x", "...", "-x", "- x", "?", "? x", "?x", ":", ":x", ": x",
	"a:", "a: b", "a:b", "#x", "a #b", "a#b", "*a", "&a", "!a", "|", ">", "'", "\"", "%", "@", "`", ",", "[", "]",
	"{", "}", "a,b", "a[0]", "y", "Y", "yes", "no", "on", "off", "true", "True", "FALSE", "null", "Null", "~", ".inf",
	"-.inf", "+.INF", ".nan", ".5", ".", "..", ".a", "12:30", "1:2:3", "190:20:30.15", "2026-12-07", "2026-1-2",
	"2026-12-07T07:25:00Z", "2026-12-07 07:25:00", "1234-", "<<", "it's", "say \"hi\"", `back\slash`, " lead",
	"trail ", "two  spaces", "a\tb", "a\nb", "a\n", "\n", "é", "\u2028", "\x7f",
	strings.Repeat("word ", 30),
	strings.Repeat("x", 90) + " tail",
	strings.Repeat("ab ", 40) + " ",
	" " + strings.Repeat("ab  ", 30),
	strings.Repeat("q\"", 50) + " " + strings.Repeat("z ", 30),
	"12 " + strings.Repeat("it's ", 30),
	strings.Repeat("k", 129),
}

// yamlShapes puts a sample in every position: key, value, list item, nested deeply, at the root of a list.
func yamlShapes(s string) []any {
	deep := any(s)
	for i := range 50 { // past column 80
		if i%3 == 0 {
			deep = []any{deep}
		} else {
			deep = map[string]any{"level": deep}
		}
	}
	return []any{
		map[string]any{"k": s},
		map[string]any{s: "v"},
		map[string]any{"a": []any{s, []any{s, map[string]any{s: s}}, map[string]any{"x": s, "y": []any{}}}},
		map[string]any{"metadata": map[string]any{"annotations": map[string]any{s: s}, "empty": map[string]any{}}},
		[]map[string]any{{"op": "add", "path": "/spec/" + s, "value": s}, {}},
		[]any{s, nil, int64(-3), 2.5, true},
		map[string]any{"deep": deep},
	}
}

func checkSameAsYAMLv2(t *testing.T, v any) {
	t.Helper()
	want, err := yaml.Marshal(v)
	if err != nil {
		t.Skip(err)
	}
	got, err := EncodeYAML(v)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("EncodeYAML(%#v):\n%s\nyaml.v2:\n%s", v, got, want)
	}
}

func TestEncodeYAMLMatchesYAMLv2(t *testing.T) {
	t.Parallel()
	for _, s := range yamlSamples {
		for _, v := range yamlShapes(s) {
			checkSameAsYAMLv2(t, v)
		}
	}
	checkSameAsYAMLv2(t, map[string]any{})
	checkSameAsYAMLv2(t, []any{})
	checkSameAsYAMLv2(t, map[string]any{"nums": []any{int64(math.MaxInt64), int64(math.MinInt64), 1e21, 1e-7, 0.1,
		math.Inf(1), math.Inf(-1), math.NaN(), -0.0, float64(3)}})
	// yaml.v2's key order: letters first, digit runs by value. (Its order is not transitive for every set of keys —
	// a1a < a9 < a10 < a1a — and then depends on the map's iteration order; these keys are not such a set.)
	keys := map[string]any{}
	for i, k := range []string{"a10", "a9", "a09", "a0", "A", "_", "a-b", "a.b", "1", "10", "2", "z", "x0y", "b0", "containerPort", "app.kubernetes.io/name", "app", "apps", "k8s-app", "kubernetes.io/metadata.name", "é"} {
		keys[k] = int64(i)
	}
	checkSameAsYAMLv2(t, keys)
	delete(keys, "é")
	if e := (yamlEncoder{}); !e.root(keys) {
		t.Error("fast path refused ASCII keys")
	}
	checkSameAsYAMLv2(t, keys)
}

// TestEncodeYAMLFastPath checks that the objects agops writes take the fast path: nothing non-ASCII, no line breaks.
func TestEncodeYAMLFastPath(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"nginx:1.27", "8000", "a: b", strings.Repeat("word ", 25), "it's"} {
		for _, v := range yamlShapes(s) {
			e := yamlEncoder{}
			if !e.root(v) {
				t.Errorf("%#v: fast path refused", v)
			}
		}
	}
}

func FuzzEncodeYAML(f *testing.F) {
	for _, s := range yamlSamples {
		f.Add(s, uint8(0))
	}
	f.Fuzz(func(t *testing.T, s string, pad uint8) {
		// pad moves the value across the folding column.
		prefix := strings.Repeat("p", int(pad%100))
		for _, v := range yamlShapes(s) {
			checkSameAsYAMLv2(t, v)
			checkSameAsYAMLv2(t, map[string]any{prefix: v})
		}
		checkSameAsYAMLv2(t, map[string]any{"k": prefix + " " + s, "a b": []any{s + " " + prefix}})
	})
}
