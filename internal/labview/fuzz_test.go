package labview

import (
	"encoding/json"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/agops/agops/internal/check/reach"
	"github.com/agops/agops/internal/kube"
)

// small keeps the example's report without its decisions (a seed the fuzzer can mutate quickly).
func small(f *testing.F, data []byte) []byte {
	rep, err := DecodeReport(data)
	if err != nil {
		f.Fatal(err)
	}
	for i := range rep.Services {
		rep.Services[i].Decisions = nil
	}
	rep.ProjectKeys = nil
	out, err := json.Marshal(rep)
	if err != nil {
		f.Fatal(err)
	}
	return out
}

// exampleMatrix is the reachability matrix and replica counts of the example's ha overlay, computed once.
var exampleMatrix = sync.OnceValues(func() (func() (reach.Matrix, map[string]int32), error) {
	objs, err := kube.Load(filepath.Join(example, "overlays", "ha"), "")
	if err != nil {
		return nil, err
	}
	cluster, err := reach.New(objs, reach.Options{})
	if err != nil {
		return nil, err
	}
	m, replicas := cluster.Matrix(), replicasOf(objs)
	return func() (reach.Matrix, map[string]int32) { return m, replicas }, nil
})

// FuzzLoad feeds report.json bytes through what Load does with them: decoding, joining with the example's
// manifests (their matrix computed once), and drawing. Whatever the report says, Load either refuses it or draws
// well-formed XML with the manifests' workloads.
func FuzzLoad(f *testing.F) {
	data, err := os.ReadFile(filepath.Join(example, "report.json"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(small(f, data))
	f.Add([]byte(`{"project": "p", "verdict": "ready"}`))
	f.Add([]byte(`{"project": "<&>", "verdict": "]]>", "namespaces": [{"name": "ai-lab-web", "tier": "\u0000"}, {"name": "ai-lab-web"}],` +
		`"services": [{"service": "x", "workload": "web", "namespace": "ai-lab-web"}], "needsInput": [{"key": "k"}]}`))
	matrix, err := exampleMatrix()
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		rep, err := DecodeReport(data)
		if err != nil {
			return
		}
		m, replicas := matrix()
		for _, max := range []int{DefaultMaxDetailed, 3} {
			lab := assemble(rep, m, replicas, options{maxDetailed: max})
			if lab.WorkloadCount() != 12 {
				t.Fatalf("%d workloads, want the manifests' 12 whatever the report says", lab.WorkloadCount())
			}
			wellFormed(t, lab.SVG())
		}
	})
}
