package reach

import (
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/agops/agops/internal/kube"
)

// FuzzNew feeds arbitrary YAML streams through kube.Decode, New, Matrix and its renderings: errors are fine,
// panics are not. Seeds: the golden manifests, the semantics test world, and the crashers in testdata/fuzz.
func FuzzNew(f *testing.F) {
	goldens, _ := filepath.Glob("testdata/golden/*/manifests.yaml")
	for _, g := range goldens {
		data, err := os.ReadFile(g)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte(world))
	f.Add([]byte(policyYAML("  podSelector: {matchExpressions: [{key: a, operator: NotIn, values: [b]}]}\n" +
		"  egress: [{to: [{ipBlock: {cidr: '::/0', except: ['::1/128']}}], ports: [{port: 1, endPort: 65535, protocol: SCTP}]}]\n")))
	f.Fuzz(func(t *testing.T, data []byte) {
		objs, err := kube.Decode(data)
		if err != nil {
			return
		}
		c, err := New(objs, Options{})
		if err != nil {
			return
		}
		m := c.Matrix()
		if err := m.Text(io.Discard); err != nil {
			t.Fatal(err)
		}
		if _, err := m.JSON(); err != nil {
			t.Fatal(err)
		}
		peers := c.Peers()
		for _, src := range peers {
			for _, dst := range peers {
				c.Allowed(src, dst, 53, "UDP")
			}
		}
	})
}
