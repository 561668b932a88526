package k8s_test

import (
	"fmt"
	"strings"
	"testing"

	yaml "go.yaml.in/yaml/v2"

	"github.com/agops/agops/internal/render/k8s"
)

func TestEncode(t *testing.T) {
	t.Parallel()
	for _, v := range []k8s.Variant{k8s.Base, k8s.HA} {
		for _, it := range render(t, shop(), k8s.Options{Variant: v, InlineSecrets: true}) {
			id := fmt.Sprintf("%s: %s %s", v, it.Object.GetObjectKind().GroupVersionKind().Kind, it.Object.GetName())
			b, err := k8s.Encode(it.Object)
			if err != nil {
				t.Fatalf("%s: %v", id, err)
			}
			s := string(b)
			if strings.Contains(s, "creationTimestamp") {
				t.Errorf("%s: output has creationTimestamp:\n%s", id, s)
			}
			var doc yaml.MapSlice
			if err := yaml.Unmarshal(b, &doc); err != nil {
				t.Fatalf("%s: output is not YAML: %v", id, err)
			}
			for _, item := range doc {
				if item.Key == "status" {
					t.Errorf("%s: output has status", id)
				}
			}
			checkTree(t, id, "", doc)
		}
	}
}

// checkTree checks that mapping keys are sorted and that no number is a float, at every level.
func checkTree(t *testing.T, id, at string, v any) {
	t.Helper()
	switch n := v.(type) {
	case yaml.MapSlice:
		for i, item := range n {
			k := fmt.Sprint(item.Key)
			if i > 0 && fmt.Sprint(n[i-1].Key) >= k {
				t.Errorf("%s: keys at %s are not sorted: %v before %s", id, at, n[i-1].Key, k)
			}
			checkTree(t, id, at+"."+k, item.Value)
		}
	case []any:
		for i, e := range n {
			checkTree(t, id, fmt.Sprintf("%s[%d]", at, i), e)
		}
	case float64, float32:
		t.Errorf("%s: %s is the float %v, want an integer", id, at, n)
	}
}

func TestEncodeIntegers(t *testing.T) {
	t.Parallel()
	items := render(t, shop(), k8s.Options{Variant: k8s.HA})
	b, err := k8s.Encode(find(items, "Deployment", "web"))
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	for _, want := range []string{"replicas: 2\n", "terminationGracePeriodSeconds: 20\n", "containerPort: 8080\n", "tolerationSeconds: 30\n", "maxSkew: 1\n"} {
		if !strings.Contains(s, want) {
			t.Errorf("Deployment web does not contain %q:\n%s", want, s)
		}
	}
	if strings.Contains(s, "status:") {
		t.Errorf("Deployment web has a status:\n%s", s)
	}
}
