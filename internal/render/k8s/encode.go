package k8s

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
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
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, err
	}
	delete(m, "status")
	prune(m)
	return m, nil
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
