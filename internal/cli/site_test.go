package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/agops/agops/internal/report"
)

// TestMigrateSitePlan: agops migrate --cluster writes the site plan into report.md and report.json, and refuses a
// mirror that differs from the cluster's and a folder that is not a cluster folder.
func TestMigrateSitePlan(t *testing.T) {
	t.Parallel()
	tmp := t.TempDir()
	siteDir, out := filepath.Join(tmp, "site"), filepath.Join(tmp, "out")
	file := filepath.Join(repoRoot(t), "examples", "ai-lab", "compose.yaml")
	r := run(t, "cluster", "init", "--distro", "k3s", "--node", "gpu-1=10.0.0.11", "--node", "cpu-1=10.0.0.12", "--node", "cpu-2=10.0.0.13",
		"--vip", "10.0.0.10", "--airgap", "--registry-mirror", "registry.lab:5000/mirror", "--accelerator", "gpu-1=nvidia", "-o", siteDir)
	if r.code != exitOK {
		t.Fatalf("cluster init: exit %d\n%s", r.code, r.stderr)
	}
	r = run(t, "migrate", "-f", file, "-o", out, "--cluster", siteDir)
	if r.code != exitOK {
		t.Fatalf("migrate --cluster: exit %d\n%s", r.code, r.stderr)
	}
	md, err := os.ReadFile(filepath.Join(out, "report.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"## Site plan", "| gpu-1 | 10.0.0.11 |", "sudo ./gpu-1/install.sh", "agops apply " + out + " --overlay ha",
		"no --bundle was given"} {
		if !strings.Contains(string(md), want) {
			t.Errorf("report.md lacks %q", want)
		}
	}
	js, err := os.ReadFile(filepath.Join(out, "report.json"))
	if err != nil {
		t.Fatal(err)
	}
	var rep report.Report
	if err := json.Unmarshal(js, &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Site == nil || len(rep.Site.Machines) != 4 || len(rep.Site.Steps) < 8 {
		t.Fatalf("report.json site: %+v", rep.Site)
	}

	r = run(t, "migrate", "-f", file, "-o", filepath.Join(tmp, "out2"), "--cluster", siteDir, "--registry-mirror", "other.lab:5000")
	if r.code == exitOK || !strings.Contains(r.stderr, "pulls through registry.lab:5000/mirror") {
		t.Errorf("a different mirror: exit %d\n%s", r.code, r.stderr)
	}
	if _, err := os.Stat(filepath.Join(tmp, "out2")); !os.IsNotExist(err) {
		t.Errorf("a refused migration wrote its output folder: %v", err)
	}
	r = run(t, "migrate", "-f", file, "-o", filepath.Join(tmp, "out3"), "--cluster", tmp)
	if r.code == exitOK || !strings.Contains(r.stderr, "agops cluster init") {
		t.Errorf("not a cluster folder: exit %d\n%s", r.code, r.stderr)
	}
}
