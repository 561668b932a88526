package team

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v4"
)

// maxNodes bounds the YAML nodes (keys included) the decoder visits, aliases expanded: a few kilobytes of nested
// aliases must not grow into millions of agents.
const maxNodes = 100_000

// scalarDecoder is a type written as one YAML scalar (a duration).
type scalarDecoder interface{ decodeScalar(string) error }

// stringShorthand is a struct type that may also be written as one string (a tool: "server/tool").
type stringShorthand interface{ fromString(string) }

// keyedList is a slice type written as a YAML mapping: each key becomes its element's Name field, in document
// order (spec.models).
type keyedList interface{ keyed() }

var keyedListType = reflect.TypeFor[keyedList]()

// decoder fills the document types from a YAML node tree, strictly: unknown fields, duplicate keys and wrong
// kinds are problems with their field path, and decoding goes on to find the others.
type decoder struct {
	ps       *problems
	budget   int
	tooLarge Problem // set when the budget runs out
}

// decodeDocument parses data as exactly one YAML document into doc, strictly. False when the document is not
// YAML, is too large or is not a mapping: nothing was decoded, so there is nothing to validate.
func decodeDocument(data []byte, doc *document, ps *problems) bool {
	root, err := parseYAML(data)
	if err != nil {
		ps.addAt(yamlErrorLine(err), "", "%s", err)
		return false
	}
	if root.Kind != yaml.MappingNode {
		ps.add("", "want a mapping (apiVersion, kind, metadata, spec), got %s", describe(root))
		return false
	}
	d := &decoder{ps: ps, budget: maxNodes}
	d.decode(root, reflect.ValueOf(doc).Elem(), "")
	if d.budget <= 0 {
		ps.list = []Problem{d.tooLarge} // what was found before it would only be noise
		return false
	}
	return true
}

// yamlErrorLine is the line a YAML syntax error points at (the last "line N, column M" of its message), or 0.
func yamlErrorLine(err error) int {
	m := yamlLineRE.FindAllStringSubmatch(err.Error(), -1)
	if len(m) == 0 {
		return 0
	}
	n, _ := strconv.Atoi(m[len(m)-1][1])
	return n
}

var yamlLineRE = regexp.MustCompile(`line (\d{1,9}), column \d+`)

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
	d.decodeKind(n, v, path)
}

func (d *decoder) decodeKind(n *yaml.Node, v reflect.Value, path string) {
	switch v.Kind() {
	case reflect.Pointer:
		elem := reflect.New(v.Type().Elem())
		d.decode(n, elem.Elem(), path)
		v.Set(elem)
	case reflect.Struct:
		d.decodeStruct(n, v, path)
	case reflect.Slice:
		if v.Type().Implements(keyedListType) {
			d.decodeKeyed(n, v, path)
		} else {
			d.decodeSlice(n, v, path)
		}
	case reflect.String:
		if s, ok := d.scalar(n, path, "a string"); ok {
			v.SetString(s)
		}
	case reflect.Bool:
		d.decodeBool(n, v, path)
	case reflect.Int, reflect.Int64:
		d.decodeInt(n, v, path)
	case reflect.Float64:
		d.decodeFloat(n, v, path)
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
	if !d.spend(path) {
		return nil
	}
	return n
}

// spend takes one node from the budget; false once it is spent (the problem is reported once).
func (d *decoder) spend(path string) bool {
	d.budget--
	if d.budget == 0 {
		d.ps.add(path, "document too large: more than %d YAML nodes once aliases are expanded", maxNodes)
		d.tooLarge = d.ps.list[len(d.ps.list)-1]
	}
	return d.budget > 0
}

func (d *decoder) decodeStruct(n *yaml.Node, v reflect.Value, path string) {
	if sh, ok := v.Addr().Interface().(stringShorthand); ok && n.Kind == yaml.ScalarNode {
		sh.fromString(n.Value)
		return
	}
	if !d.want(n, yaml.MappingNode, path) {
		return
	}
	fields := yamlFields(v.Type())
	seen := map[string]bool{}
	for _, kv := range d.pairs(n, path, 0) {
		key := kv[0].Value
		sub := keyPath(path, key)
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

// decodeKeyed decodes a mapping into a keyedList, keeping the keys' order.
func (d *decoder) decodeKeyed(n *yaml.Node, v reflect.Value, path string) {
	if !d.want(n, yaml.MappingNode, path) {
		return
	}
	pairs := d.pairs(n, path, 0)
	s := reflect.MakeSlice(v.Type(), 0, len(pairs))
	seen := map[string]bool{}
	for _, kv := range pairs {
		key := kv[0].Value
		sub := keyPath(path, key)
		if seen[key] {
			d.ps.lines[sub] = kv[0].Line
			d.ps.add(sub, "duplicate key")
			continue
		}
		seen[key] = true
		d.ps.lines[sub] = kv[0].Line
		elem := reflect.New(v.Type().Elem()).Elem()
		elem.FieldByName("Name").SetString(key)
		d.decode(kv[1], elem, sub)
		s = reflect.Append(s, elem)
	}
	v.Set(s)
}

// pairs lists a mapping's key/value pairs; the pairs of `<<: *anchor` merges come after the explicit ones and lose
// to them. Every key spends the node budget.
func (d *decoder) pairs(n *yaml.Node, path string, depth int) [][2]*yaml.Node {
	var own, merged [][2]*yaml.Node
	for i := 0; i+1 < len(n.Content) && d.spend(path); i += 2 {
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
		if d.budget <= 0 {
			break
		}
		d.decode(item, s.Index(i), fmt.Sprintf("%s[%d]", path, i))
	}
	v.Set(s)
}

func (d *decoder) decodeBool(n *yaml.Node, v reflect.Value, path string) {
	var b bool
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!bool" || n.Decode(&b) != nil {
		d.ps.add(path, "want true or false, got %s", describe(n))
		return
	}
	v.SetBool(b)
}

func (d *decoder) decodeInt(n *yaml.Node, v reflect.Value, path string) {
	var i int64
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" || n.Decode(&i) != nil || v.OverflowInt(i) {
		d.ps.add(path, "want an integer, got %s", describe(n))
		return
	}
	v.SetInt(i)
}

func (d *decoder) decodeFloat(n *yaml.Node, v reflect.Value, path string) {
	var f float64
	tag := n.ShortTag()
	if n.Kind != yaml.ScalarNode || (tag != "!!int" && tag != "!!float") || n.Decode(&f) != nil ||
		math.IsNaN(f) || math.IsInf(f, 0) {
		d.ps.add(path, "want a number, got %s", describe(n))
		return
	}
	v.SetFloat(f)
}

// scalar is the text of a scalar node of any tag (`model: 3` may name a string field).
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
