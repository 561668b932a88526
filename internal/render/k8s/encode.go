package k8s

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// Encode serializes an object as YAML with sorted keys, leaving out the fields the API server fills in
// (creationTimestamp, status), so that output is stable and reads as written.
func Encode(obj Object) ([]byte, error) {
	m, err := ToMap(obj)
	if err != nil {
		return nil, err
	}
	return EncodeMap(m)
}

// EncodeMap serializes the generic form of an object made by ToMap.
func EncodeMap(m map[string]any) ([]byte, error) {
	return EncodeYAML(m)
}

// ToMap returns the generic JSON form of an object, pruned as Encode writes it. Numbers are int64 or float64.
func ToMap(obj Object) (map[string]any, error) {
	raw, err := json.Marshal(obj)
	if err != nil {
		return nil, fmt.Errorf("encoding %s %s: %w", obj.GetObjectKind().GroupVersionKind().Kind, obj.GetName(), err)
	}
	m, err := decodeObject(raw)
	if err != nil {
		return nil, err
	}
	delete(m, "status")
	prune(m)
	return m, nil
}

// decodeObject decodes a JSON object as encoding/json does into map[string]any with UseNumber, its numbers turned
// into int64 or float64 as prune does. The JSON that json.Marshal writes takes a path of its own, several times
// faster than encoding/json's decoder; anything else (whitespace, unusual text) takes encoding/json's.
func decodeObject(raw []byte) (map[string]any, error) {
	d := jsonDecoder{b: raw}
	if v, ok := d.value(); ok && d.i == len(raw) {
		if m, ok := v.(map[string]any); ok {
			return m, nil
		}
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, err
	}
	numbers(m)
	return m, nil
}

// numbers turns the json.Numbers in a decoded value into int64 or float64, in place.
func numbers(v any) any {
	switch t := v.(type) {
	case json.Number:
		return number(t)
	case map[string]any:
		for k, e := range t {
			t[k] = numbers(e)
		}
	case []any:
		for i, e := range t {
			t[i] = numbers(e)
		}
	}
	return v
}

// jsonDecoder reads compact JSON; it reports false at anything it does not expect.
type jsonDecoder struct {
	b []byte
	i int
}

func (d *jsonDecoder) value() (any, bool) {
	if d.i >= len(d.b) {
		return nil, false
	}
	switch c := d.b[d.i]; {
	case c == '{':
		return d.object()
	case c == '[':
		return d.array()
	case c == '"':
		return d.str()
	case c == '-' || c >= '0' && c <= '9':
		return d.number()
	case d.literal("true"):
		return true, true
	case d.literal("false"):
		return false, true
	case d.literal("null"):
		return nil, true
	}
	return nil, false
}

func (d *jsonDecoder) literal(s string) bool {
	if bytes.HasPrefix(d.b[d.i:], []byte(s)) {
		d.i += len(s)
		return true
	}
	return false
}

func (d *jsonDecoder) object() (any, bool) {
	d.i++ // {
	m := map[string]any{}
	if d.i < len(d.b) && d.b[d.i] == '}' {
		d.i++
		return m, true
	}
	for d.i < len(d.b) {
		k, ok := d.str()
		if !ok || d.i >= len(d.b) || d.b[d.i] != ':' {
			return nil, false
		}
		d.i++
		v, ok := d.value()
		if !ok || d.i >= len(d.b) {
			return nil, false
		}
		m[k.(string)] = v
		switch d.b[d.i] {
		case ',':
			d.i++
		case '}':
			d.i++
			return m, true
		default:
			return nil, false
		}
	}
	return nil, false
}

func (d *jsonDecoder) array() (any, bool) {
	d.i++ // [
	l := []any{}
	if d.i < len(d.b) && d.b[d.i] == ']' {
		d.i++
		return l, true
	}
	for d.i < len(d.b) {
		v, ok := d.value()
		if !ok || d.i >= len(d.b) {
			return nil, false
		}
		l = append(l, v)
		switch d.b[d.i] {
		case ',':
			d.i++
		case ']':
			d.i++
			return l, true
		default:
			return nil, false
		}
	}
	return nil, false
}

// str reads a string; one with escapes, or with bytes that are not printable ASCII, goes through encoding/json.
func (d *jsonDecoder) str() (any, bool) {
	if d.i >= len(d.b) || d.b[d.i] != '"' {
		return nil, false
	}
	start := d.i
	for j := start + 1; j < len(d.b); j++ {
		switch c := d.b[j]; {
		case c == '"':
			d.i = j + 1
			return string(d.b[start+1 : j]), true
		case c == '\\' || c < 0x20 || c > 0x7e:
			return d.slowString(start)
		}
	}
	return nil, false
}

func (d *jsonDecoder) slowString(start int) (any, bool) {
	end := start + 1
	for end < len(d.b) && d.b[end] != '"' {
		if d.b[end] == '\\' {
			end++
		}
		end++
	}
	if end >= len(d.b) {
		return nil, false
	}
	var s string
	if json.Unmarshal(d.b[start:end+1], &s) != nil {
		return nil, false
	}
	d.i = end + 1
	return s, true
}

func (d *jsonDecoder) number() (any, bool) {
	start := d.i
	for d.i < len(d.b) && strings.IndexByte("+-.0123456789eE", d.b[d.i]) >= 0 {
		d.i++
	}
	n := string(d.b[start:d.i])
	if !json.Valid([]byte(n)) {
		return nil, false
	}
	return number(json.Number(n)), true
}

// prune removes null creationTimestamps and empty strategy and resources maps, and turns json.Numbers into Go
// numbers, recursively.
func prune(m map[string]any) {
	for k, v := range m {
		switch t := v.(type) {
		case nil:
			if k == "creationTimestamp" {
				delete(m, k)
			}
		case json.Number:
			m[k] = number(t)
		case map[string]any:
			prune(t)
			if len(t) == 0 && (k == "strategy" || k == "updateStrategy" || k == "resources") {
				delete(m, k)
			}
		case []any:
			pruneList(t)
		}
	}
}

func pruneList(l []any) {
	for i, e := range l {
		switch t := e.(type) {
		case map[string]any:
			prune(t)
		case json.Number:
			l[i] = number(t)
		case []any:
			pruneList(t)
		}
	}
}

func number(n json.Number) any {
	if i, err := strconv.ParseInt(string(n), 10, 64); err == nil {
		return i
	}
	f, _ := n.Float64()
	return f
}
