package k8s

import (
	"encoding/json"
	"fmt"

	"sigs.k8s.io/yaml"
)

// Encode serializes an object as YAML with sorted keys, leaving out the fields the API server fills in
// (creationTimestamp, empty status), so that output is stable and reads as written.
func Encode(obj Object) ([]byte, error) {
	raw, err := json.Marshal(obj)
	if err != nil {
		return nil, fmt.Errorf("encoding %s %s: %w", obj.GetObjectKind().GroupVersionKind().Kind, obj.GetName(), err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, err
	}
	delete(m, "status")
	prune(m)
	return yaml.Marshal(m)
}

// prune removes null creationTimestamps and empty status, strategy and resources maps, recursively.
func prune(m map[string]any) {
	for k, v := range m {
		switch t := v.(type) {
		case nil:
			if k == "creationTimestamp" {
				delete(m, k)
			}
		case map[string]any:
			prune(t)
			if len(t) == 0 && (k == "strategy" || k == "updateStrategy" || k == "resources") {
				delete(m, k)
			}
		case []any:
			for _, e := range t {
				if em, ok := e.(map[string]any); ok {
					prune(em)
				}
			}
		}
	}
}
