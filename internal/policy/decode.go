package policy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"

	"go.yaml.in/yaml/v4"
)

// maxNodes bounds the YAML nodes the decoder visits, aliases expanded: a few kilobytes of nested aliases must not
// grow into millions of grants.
const maxNodes = 200_000

// scalarDecoder is a type written as one YAML scalar (a duration).
type scalarDecoder interface{ decodeScalar(string) error }

// boolShorthand is a struct type that may also be written `true` (and `false` for absent).
type boolShorthand interface{ fromBool() }

// decoder fills the document types from a YAML node tree, strictly: unknown fields, duplicate keys and wrong
// kinds are problems with their field path, and decoding goes on to find the others.
type decoder struct {
	ps     *problems
	budget int
}

// decodeDocument parses data as exactly one YAML document into doc, strictly. False when the document is not
// YAML, is too large or is not a mapping: nothing was decoded, so there is nothing to validate.
func decodeDocument(data []byte, doc *document, ps *problems) bool {
	root, err := parseYAML(data)
	if err != nil {
		ps.add("", "%s", err)
		return false
	}
	if root.Kind != yaml.MappingNode {
		ps.add("", "want a mapping (apiVersion, kind, metadata, spec), got %s", describe(root))
		return false
	}
	d := &decoder{ps: ps, budget: maxNodes}
	d.decode(root, reflect.ValueOf(doc).Elem(), "")
	return d.budget > 0
}

// parseYAML returns the single document's root node. The YAML library panics on a few malformed inputs; Parse must
// not, so a panic becomes an error.
func parseYAML(data []byte) (root *yaml.Node, err error) {
	defer func() {
		if r := recover(); r != nil {
			root, err = nil, fmt.Errorf("invalid YAML: %v", r)
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); errors.Is(err, io.EOF) {
		return nil, errors.New("empty document")
	} else if err != nil {
		return nil, fmt.Errorf("invalid YAML: %s", strings.TrimPrefix(err.Error(), "yaml: "))
	}
	var next yaml.Node
	if err := dec.Decode(&next); !errors.Is(err, io.EOF) {
		return nil, errors.New("want exactly one YAML document (found a second '---' document)")
	}
	if doc.Kind == yaml.DocumentNode && len(doc.Content) == 1 {
		return doc.Content[0], nil
	}
	return &doc, nil
}

func (d *decoder) decode(n *yaml.Node, v reflect.Value, path string) {
	n = d.resolve(n, path)
	if n == nil {
		return
	}
	if _, seen := d.ps.lines[path]; !seen {
		d.ps.lines[path] = n.Line
	}
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" {
		return // absent
	}
	if sd, ok := v.Addr().Interface().(scalarDecoder); ok {
		if s, ok := d.scalar(n, path, "a string"); ok {
			if err := sd.decodeScalar(s); err != nil {
				d.ps.add(path, "%s", err)
			}
		}
		return
	}
	switch v.Kind() {
	case reflect.Pointer:
		d.decodePointer(n, v, path)
	case reflect.Struct:
		d.decodeStruct(n, v, path)
	case reflect.Slice:
		d.decodeSlice(n, v, path)
	case reflect.String:
		if s, ok := d.scalar(n, path, "a string"); ok {
			v.SetString(s)
		}
	case reflect.Int, reflect.Int64:
		d.decodeInt(n, v, path)
	default:
		d.ps.add(path, "cannot decode into %s", v.Type()) // a document type this decoder does not know
	}
}

// resolve follows aliases and spends the node budget; nil means stop.
func (d *decoder) resolve(n *yaml.Node, path string) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && i < 100; i++ {
		n = n.Alias
	}
	if n == nil || n.Kind == yaml.AliasNode {
		d.ps.add(path, "unresolved alias")
		return nil
	}
	d.budget--
	if d.budget == 0 {
		d.ps.add(path, "document too large: more than %d YAML nodes once aliases are expanded", maxNodes)
	}
	if d.budget <= 0 {
		return nil
	}
	return n
}

func (d *decoder) decodePointer(n *yaml.Node, v reflect.Value, path string) {
	elem := reflect.New(v.Type().Elem())
	if _, ok := elem.Interface().(boolShorthand); ok && n.Kind == yaml.ScalarNode {
		var on bool
		if n.ShortTag() != "!!bool" || n.Decode(&on) != nil {
			d.ps.add(path, "want true, false or a mapping, got %s", describe(n))
		} else if on {
			v.Set(elem)
		}
		return
	}
	d.decode(n, elem.Elem(), path)
	v.Set(elem)
}

func (d *decoder) decodeStruct(n *yaml.Node, v reflect.Value, path string) {
	if !d.want(n, yaml.MappingNode, path) {
		return
	}
	fields := yamlFields(v.Type())
	seen := map[string]bool{}
	for _, kv := range d.pairs(n, path, 0) {
		key := kv[0].Value
		sub := join(path, key)
		if seen[key] {
			d.ps.lines[sub] = kv[0].Line
			d.ps.add(sub, "duplicate key")
			continue
		}
		seen[key] = true
		i, ok := fields[key]
		if !ok {
			d.ps.lines[sub] = kv[0].Line
			d.ps.add(sub, "unknown field%s", suggest(key, fields))
			continue
		}
		d.decode(kv[1], v.Field(i), sub)
	}
}

// pairs lists a mapping's key/value pairs; the pairs of `<<: *anchor` merges come after the explicit ones and lose
// to them.
func (d *decoder) pairs(n *yaml.Node, path string, depth int) [][2]*yaml.Node {
	var own, merged [][2]*yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			d.ps.add(path, "a key must be a plain string, got %s", describe(k))
			continue
		}
		if k.ShortTag() != "!!merge" {
			own = append(own, [2]*yaml.Node{k, val})
			continue
		}
		merged = append(merged, d.mergePairs(val, path, depth)...)
	}
	explicit := map[string]bool{}
	for _, kv := range own {
		explicit[kv[0].Value] = true
	}
	for _, kv := range merged {
		if !explicit[kv[0].Value] {
			explicit[kv[0].Value] = true
			own = append(own, kv)
		}
	}
	return own
}

func (d *decoder) mergePairs(val *yaml.Node, path string, depth int) [][2]*yaml.Node {
	val = d.resolve(val, path)
	if val == nil || depth > 10 {
		return nil
	}
	var srcs []*yaml.Node
	switch val.Kind {
	case yaml.MappingNode:
		srcs = []*yaml.Node{val}
	case yaml.SequenceNode:
		srcs = val.Content
	}
	var out [][2]*yaml.Node
	for _, s := range srcs {
		if s = d.resolve(s, path); s == nil {
			return out
		}
		if s.Kind != yaml.MappingNode {
			d.ps.add(path, "'<<' merges a mapping or a list of mappings")
			return out
		}
		out = append(out, d.pairs(s, path, depth+1)...)
	}
	if len(srcs) == 0 {
		d.ps.add(path, "'<<' merges a mapping or a list of mappings")
	}
	return out
}

func (d *decoder) decodeSlice(n *yaml.Node, v reflect.Value, path string) {
	if !d.want(n, yaml.SequenceNode, path) {
		return
	}
	s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
	for i, item := range n.Content {
		d.decode(item, s.Index(i), fmt.Sprintf("%s[%d]", path, i))
	}
	v.Set(s)
}

func (d *decoder) decodeInt(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" {
		d.ps.add(path, "want an integer, got %s", describe(n))
		return
	}
	var i int64
	if err := n.Decode(&i); err != nil || v.OverflowInt(i) {
		d.ps.add(path, "want an integer, got %s", describe(n))
		return
	}
	v.SetInt(i)
}

// scalar is the text of a scalar node of any tag (`version: 3` may name a string field).
func (d *decoder) scalar(n *yaml.Node, path, want string) (string, bool) {
	if n.Kind != yaml.ScalarNode {
		d.ps.add(path, "want %s, got %s", want, describe(n))
		return "", false
	}
	return n.Value, true
}

func (d *decoder) want(n *yaml.Node, kind yaml.Kind, path string) bool {
	if n.Kind == kind {
		return true
	}
	d.ps.add(path, "want %s, got %s", kindName(kind), describe(n))
	return false
}

func kindName(k yaml.Kind) string {
	switch k {
	case yaml.MappingNode:
		return "a mapping (key: value)"
	case yaml.SequenceNode:
		return "a list"
	}
	return "a value"
}

func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return quote(n.Value)
	}
	return "something else"
}

// yamlFields maps a struct's yaml names to field indexes.
func yamlFields(t reflect.Type) map[string]int {
	out := make(map[string]int, t.NumField())
	for i := range t.NumField() {
		if name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ","); name != "" && name != "-" {
			out[name] = i
		}
	}
	return out
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// suggest names the known field closest to an unknown one, if one is close.
func suggest(key string, fields map[string]int) string {
	best, bestD := "", 3
	for f := range fields {
		dist := editDistance(strings.ToLower(key), strings.ToLower(f))
		if dist < bestD || (dist == bestD && f < best) {
			best, bestD = f, dist
		}
	}
	if best == "" || len(key) > 64 {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return len(a) + len(b)
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
