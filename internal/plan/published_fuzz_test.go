package plan_test

import (
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/agops/agops/internal/plan"
)

// FuzzParseLBPods: any --lb-pods or --lb-source value is refused with an error or read without panicking, and an
// accepted --lb-pods value reads back the same when written out again.
func FuzzParseLBPods(f *testing.F) {
	for _, s := range []string{"kube-system", "ingress-nginx:app.kubernetes.io/name=ingress-nginx,component=controller",
		"ns:k=", "ns:", ":k=v", "ns:a=b=c", "ns:k=v,k=w", "Ns", "ns:example.com/k=v", "0.0.0.0/0", "10.42.0.0/33"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		o := plan.DefaultOptions()
		o.LBPods, o.LBSources, o.NodeCIDRs = []string{s}, []string{s}, []string{s}
		_ = plan.CheckPublishedOptions(o)
		ns, labels, err := plan.ParseLBPods(s)
		if err != nil {
			return
		}
		again := ns
		if labels != nil {
			var kv []string
			for _, k := range slices.Sorted(maps.Keys(labels)) {
				kv = append(kv, k+"="+labels[k])
			}
			again += ":" + strings.Join(kv, ",")
		}
		ns2, labels2, err := plan.ParseLBPods(again)
		if err != nil || ns2 != ns || !maps.Equal(labels, labels2) {
			t.Errorf("%q read as %q %v, written %q, read back %q %v (%v)", s, ns, labels, again, ns2, labels2, err)
		}
	})
}
