// Package plantest holds test helpers for packages that plan projects from testdata.
package plantest

import (
	"bytes"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/agops/agops/internal/plan"
)

// OptionsFile is the default plan options with the fields dir/plan.json sets, by their Go names ({"WithTemporal":
// true} for --with-temporal). Golden projects carry a plan.json when they need a flag; without one the defaults are
// returned. Unknown fields fail the test.
func OptionsFile(t testing.TB, dir string) plan.Options {
	t.Helper()
	o := plan.DefaultOptions()
	path := filepath.Join(dir, "plan.json")
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return o
	}
	if err == nil {
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		err = dec.Decode(&o)
	}
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return o
}
