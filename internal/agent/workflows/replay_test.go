package workflows

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/agops/agops/internal/agent"
)

// TestReplayRecordedHistories replays every history recorded by the end-to-end runs (internal/agent/e2e, with
// -update) against the workflow code as it is now: a change that makes the code take a different path for the same
// events — a non-deterministic change that would break runs in flight — fails here.
func TestReplayRecordedHistories(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob(filepath.Join("testdata", "histories", "*.json"))
	if err != nil || len(files) < 5 {
		t.Fatalf("recorded histories: %v (%d found)", err, len(files))
	}
	for _, f := range files {
		t.Run(strings.TrimSuffix(filepath.Base(f), ".json"), func(t *testing.T) {
			t.Parallel()
			r := worker.NewWorkflowReplayer()
			r.RegisterWorkflowWithOptions(TeamRun, workflow.RegisterOptions{Name: agent.TeamRunWorkflow})
			r.RegisterWorkflowWithOptions(AgentTask, workflow.RegisterOptions{Name: agent.AgentTaskWorkflow})
			h, err := client.HistoryFromJSON(mustOpen(t, f), client.HistoryJSONOptions{})
			if err != nil {
				t.Fatal(err)
			}
			id, err := os.ReadFile(strings.TrimSuffix(f, ".json") + ".id")
			if err != nil {
				t.Fatal(err)
			}
			// Each replay gets its own run ID: the SDK caches workflow executions process-wide by run ID, so parallel
			// replays under one run ID would step on each other's state.
			err = r.ReplayWorkflowHistoryWithOptions(nil, h, worker.ReplayWorkflowHistoryOptions{
				OriginalExecution: workflow.Execution{ID: strings.TrimSpace(string(id)), RunID: "replay-" + filepath.Base(f)}})
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}

func mustOpen(t *testing.T, path string) io.Reader {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}
