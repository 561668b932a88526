package labview

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/agops/agops/internal/migrate"
	"github.com/agops/agops/internal/plan"
)

func TestExampleLab(t *testing.T) {
	t.Parallel()
	lab, err := Load(example)
	if err != nil {
		t.Fatal(err)
	}
	if lab.Project != "ai-lab" || lab.Overlay != "ha" || lab.Collapsed {
		t.Errorf("project %q overlay %q collapsed %v, want ai-lab, ha, false", lab.Project, lab.Overlay, lab.Collapsed)
	}
	var tiers []string
	for _, tier := range lab.Tiers {
		tiers = append(tiers, tier.Name+"="+tier.Namespace+fmt.Sprint(len(tier.Workloads)))
	}
	if want := []string{"web=ai-lab-web1", "ai-lab=ai-lab-ai-lab9", "data=ai-lab-data2"}; !slices.Equal(tiers, want) {
		t.Errorf("tiers %v, want %v (the report's order)", tiers, want)
	}
	api := find(t, lab, "ai-lab-ai-lab/api")
	if api.Kind != "Deployment" || api.Replicas != 2 || !slices.Equal(api.Ports, []string{"8000/TCP"}) || !slices.Equal(api.Services, []string{"api"}) {
		t.Errorf("api = %+v, want a Deployment of 2 (the ha overlay) on 8000/TCP from service api", api)
	}
	for _, want := range []Connection{
		{From: "ai-lab-ai-lab/api", To: "ai-lab-data/postgres", Ports: []string{"5432/TCP"}},
		{From: Outside, To: "ai-lab-web/web", Ports: []string{"80/TCP"}, Via: "web-public"},
		{From: "ai-lab-ai-lab/api", To: Outside, Ports: []string{"any"}},
		{From: "ai-lab-web/web", To: "ai-lab-ai-lab/api", Ports: []string{"8000/TCP"}},
	} {
		if !slices.ContainsFunc(lab.Connections, func(c Connection) bool {
			return c.From == want.From && c.To == want.To && c.Via == want.Via && slices.Equal(c.Ports, want.Ports)
		}) {
			t.Errorf("no connection %+v", want)
		}
	}
	for _, c := range lab.Connections {
		if c.From == c.To || strings.Contains(c.To, "kube-dns") || strings.Contains(c.From, "svclb") {
			t.Errorf("connection %+v should be left out", c)
		}
		if c.From == "ai-lab-web/web" && c.To != "ai-lab-ai-lab/api" && c.To != Outside {
			t.Errorf("the web tier reaches more than the API: %+v", c)
		}
	}
	r := lab.Report
	if r.Verdict != "needs input" || r.Counts.NeedsInput != 1 || len(r.NeedsInput) != 1 || r.NeedsInput[0].Key != "gateway:admin" {
		t.Errorf("report summary %+v: want verdict needs input and the gateway's admin Secret as the one need", r)
	}
	if len(r.Services) != 12 || len(r.Secrets) == 0 {
		t.Errorf("%d services and %d secrets in the summary, want 12 and some", len(r.Services), len(r.Secrets))
	}
}

func find(t *testing.T, lab *Lab, id string) Workload {
	t.Helper()
	for _, tier := range lab.Tiers {
		for _, w := range tier.Workloads {
			if w.ID == id {
				return w
			}
		}
	}
	t.Fatalf("no workload %s", id)
	return Workload{}
}

func TestOverlays(t *testing.T) {
	t.Parallel()
	lab, err := Load(example, WithOverlay("single-node"))
	if err != nil {
		t.Fatal(err)
	}
	if api := find(t, lab, "ai-lab-ai-lab/api"); lab.Overlay != "single-node" || api.Replicas != 1 {
		t.Errorf("single-node overlay %q: api has %d replicas, want 1", lab.Overlay, api.Replicas)
	}
	lab, err = Load(example, WithOverlay("no-such-overlay"))
	if err != nil {
		t.Fatal(err)
	}
	if lab.Overlay != "" {
		t.Errorf("an overlay the folder lacks reads as %q, want the base (\"\")", lab.Overlay)
	}
}

func TestCollapsedPerTierPair(t *testing.T) {
	t.Parallel()
	lab, err := Load(example, WithMaxDetailed(5))
	if err != nil {
		t.Fatal(err)
	}
	if !lab.Collapsed {
		t.Fatal("12 workloads with at most 5 drawn in detail: not collapsed")
	}
	svg := lab.SVG()
	wellFormed(t, svg)
	if !bytes.Contains(svg, []byte("one arrow per pair of tiers")) {
		t.Error("the collapsed picture does not say that it is collapsed")
	}
	total := 0
	for _, tl := range lab.TierLinks {
		total += tl.Count
	}
	if total != len(lab.Connections) {
		t.Errorf("tier links count %d connections, want %d", total, len(lab.Connections))
	}
	if n := bytes.Count(svg, []byte("marker-end=")); n != len(lab.TierLinks) {
		t.Errorf("%d arrows drawn, want one per tier pair (%d)", n, len(lab.TierLinks))
	}
}

// TestLargeProjectStaysBounded draws a project of 2,000 workloads in 4 tiers, fully connected within each tier.
func TestLargeProjectStaysBounded(t *testing.T) {
	t.Parallel()
	lab := &Lab{Project: "big", MaxDetailed: DefaultMaxDetailed}
	for i := range 4 {
		ns := fmt.Sprintf("big-t%d", i)
		tier := Tier{Name: fmt.Sprint("t", i), Namespace: ns}
		for j := range 500 {
			tier.Workloads = append(tier.Workloads, Workload{ID: fmt.Sprintf("%s/w%d", ns, j), Namespace: ns, Name: fmt.Sprint("w", j), Kind: "Deployment", Replicas: 1})
		}
		lab.Tiers = append(lab.Tiers, tier)
		for j := range 500 {
			for k := range 20 {
				lab.Connections = append(lab.Connections, Connection{From: fmt.Sprintf("%s/w%d", ns, j), To: fmt.Sprintf("%s/w%d", ns, (j+k+1)%500), Ports: []string{"80/TCP"}})
			}
		}
	}
	lab.TierLinks = tierLinks(lab.Connections)
	lab.Collapsed = lab.WorkloadCount() > lab.MaxDetailed
	svg := lab.SVG()
	wellFormed(t, svg)
	if len(svg) > 64<<10 {
		t.Errorf("the SVG of 2,000 workloads and 40,000 connections is %d bytes: not bounded", len(svg))
	}
	if !bytes.Contains(svg, []byte("… and 470 more")) {
		t.Error("a tier of 500 workloads does not say how many it leaves unnamed")
	}
}

func TestNotAMigrationOutput(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return filepath.Dir(p)
	}
	file := filepath.Join(write("a-file/x", "x"), "x")
	noReport := write("empty/README", "")
	badJSON := write("bad-json/report.json", "{")
	notReport := write("not-report/report.json", `{"kind": "Deployment", "namespaces": [{}]}`)
	noBase := write("no-base/report.json", `{"project": "p", "verdict": "ready"}`)
	for _, c := range []struct {
		name, dir, want string
	}{
		{"invalid-missing", filepath.Join(dir, "nope"), "no such file"},
		{"invalid-file", file, "a file, not the folder"},
		{"invalid-no-report", noReport, "no report.json"},
		{"invalid-json", badJSON, "does not decode"},
		{"invalid-report", notReport, "no project; no verdict; namespaces[0] has no name"},
		{"invalid-no-base", noBase, "no base/kustomization.yaml"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			_, err := Load(c.dir)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Load(%s) = %v, want an error saying %q", c.dir, err, c.want)
			}
			if c.name != "invalid-missing" && !errors.Is(err, ErrNotMigration) {
				t.Errorf("%v does not wrap ErrNotMigration", err)
			}
		})
	}
}

// TestTodaysMigration runs agops migrate on the shipped example and loads what it wrote, so the checked-in copy
// in testdata cannot hide a change of the output's layout.
func TestTodaysMigration(t *testing.T) {
	t.Parallel()
	out := filepath.Join(t.TempDir(), "out")
	o := migrate.Options{Plan: plan.DefaultOptions(), Format: migrate.FormatFiles, Out: out, Stdout: io.Discard}
	o.Compose.Files = []string{filepath.Join("..", "..", "examples", "ai-lab", "compose.yaml")}
	if _, err := migrate.Run(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	lab, err := Load(out)
	if err != nil {
		t.Fatal(err)
	}
	if lab.WorkloadCount() < 10 || len(lab.Connections) < 20 {
		t.Errorf("today's migration of the example gives %d workloads and %d connections", lab.WorkloadCount(), len(lab.Connections))
	}
	wellFormed(t, lab.SVG())
}
