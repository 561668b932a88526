package apt

import (
	"slices"
	"testing"
)

func TestMissingNamesPackagesOnce(t *testing.T) {
	t.Parallel()
	got := Missing([]string{"go", "agops-no-such-a", "agops-no-such-b", "agops-no-such-c"},
		map[string]string{"agops-no-such-a": "pkg-x", "agops-no-such-b": "pkg-x"})
	if want := []string{"pkg-x", "agops-no-such-c"}; !slices.Equal(got, want) {
		t.Fatalf("Missing = %v, want %v (go is on PATH; a and b come from one package)", got, want)
	}
}
