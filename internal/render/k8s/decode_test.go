package k8s

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
)

// FuzzDecodeObject holds ToMap's JSON decoding equal to encoding/json's (UseNumber, numbers as int64 or float64).
func FuzzDecodeObject(f *testing.F) {
	for _, s := range []string{`{}`, `{"a":1,"b":[1,-2.5,1e300,9223372036854775808,"x",true,false,null,{}],"c":{"d":"e"}}`,
		`{"s":"\u003c\u2028é\"\\/\n","k\u0026":[]}`, `{"a":1,"a":2}`, ` {"a": 1 } `, `{"a":01}`, `{"a":"\ud800"}`,
		`{"a":"` + "\xff" + `"}`, `[1]`, `{"a":1}x`, `{"a":-}`, `{"a":1.}`, `{"metadata":{"creationTimestamp":null}}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.UseNumber()
		var want map[string]any
		wantErr := dec.Decode(&want)
		numbers(want)
		got, err := decodeObject(data)
		if (err != nil) != (wantErr != nil) {
			t.Fatalf("decodeObject(%q): error %v, encoding/json's %v", data, err, wantErr)
		}
		if err == nil && !reflect.DeepEqual(got, want) {
			t.Fatalf("decodeObject(%q) = %#v, encoding/json: %#v", data, got, want)
		}
	})
}
