package e2e

import (
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/agops/agops/internal/audit"
	"github.com/agops/agops/internal/devserver"
	"github.com/agops/agops/internal/mcptest"
)

// TestNewcomerRunsTheExampleTeam does what docs/agents.md tells a newcomer, with the real MCP reference server from
// npm behind the gateway: `agops dev` with the example's policy and the demo model, `agops run` of the example team,
// `agops runs approve` when the run asks, and the run finishes; the audit log verifies.
func TestNewcomerRunsTheExampleTeam(t *testing.T) {
	t.Parallel()
	everything := mcptest.StartEverything(t)
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(file), "..", "..", "..")
	state := filepath.Join(t.TempDir(), "dev")
	port, err := devserver.FreeBase()
	if err != nil {
		t.Fatal(err)
	}
	temporal := "127.0.0.1:" + strconv.Itoa(port)
	admin := freeAddr(t)
	dev := startAgops(t, "dev", "dev", "--state", state, "--port", strconv.Itoa(port),
		"--policy", filepath.Join(root, "examples", "ai-lab", "policy.yaml"), "--upstream", "mcp-tools="+everything.URL,
		"--demo-model", "--gateway-listen", freeAddr(t), "--gateway-admin-listen", admin, "--console-listen", freeAddr(t))
	dev.waitLog("dev ready", 2*time.Minute)

	run := startAgops(t, "run", "run", filepath.Join(root, "examples", "ai-lab", "team.yaml"),
		"--input", "What is 20 plus 22?", "--temporal", temporal)
	run.waitLog("approve: agops runs approve", 2*time.Minute)
	m := regexp.MustCompile(`agops runs approve (\S+) (ap_\S+)`).FindStringSubmatch(run.output())
	if m == nil {
		t.Fatalf("no approval command in:\n%s", run.output())
	}
	approve := startAgops(t, "approve", "runs", "approve", m[1], m[2], "--token-file", filepath.Join(state, "admin-tokens"),
		"--temporal", temporal, "--gateway-admin", "http://"+admin)
	if err := approve.wait(time.Minute); err != nil {
		t.Fatalf("agops runs approve: %v\n%s", err, approve.output())
	}
	if err := run.wait(2 * time.Minute); err != nil {
		t.Fatalf("agops run: %v\n%s", err, run.output())
	}
	out := run.output()
	for _, want := range []string{"→ researcher started", "⏸ researcher waits for approval", "✓ researcher answered",
		"✓ writer answered", "Answer (demo model)"} {
		if !strings.Contains(out, want) {
			t.Errorf("agops run's output lacks %q:\n%s", want, out)
		}
	}
	t.Logf("agops run printed:\n%s", out)
	sum, err := audit.VerifyFile(filepath.Join(state, "audit.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"approved=1", "allow=3"} {
		if !strings.Contains(sum.String(), want) {
			t.Errorf("audit summary lacks %s:\n%s", want, sum)
		}
	}
	transcripts, _ := os.ReadDir(filepath.Join(state, "transcripts"))
	if len(transcripts) != 2 {
		t.Errorf("%d transcripts, want 2 (researcher, writer)", len(transcripts))
	}
}
