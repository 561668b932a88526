package policy

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

const schemaFile = "../../docs/policy.schema.json"

type schema = map[string]any

func loadSchema(t *testing.T) schema {
	t.Helper()
	var s schema
	if err := json.Unmarshal(readFile(t, schemaFile), &s); err != nil {
		t.Fatalf("%s: %v", schemaFile, err)
	}
	return s
}

// resolve follows $ref, and picks the object branch of a oneOf (approval: true or a mapping).
func resolve(root, s schema) schema {
	for range 10 {
		if ref, ok := s["$ref"].(string); ok {
			name := strings.TrimPrefix(ref, "#/$defs/")
			s, _ = root["$defs"].(schema)[name].(schema)
			continue
		}
		if alts, ok := s["oneOf"].([]any); ok {
			for _, a := range alts {
				if r := resolve(root, a.(schema)); r["properties"] != nil || r["items"] != nil {
					return r
				}
			}
		}
		return s
	}
	return s
}

// TestSchemaFieldsMatchTypes walks the document types and the schema side by side: every field the decoder accepts
// is in the schema's properties, every property is a field, and every object refuses other properties.
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
		case typ.Kind() == reflect.Slice:
			items, ok := s["items"].(schema)
			if !ok {
				t.Errorf("%s: the schema has no items for a list", path)
				return
			}
			walk(typ.Elem(), items, path+"[]")
		case typ.Kind() == reflect.Struct && typ != reflect.TypeFor[duration]():
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
	}
	walk(reflect.TypeFor[document](), root, "")
}

// TestSchemaValidatesDocuments checks the valid documents (and the example) against the schema with a small
// validator of the keywords the schema uses, and that the schema refuses some invalid ones.
func TestSchemaValidatesDocuments(t *testing.T) {
	t.Parallel()
	root := loadSchema(t)
	valid, _ := filepath.Glob("testdata/valid-*.yaml")
	for _, f := range append(valid, examplePolicy) {
		if errs := validateFile(t, root, f); len(errs) > 0 {
			t.Errorf("%s does not follow the schema:\n%s", f, strings.Join(errs, "\n"))
		}
	}
	for _, tc := range []struct{ file, want string }{
		{"testdata/invalid-unknown-fields.yaml", "/specs: not allowed"},
		{"testdata/invalid-header.yaml", "/apiVersion: want const"},
		{"testdata/invalid-servers.yaml", "/spec/servers/4/kind: grpc not in enum"},
		{"testdata/invalid-limits.yaml", "/spec/teams/0/limits/callsPerMinute: below minimum"},
		{"testdata/invalid-globs.yaml", "/spec/teams/0/grants/1/routes/2/method: \"get\" does not match"},
		{"testdata/invalid-approval.yaml", "/spec/teams/0/grants/2/approval: matches no oneOf branch"},
		{"testdata/invalid-grant-shape.yaml", "/spec/teams/0/grants/1"}, // passes the schema: only validate sees it
	} {
		errs := strings.Join(validateFile(t, root, tc.file), "\n")
		if tc.file == "testdata/invalid-grant-shape.yaml" {
			if errs != "" {
				t.Errorf("%s: want no schema errors (tools and routes together are refused by Parse), got\n%s", tc.file, errs)
			}
			continue
		}
		if !strings.Contains(errs, tc.want) {
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
	return errs
}

// validate checks v against s for the keywords docs/policy.schema.json uses.
func validate(root, s schema, v any, at string, errs *[]string) {
	fail := func(format string, args ...any) { *errs = append(*errs, at+": "+fmt.Sprintf(format, args...)) }
	if ref, ok := s["$ref"].(string); ok {
		validate(root, root["$defs"].(schema)[strings.TrimPrefix(ref, "#/$defs/")].(schema), v, at, errs)
	}
	if alts, ok := s["oneOf"].([]any); ok {
		n := 0
		for _, a := range alts {
			var sub []string
			if validate(root, a.(schema), v, at, &sub); len(sub) == 0 {
				n++
			}
		}
		if n != 1 {
			fail("matches no oneOf branch")
		}
	}
	if c, ok := s["const"]; ok && c != v {
		fail("want const %v, got %v", c, v)
	}
	if e, ok := s["enum"].([]any); ok && !slices.Contains(e, v) {
		fail("%v not in enum %v", v, e)
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
		if p, ok := s["pattern"].(string); ok && !regexp.MustCompile(p).MatchString(x) {
			fail("%q does not match %s", x, p)
		}
		if m, ok := s["minLength"].(float64); ok && float64(len([]rune(x))) < m {
			fail("shorter than %v", m)
		}
		if m, ok := s["maxLength"].(float64); ok && float64(len([]rune(x))) > m {
			fail("longer than %v", m)
		}
	case float64:
		if m, ok := s["minimum"].(float64); ok && x < m {
			fail("below minimum %v", m)
		}
		if m, ok := s["maximum"].(float64); ok && x > m {
			fail("above maximum %v", m)
		}
	}
}

func validateObject(root, s schema, x map[string]any, at string, errs *[]string) {
	props, _ := s["properties"].(schema)
	for _, r := range asList(s["required"]) {
		if _, ok := x[r.(string)]; !ok {
			*errs = append(*errs, fmt.Sprintf("%s: %s is required", at, r))
		}
	}
	for k, e := range x {
		sub, ok := props[k].(schema)
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
	case "integer":
		f, ok := v.(float64)
		return ok && f == float64(int64(f))
	}
	return false
}
