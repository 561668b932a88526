package kustomize

import (
	"encoding/json"
	"reflect"
	"testing"

	jsonpatch "gopkg.in/evanphx/json-patch.v4"
	"sigs.k8s.io/yaml"
)

func TestDiff(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		a, b map[string]any
		want []Op
	}{
		{"valid-equal", map[string]any{"x": int64(1), "l": []any{"a"}}, map[string]any{"x": int64(1), "l": []any{"a"}}, nil},
		{"valid-both-empty", map[string]any{}, map[string]any{}, nil},
		{"valid-add", map[string]any{}, map[string]any{"x": int64(1)}, []Op{{Op: "add", Path: "/x", Value: int64(1)}}},
		{"valid-replace", map[string]any{"x": int64(1)}, map[string]any{"x": int64(2)}, []Op{{Op: "replace", Path: "/x", Value: int64(2)}}},
		{"valid-remove", map[string]any{"x": int64(1)}, map[string]any{}, []Op{{Op: "remove", Path: "/x"}}},
		{"valid-add-false-and-zero", map[string]any{}, map[string]any{"f": false, "z": int64(0)},
			[]Op{{Op: "add", Path: "/f", Value: false}, {Op: "add", Path: "/z", Value: int64(0)}}},
		{"valid-replace-with-false", map[string]any{"f": true}, map[string]any{"f": false}, []Op{{Op: "replace", Path: "/f", Value: false}}},
		{"valid-nested",
			map[string]any{"spec": map[string]any{"replicas": int64(1), "selector": map[string]any{"a": "b"}}},
			map[string]any{"spec": map[string]any{"replicas": int64(2), "selector": map[string]any{"a": "b"}}},
			[]Op{{Op: "replace", Path: "/spec/replicas", Value: int64(2)}}},
		{"valid-nested-add-map",
			map[string]any{"spec": map[string]any{}},
			map[string]any{"spec": map[string]any{"template": map[string]any{"x": "y"}}},
			[]Op{{Op: "add", Path: "/spec/template", Value: map[string]any{"x": "y"}}}},
		{"valid-list-replaced-whole",
			map[string]any{"l": []any{"a", "b", "c"}},
			map[string]any{"l": []any{"a", "x", "c"}},
			[]Op{{Op: "replace", Path: "/l", Value: []any{"a", "x", "c"}}}},
		{"valid-list-of-maps-replaced-whole",
			map[string]any{"l": []any{map[string]any{"k": "a"}}},
			map[string]any{"l": []any{map[string]any{"k": "a"}, map[string]any{"k": "b"}}},
			[]Op{{Op: "replace", Path: "/l", Value: []any{map[string]any{"k": "a"}, map[string]any{"k": "b"}}}}},
		{"valid-map-becomes-scalar", map[string]any{"x": map[string]any{"a": "b"}}, map[string]any{"x": "s"},
			[]Op{{Op: "replace", Path: "/x", Value: "s"}}},
		{"valid-escaped-slash", map[string]any{}, map[string]any{"app.kubernetes.io/name": "web"},
			[]Op{{Op: "add", Path: "/app.kubernetes.io~1name", Value: "web"}}},
		{"valid-escaped-tilde", map[string]any{"a~b": "1"}, map[string]any{"a~b": "2"},
			[]Op{{Op: "replace", Path: "/a~0b", Value: "2"}}},
		{"valid-escaped-tilde-then-slash", map[string]any{"~/": "1"}, map[string]any{},
			[]Op{{Op: "remove", Path: "/~0~1"}}},
		{"valid-escaped-in-nested-path",
			map[string]any{"metadata": map[string]any{"labels": map[string]any{"a/b": "1"}}},
			map[string]any{"metadata": map[string]any{"labels": map[string]any{"a/b": "2"}}},
			[]Op{{Op: "replace", Path: "/metadata/labels/a~1b", Value: "2"}}},
		{"valid-ops-in-key-order",
			map[string]any{"b": int64(1), "c": int64(1)},
			map[string]any{"a": int64(1), "c": int64(2)},
			[]Op{{Op: "add", Path: "/a", Value: int64(1)}, {Op: "remove", Path: "/b"}, {Op: "replace", Path: "/c", Value: int64(2)}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var got []Op
			diff("", tt.a, tt.b, &got)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("diff = %+v, want %+v", got, tt.want)
			}
			// Applying the operations to a must give b.
			if patched := apply(t, tt.a, got); !jsonEqual(t, patched, tt.b) {
				t.Errorf("a patched with %+v = %s, want %s", got, patched, mustJSON(t, tt.b))
			}
		})
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// apply applies ops to doc with an independent RFC 6902 implementation.
func apply(t *testing.T, doc map[string]any, ops []Op) []byte {
	t.Helper()
	if len(ops) == 0 {
		return mustJSON(t, doc)
	}
	p, err := jsonpatch.DecodePatch(mustJSON(t, ops))
	if err != nil {
		t.Fatalf("decoding patch %s: %v", mustJSON(t, ops), err)
	}
	out, err := p.Apply(mustJSON(t, doc))
	if err != nil {
		t.Fatalf("applying patch %s: %v", mustJSON(t, ops), err)
	}
	return out
}

func jsonEqual(t *testing.T, a []byte, b any) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(mustJSON(t, b), &y); err != nil {
		t.Fatal(err)
	}
	return reflect.DeepEqual(x, y)
}

func TestOpMarshalJSON(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		op   Op
		want string
	}{
		{"valid-remove-has-no-value", Op{Op: "remove", Path: "/x", Value: int64(5)}, `{"op":"remove","path":"/x"}`},
		{"valid-remove-nil-value", Op{Op: "remove", Path: "/x"}, `{"op":"remove","path":"/x"}`},
		{"valid-replace-false", Op{Op: "replace", Path: "/x", Value: false}, `{"op":"replace","path":"/x","value":false}`},
		{"valid-add-zero", Op{Op: "add", Path: "/x", Value: 0}, `{"op":"add","path":"/x","value":0}`},
		{"valid-add-empty-string", Op{Op: "add", Path: "/x", Value: ""}, `{"op":"add","path":"/x","value":""}`},
		{"valid-add-empty-map", Op{Op: "add", Path: "/x", Value: map[string]any{}}, `{"op":"add","path":"/x","value":{}}`},
		{"valid-add-null", Op{Op: "add", Path: "/x", Value: nil}, `{"op":"add","path":"/x","value":null}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := json.Marshal(tt.op)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("json.Marshal(%+v) = %s, want %s", tt.op, got, tt.want)
			}
			// The YAML patch files follow the same rule.
			y, err := encodeOps([]Op{tt.op})
			if err != nil {
				t.Fatal(err)
			}
			fromYAML, err := yaml.YAMLToJSON(y)
			if err != nil {
				t.Fatal(err)
			}
			if !jsonEqual(t, fromYAML, json.RawMessage("["+tt.want+"]")) {
				t.Errorf("encodeOps(%+v) = %s, want the same as %s", tt.op, y, tt.want)
			}
		})
	}
}
