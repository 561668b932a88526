package realnodes

import (
	"context"
	"io"
	"path/filepath"
	"testing"
	"time"

	"github.com/agops/agops/internal/e2e/e2etest"
	"github.com/agops/agops/internal/migrate"
	"github.com/agops/agops/internal/plan/plantest"
	"github.com/agops/agops/internal/rehearse"
	"github.com/agops/agops/internal/testbed"
)

// TestRehearseExampleOnRealNodes is `agops rehearse -f examples/ai-lab/compose.yaml --overlay ha --nodes real
// --stand-ins`: on three nodes that run containers, every workload of the example is Ready by its real probes, the
// stand-ins measure every pair without a flaky one, and a client's connections through a replicated service keep
// being served by the surviving replica while a host dies; the measured matrix agrees with agops check's on every
// pair.
func TestRehearseExampleOnRealNodes(t *testing.T) {
	realNodes(t)
	root := e2etest.RepoRoot(t)
	file := filepath.Join(root, "examples", "ai-lab", "compose.yaml")
	o := migrate.Options{Plan: plantest.OptionsFile(t, filepath.Dir(file)), Stdout: io.Discard}
	o.Compose.Files = []string{file}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	nodes := append([]testbed.NodeSpec(nil), testbed.DefaultNodes...)
	nodes[0].GPUs = 1 // ollama asks for one
	rep, err := rehearse.Rehearse(ctx, rehearse.Plan{
		Migrate: o, Overlay: "ha", RealNodes: true, StandIns: true, HelperBinary: bin.StaticAgops(t, root),
		Testbed: []testbed.Option{testbed.WithNodes(nodes)},
		Options: rehearse.Options{Kill: "node-b", Ready: 6 * time.Minute, Recover: 3 * time.Minute},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Log("\n" + rep.Text())
	for _, s := range rep.Services {
		if s.Desired > 0 && s.Before < s.Desired {
			t.Errorf("%s %s: %d of %d ready before the kill", s.Workload.Kind, s.Workload.Name, s.Before, s.Desired)
		}
	}
	m := rep.Reachability
	if m == nil {
		t.Fatal("no measured matrix")
	}
	t.Logf("%d of %d pairs agree with agops check; %d unmeasured; disagreements %q", m.Agree, m.Pairs, m.Unmeasured, m.Disagreements)
	if m.Pairs == 0 || m.Agree != m.Pairs {
		t.Errorf("matrix of %d pairs: %d agree, %d disagree %q, %d unmeasured, flaky %q; want every pair measured and agreeing",
			m.Pairs, m.Agree, len(m.Disagreements), m.Disagreements, m.Unmeasured, m.Flaky)
	}
	tr := rep.Traffic
	if tr == nil {
		t.Fatal("no traffic measured during the kill")
	}
	t.Logf("traffic: %d of %d connections failed; longest outage %s; last failure %s after the kill", tr.Failed,
		tr.Requests, tr.LongestOutage, tr.LastFailure)
	if tr.Requests < 100 || tr.Failed*2 > tr.Requests || tr.LongestOutage > 30*time.Second {
		t.Errorf("traffic: %d of %d failed, longest outage %s; want the surviving replica to serve", tr.Failed,
			tr.Requests, tr.LongestOutage)
	}
}
