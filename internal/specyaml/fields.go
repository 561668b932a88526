package specyaml

import (
	"fmt"
	"reflect"
	"regexp"
	"strconv"
	"strings"
)

// Fields maps a struct type's yaml names to its field indexes: the exported fields whose yaml tag names them
// (`yaml:"-"` and untagged fields are not part of the document).
func Fields(t reflect.Type) map[string]int {
	out := make(map[string]int, t.NumField())
	for i := range t.NumField() {
		if name := yamlName(t.Field(i)); name != "" {
			out[name] = i
		}
	}
	return out
}

// fieldNames lists a struct type's yaml names in declaration order.
func fieldNames(t reflect.Type) []string {
	var out []string
	for i := range t.NumField() {
		if name := yamlName(t.Field(i)); name != "" {
			out = append(out, name)
		}
	}
	return out
}

func yamlName(f reflect.StructField) string {
	name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
	if name == "-" || !f.IsExported() {
		return ""
	}
	return name
}

// plainKey is a key that can stand in a field path as written.
var plainKey = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// KeyPath is the path of key under path: "spec.models.local", or `spec.models["a b"]` for a key that is not
// plain.
func KeyPath(path, key string) string {
	if !plainKey.MatchString(key) {
		return path + "[" + strconv.Quote(key) + "]"
	}
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
