package specyaml

import (
	"fmt"
	"math"
	"reflect"

	"go.yaml.in/yaml/v4"
)

// decoder fills a document's types from a YAML node tree.
type decoder struct {
	ps          *Problems
	max, budget int     // the node budget and what is left of it
	tooLarge    Problem // set when the budget runs out
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
	if sd, ok := v.Addr().Interface().(Scalar); ok {
		if s, ok := d.scalar(n, path); ok {
			if err := sd.DecodeScalar(s); err != nil {
				d.ps.Add(path, "%s", err)
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
		if _, ok := v.Addr().Interface().(KeyedList); ok {
			d.decodeKeyed(n, v, path)
		} else {
			d.decodeSlice(n, v, path)
		}
	case reflect.String:
		if s, ok := d.scalar(n, path); ok {
			v.SetString(s)
		}
	case reflect.Bool:
		d.decodeBool(n, v, path)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		d.decodeInt(n, v, path)
	case reflect.Float32, reflect.Float64:
		d.decodeFloat(n, v, path)
	default:
		d.ps.Add(path, "cannot decode into %s", v.Type()) // a document type this decoder does not know
	}
}

// resolve follows aliases and spends the node budget; nil means stop.
func (d *decoder) resolve(n *yaml.Node, path string) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && i < 100; i++ {
		n = n.Alias
	}
	if n == nil || n.Kind == yaml.AliasNode {
		d.ps.Add(path, "unresolved alias")
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
		d.ps.Add(path, "document too large: more than %d YAML nodes once aliases are expanded", d.max)
		d.tooLarge = d.ps.list[len(d.ps.list)-1]
	}
	return d.budget > 0
}

func (d *decoder) decodePointer(n *yaml.Node, v reflect.Value, path string) {
	elem := reflect.New(v.Type().Elem())
	if bs, ok := elem.Interface().(BoolShorthand); ok && n.Kind == yaml.ScalarNode {
		var on bool
		if n.ShortTag() != "!!bool" || n.Decode(&on) != nil {
			d.ps.Add(path, "want true, false or a mapping, got %s", describe(n))
		} else if on {
			bs.FromBool()
			v.Set(elem)
		}
		return
	}
	d.decode(n, elem.Elem(), path)
	v.Set(elem)
}

func (d *decoder) decodeStruct(n *yaml.Node, v reflect.Value, path string) {
	if sh, ok := v.Addr().Interface().(StringShorthand); ok && n.Kind == yaml.ScalarNode {
		sh.FromString(n.Value)
		return
	}
	if !d.want(n, yaml.MappingNode, path) {
		return
	}
	fields := Fields(v.Type())
	seen := map[string]bool{}
	for _, kv := range d.pairs(n, path, 0) {
		key, sub := kv[0].Value, KeyPath(path, kv[0].Value)
		if d.duplicate(seen, kv[0], sub) {
			continue
		}
		i, ok := fields[key]
		if !ok {
			d.ps.lines[sub] = kv[0].Line
			d.ps.Add(sub, "unknown field%s", suggest(key, fields))
			continue
		}
		d.decode(kv[1], v.Field(i), sub)
	}
}

// decodeKeyed decodes a mapping into a KeyedList, keeping the keys' order.
func (d *decoder) decodeKeyed(n *yaml.Node, v reflect.Value, path string) {
	name, ok := v.Type().Elem().FieldByName("Name")
	if !ok || name.Type.Kind() != reflect.String || !name.IsExported() {
		d.ps.Add(path, "cannot decode into %s: a keyed list's elements need a Name string", v.Type())
		return
	}
	if !d.want(n, yaml.MappingNode, path) {
		return
	}
	pairs := d.pairs(n, path, 0)
	s := reflect.MakeSlice(v.Type(), 0, len(pairs))
	seen := map[string]bool{}
	for _, kv := range pairs {
		key, sub := kv[0].Value, KeyPath(path, kv[0].Value)
		if d.duplicate(seen, kv[0], sub) {
			continue
		}
		d.ps.lines[sub] = kv[0].Line
		elem := reflect.New(v.Type().Elem()).Elem()
		elem.FieldByIndex(name.Index).SetString(key)
		d.decode(kv[1], elem, sub)
		s = reflect.Append(s, elem)
	}
	v.Set(s)
}

// duplicate reports whether key was seen before in its mapping, a problem at path, and marks it seen.
func (d *decoder) duplicate(seen map[string]bool, key *yaml.Node, path string) bool {
	if seen[key.Value] {
		d.ps.lines[path] = key.Line
		d.ps.Add(path, "duplicate key")
		return true
	}
	seen[key.Value] = true
	return false
}

// pairs lists a mapping's key/value pairs; the pairs of `<<: *anchor` merges come after the explicit ones and lose
// to them. Every key spends the node budget.
func (d *decoder) pairs(n *yaml.Node, path string, depth int) [][2]*yaml.Node {
	var own, merged [][2]*yaml.Node
	for i := 0; i+1 < len(n.Content) && d.spend(path); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			d.ps.Add(path, "a key must be a plain string, got %s", describe(k))
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
			d.ps.Add(path, "'<<' merges a mapping or a list of mappings")
			return out
		}
		out = append(out, d.pairs(s, path, depth+1)...)
	}
	if len(srcs) == 0 {
		d.ps.Add(path, "'<<' merges a mapping or a list of mappings")
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
		d.ps.Add(path, "want true or false, got %s", describe(n))
		return
	}
	v.SetBool(b)
}

func (d *decoder) decodeInt(n *yaml.Node, v reflect.Value, path string) {
	var i int64
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" || n.Decode(&i) != nil || v.OverflowInt(i) {
		d.ps.Add(path, "want an integer, got %s", describe(n))
		return
	}
	v.SetInt(i)
}

func (d *decoder) decodeFloat(n *yaml.Node, v reflect.Value, path string) {
	var f float64
	tag := n.ShortTag()
	if n.Kind != yaml.ScalarNode || (tag != "!!int" && tag != "!!float") || n.Decode(&f) != nil ||
		math.IsNaN(f) || math.IsInf(f, 0) || v.OverflowFloat(f) {
		d.ps.Add(path, "want a number, got %s", describe(n))
		return
	}
	v.SetFloat(f)
}

// scalar is the text of a scalar node of any tag (`model: 3` may name a string field).
func (d *decoder) scalar(n *yaml.Node, path string) (string, bool) {
	if n.Kind != yaml.ScalarNode {
		d.ps.Add(path, "want a string, got %s", describe(n))
		return "", false
	}
	return n.Value, true
}

func (d *decoder) want(n *yaml.Node, kind yaml.Kind, path string) bool {
	if n.Kind == kind {
		return true
	}
	d.ps.Add(path, "want %s, got %s", kindName(kind), describe(n))
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
		return Quote(n.Value)
	}
	return "something else"
}
