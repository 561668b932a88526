package team

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/agops/agops/internal/specyaml"
	"sigs.k8s.io/yaml"
)

const schemaFile = "../../docs/team.schema.json"

type schema = map[string]any

func loadSchema(t *testing.T) schema {
	t.Helper()
	var s schema
	if err := json.Unmarshal(readFile(t, schemaFile), &s); err != nil {
		t.Fatalf("%s: %v", schemaFile, err)
	}
	return s
}

// deref follows a $ref; the keywords beside it (minItems next to a list's $ref) are merged in.
func deref(root, s schema) schema {
	for range 10 {
		ref, ok := s["$ref"].(string)
		if !ok {
			return s
		}
		target, _ := root["$defs"].(schema)[strings.TrimPrefix(ref, "#/$defs/")].(schema)
		merged := schema{}
		for k, v := range target {
			merged[k] = v
		}
		for k, v := range s {
			if k != "$ref" {
				merged[k] = v
			}
		}
		s = merged
	}
	return s
}

// resolve derefs, and picks the object branch of a oneOf (a tool: "server/tool" or a mapping).
func resolve(root, s schema) schema {
	s = deref(root, s)
	if alts, ok := s["oneOf"].([]any); ok {
		for _, a := range alts {
			if r := deref(root, a.(schema)); r["properties"] != nil {
				return r
			}
		}
	}
	return s
}

// schemaTypes is the JSON schema type of each scalar kind the decoder fills.
var schemaTypes = map[reflect.Kind]string{
	reflect.String: "string", reflect.Bool: "boolean", reflect.Int: "integer", reflect.Int64: "integer",
	reflect.Float64: "number",
}

// TestSchemaFieldsMatchTypes walks the document types and the schema side by side: every field the decoder accepts
// is in the schema's properties with the same type, every property is a field, and every object refuses other
// properties.
func TestSchemaFieldsMatchTypes(t *testing.T) {
	t.Parallel()
	root := loadSchema(t)
	var walk func(typ reflect.Type, s schema, path string)
	walk = func(typ reflect.Type, s schema, path string) {
		for typ.Kind() == reflect.Pointer {
			typ = typ.Elem()
		}
		s = resolve(root, s)
		switch {
		case typ == reflect.TypeFor[Duration]():
			if s["type"] != "string" || s["pattern"] == nil {
				t.Errorf("%s: a duration is a string with a pattern in the schema, got %v", path, s)
			}
		case typ.Implements(reflect.TypeFor[specyaml.KeyedList]()):
			values, ok := s["additionalProperties"].(schema)
			if s["type"] != "object" || !ok {
				t.Errorf("%s: a mapping by name needs type object and an additionalProperties schema", path)
				return
			}
			walk(typ.Elem(), values, path+".*")
		case typ.Kind() == reflect.Slice:
			items, ok := s["items"].(schema)
			if s["type"] != "array" || !ok {
				t.Errorf("%s: the schema has no array with items for a list", path)
				return
			}
			walk(typ.Elem(), items, path+"[]")
		case typ.Kind() == reflect.Struct:
			walkStruct(t, typ, s, path, walk)
		default:
			if want := schemaTypes[typ.Kind()]; s["type"] != want && s["const"] == nil {
				t.Errorf("%s: want type %q in the schema, got %v", path, want, s["type"])
			}
		}
	}
	walk(reflect.TypeFor[document](), root, "")
}

func walkStruct(t *testing.T, typ reflect.Type, s schema, path string, walk func(reflect.Type, schema, string)) {
	props, _ := s["properties"].(schema)
	if s["additionalProperties"] != false {
		t.Errorf("%s: the schema must set additionalProperties: false", path)
	}
	fields := specyaml.Fields(typ)
	for name, i := range fields {
		sub, ok := props[name].(schema)
		if !ok {
			t.Errorf("%s: field %s is not in the schema", path, specyaml.KeyPath(path, name))
			continue
		}
		walk(typ.Field(i).Type, sub, specyaml.KeyPath(path, name))
	}
	for name := range props {
		if _, ok := fields[name]; !ok {
			t.Errorf("%s: the schema has %s, the Go types do not", path, specyaml.KeyPath(path, name))
		}
	}
}

// TestSchemaValidatesDocuments checks the valid documents, the example and the docs' example against the schema
// with a small validator of the keywords the schema uses, and that the schema refuses some invalid ones.
func TestSchemaValidatesDocuments(t *testing.T) {
	t.Parallel()
	root := loadSchema(t)
	valid, _ := filepath.Glob("testdata/valid-*.yaml")
	for _, f := range append(valid, exampleTeam) {
		if errs := validateFile(t, root, f); len(errs) > 0 {
			t.Errorf("%s does not follow the schema:\n%s", f, strings.Join(errs, "\n"))
		}
	}
	for _, tc := range []struct{ file, want string }{
		{"testdata/invalid-header.yaml", "/apiVersion: want const"},
		{"testdata/invalid-header.yaml", "/metadata/name: \"Research_Team\" does not match"},
		{"testdata/invalid-unknown-fields.yaml", "/spec/models/m/baseUrl: not allowed"},
		{"testdata/invalid-unknown-fields.yaml", "/spec/agents/0: instructions is required"},
		{"testdata/invalid-models.yaml", "/spec/models/creds/baseURL: \"https://user:s3cret@llm.example.com/v1\" does not match"},
		{"testdata/invalid-models.yaml", "/spec/models/key/maxTokens: below minimum"},
		{"testdata/invalid-models.yaml", "/spec/models: property name \"Local\""},
		{"testdata/invalid-tools.yaml", "/spec/agents/0/tools/0: matches 0 oneOf branches"},
		{"testdata/invalid-tools.yaml", "/spec/agents/0/tools/8: matches 0 oneOf branches"},
		{"testdata/invalid-flow-modes.yaml", "/spec/flow: more than 1 properties"},
		{"testdata/invalid-flow-empty.yaml", "/spec/flow: fewer than 1 properties"},
		{"testdata/invalid-flow-parallel.yaml", "/spec/flow/parallel/agents: fewer than 2 items"},
		{"testdata/invalid-limits.yaml", "/spec/limits/continueAsNewEvents: below minimum"},
		{"testdata/invalid-limits-high.yaml", "/spec/limits/toolTimeout: \"-1s\" does not match"},
		{"testdata/invalid-wrong-kinds.yaml", "/spec/input/required: want boolean"},
		{"testdata/invalid-agents.yaml", "/spec/agents/5/role: \"Writes poems\\nand more poems\\n\" does not match"},
	} {
		if errs := strings.Join(validateFile(t, root, tc.file), "\n"); !strings.Contains(errs, tc.want) {
			t.Errorf("%s: want a schema error %q, got\n%s", tc.file, tc.want, errs)
		}
	}
}

func validateFile(t *testing.T, root schema, file string) []string {
	t.Helper()
	js, err := yaml.YAMLToJSON(readFile(t, file))
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	var doc any
	if err := json.Unmarshal(js, &doc); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	var errs []string
	validate(root, root, doc, "", &errs)
	slices.Sort(errs)
	return errs
}

// validate checks v against s for the keywords docs/team.schema.json uses.
func validate(root, s schema, v any, at string, errs *[]string) {
	fail := func(format string, args ...any) { *errs = append(*errs, at+": "+fmt.Sprintf(format, args...)) }
	s = deref(root, s)
	if alts, ok := s["oneOf"].([]any); ok {
		n := 0
		for _, a := range alts {
			var sub []string
			if validate(root, a.(schema), v, at, &sub); len(sub) == 0 {
				n++
			}
		}
		if n != 1 {
			fail("matches %d oneOf branches", n)
		}
	}
	if c, ok := s["const"]; ok && c != v {
		fail("want const %v, got %v", c, v)
	}
	if typ, ok := s["type"].(string); ok && !hasType(v, typ) {
		fail("want %s, got %T", typ, v)
		return
	}
	switch x := v.(type) {
	case map[string]any:
		validateObject(root, s, x, at, errs)
	case []any:
		if m, ok := s["minItems"].(float64); ok && float64(len(x)) < m {
			fail("fewer than %v items", m)
		}
		if items, ok := s["items"].(schema); ok {
			for i, e := range x {
				validate(root, items, e, fmt.Sprintf("%s/%d", at, i), errs)
			}
		}
	case string:
		validateString(s, x, fail)
	case float64:
		if m, ok := s["minimum"].(float64); ok && x < m {
			fail("below minimum %v", m)
		}
		if m, ok := s["maximum"].(float64); ok && x > m {
			fail("above maximum %v", m)
		}
	}
}

func validateString(s schema, x string, fail func(string, ...any)) {
	if p, ok := s["pattern"].(string); ok && !regexp.MustCompile(p).MatchString(x) {
		fail("%q does not match %s", x, p)
	}
	if m, ok := s["minLength"].(float64); ok && float64(len([]rune(x))) < m {
		fail("shorter than %v", m)
	}
	if m, ok := s["maxLength"].(float64); ok && float64(len([]rune(x))) > m {
		fail("longer than %v", m)
	}
}

func validateObject(root, s schema, x map[string]any, at string, errs *[]string) {
	fail := func(format string, args ...any) { *errs = append(*errs, at+": "+fmt.Sprintf(format, args...)) }
	if m, ok := s["minProperties"].(float64); ok && float64(len(x)) < m {
		fail("fewer than %v properties", m)
	}
	if m, ok := s["maxProperties"].(float64); ok && float64(len(x)) > m {
		fail("more than %v properties", m)
	}
	for _, r := range asList(s["required"]) {
		if _, ok := x[r.(string)]; !ok {
			fail("%s is required", r)
		}
	}
	props, _ := s["properties"].(schema)
	for k, e := range x {
		if names, ok := s["propertyNames"].(schema); ok {
			var sub []string
			if validate(root, names, k, at, &sub); len(sub) > 0 {
				fail("property name %q: %s", k, strings.Join(sub, "; "))
			}
		}
		sub, ok := props[k].(schema)
		if !ok {
			sub, ok = s["additionalProperties"].(schema)
		}
		if !ok {
			if s["additionalProperties"] == false {
				*errs = append(*errs, fmt.Sprintf("%s/%s: not allowed", at, k))
			}
			continue
		}
		validate(root, sub, e, at+"/"+k, errs)
	}
}

func asList(v any) []any {
	l, _ := v.([]any)
	return l
}

func hasType(v any, typ string) bool {
	switch typ {
	case "object":
		_, ok := v.(map[string]any)
		return ok
	case "array":
		_, ok := v.([]any)
		return ok
	case "string":
		_, ok := v.(string)
		return ok
	case "boolean":
		_, ok := v.(bool)
		return ok
	case "number":
		_, ok := v.(float64)
		return ok
	case "integer":
		f, ok := v.(float64)
		return ok && f == float64(int64(f))
	}
	return false
}
