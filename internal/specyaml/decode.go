// Package specyaml owns the strict decoding of a spec document (one YAML document: apiVersion, kind, metadata,
// spec) into Go structs, and the problems found on the way: every unknown field, duplicate key, wrong kind or
// YAML syntax error is a Problem with its field path and line, and decoding goes on to find the others. The caller
// validates what was decoded into the same Problems and returns their ValidationError.
//
// It knows YAML, not the documents: a document's types opt in to a scalar form (Scalar), a struct written as one
// string (StringShorthand) or as `true` (BoolShorthand), and a list written as a mapping by name (KeyedList).
package specyaml

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v4"
)

// DefaultMaxNodes is the node budget when Limits.MaxNodes is 0.
const DefaultMaxNodes = 100_000

// Limits bound what Decode reads; each kind of document sets its own.
type Limits struct {
	// MaxBytes refuses a larger document before parsing it; 0: no bound.
	MaxBytes int
	// MaxNodes bounds the YAML nodes (keys included) the decoder visits, aliases expanded, so that a few kilobytes
	// of nested aliases cannot grow into millions of values; 0: DefaultMaxNodes.
	MaxNodes int
}

// Scalar is a type written as one YAML scalar of any tag (a duration). Decode calls DecodeScalar on a pointer to
// the field with the scalar's text; its error is the field's problem.
type Scalar interface{ DecodeScalar(s string) error }

// StringShorthand is a struct type that may also be written as one string (a tool written "server/tool"). Decode
// calls FromString on a pointer to the field.
type StringShorthand interface{ FromString(s string) }

// BoolShorthand is a struct type that a pointer field may also write as `true` (a new zero value, on which Decode
// calls FromBool) or `false` (nil, as if absent).
type BoolShorthand interface{ FromBool() }

// KeyedList is a slice type written as a YAML mapping: each key becomes its element's string field Name, in
// document order (spec.models: {local: {...}}).
type KeyedList interface{ Keyed() }

// Decode parses data as exactly one YAML document into doc, a pointer to a struct whose fields carry yaml tags,
// strictly, adding every problem to ps. False means there is nothing to validate: the document is too large, is not
// YAML or not a mapping, or outran the node budget (then that is its only problem: what was found before it would
// be noise).
func Decode(data []byte, doc any, lim Limits, ps *Problems) bool {
	if lim.MaxBytes > 0 && len(data) > lim.MaxBytes {
		ps.Add("", "the document is larger than %s", size(lim.MaxBytes))
		return false
	}
	v := reflect.ValueOf(doc)
	if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
		ps.Add("", "cannot decode into %T", doc) // a caller's mistake, not the document's
		return false
	}
	root, err := parse(data)
	if err != nil {
		ps.AddAt(errorLine(err), "", "%s", err)
		return false
	}
	if root.Kind != yaml.MappingNode {
		ps.Add("", "want a mapping (%s), got %s", strings.Join(fieldNames(v.Elem().Type()), ", "), describe(root))
		return false
	}
	if lim.MaxNodes <= 0 {
		lim.MaxNodes = DefaultMaxNodes
	}
	ps.init()
	start := len(ps.list)
	d := &decoder{ps: ps, max: lim.MaxNodes, budget: lim.MaxNodes}
	d.decode(root, v.Elem(), "")
	if d.budget <= 0 {
		ps.list = append(ps.list[:start], d.tooLarge)
		return false
	}
	return true
}

// size is n bytes in MiB when it is a whole number of them.
func size(n int) string {
	if n%(1<<20) == 0 {
		return fmt.Sprintf("%d MiB", n>>20)
	}
	return fmt.Sprintf("%d bytes", n)
}

// parse returns the single document's root node. The YAML library panics on a few malformed inputs; Decode must
// not, so a panic becomes an error.
func parse(data []byte) (root *yaml.Node, err error) {
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

// errorLine is the line a YAML syntax error points at (the last "line N" of its message), or 0.
func errorLine(err error) int {
	m := lineRE.FindAllStringSubmatch(err.Error(), -1)
	if len(m) == 0 {
		return 0
	}
	n, _ := strconv.Atoi(m[len(m)-1][1])
	return n
}

var lineRE = regexp.MustCompile(`\bline (\d{1,9})\b`)
