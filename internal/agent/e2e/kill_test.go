package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/agops/agops/internal/agent/runs"
	"github.com/agops/agops/internal/audit"
	"github.com/agops/agops/internal/llmtest"
)

const scribeTeam = `apiVersion: agops.dev/v1alpha1
kind: AgentTeam
metadata: {name: scribe}
spec:
  models:
    m: {baseURL: MODEL_URL, model: scripted}
  agents:
    - name: scribe
      role: writes notes
      instructions: You are the scribe.
      tools: [tools/slow-note]
  flow:
    sequence: [scribe]
`

var scribeScript = llmtest.Script{
	{Agent: "You are the scribe", AfterTool: "tools__slow-note", Content: "done: {{last_tool}}"},
	{Agent: "You are the scribe", ToolCalls: []llmtest.Call{{Name: "tools__slow-note", Args: `{"text":"minutes"}`}}},
}

// workerArgs are the arguments of an `agops worker` process in the lab.
func (l *lab) workerArgs() []string {
	tokenFile := filepath.Join(l.dir, "worker.token")
	if _, err := os.Stat(tokenFile); err != nil {
		write(l.t, tokenFile, workerToken+"\n")
	}
	return []string{"worker", "--temporal", l.temporal.HostPort(), "--gateway", l.gwURL,
		"--gateway-token-file", tokenFile, "--transcripts", filepath.Join(l.dir, "transcripts")}
}

// TestWorkerKilledMidToolCall kills (SIGKILL) the only worker while a tool call is running; a second worker
// finishes the run. Every model call ran once and the tool acted once: the gateway kept the call going and gave the
// retry, which carries the same idempotency key, the recorded answer.
func TestWorkerKilledMidToolCall(t *testing.T) {
	t.Parallel()
	l := newLab(t, scribeScript)
	a := startAgops(t, "worker-a", l.workerArgs()...)
	a.waitLog("worker polling", time.Minute)
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	id, err := runs.Start(ctx, l.client, l.team(scribeTeam), "the meeting", runs.StartOptions{Heartbeat: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-l.tools.entered:
	case <-ctx.Done():
		t.Fatal("the tool call never reached the tool server")
	}
	killed := time.Now()
	a.kill()
	b := startAgops(t, "worker-b", l.workerArgs()...)
	b.waitLog("worker polling", time.Minute)
	res, err := runs.Result(ctx, l.client, id)
	if err != nil {
		t.Fatal(err)
	}
	if res.Output != "done: noted slowly: minutes" {
		t.Errorf("output %q", res.Output)
	}
	if n := l.tools.runs("slow-note"); n != 1 {
		t.Errorf("the tool acted %d times", n)
	}
	if l.model.Count() != 2 || l.model.Duplicates() != 0 {
		t.Errorf("model calls %d, of which %d repeated", l.model.Count(), l.model.Duplicates())
	}
	t.Logf("resume: the retried tool call reached the gateway %s after the kill; run done %s after it",
		l.retryAfter(killed), time.Since(killed).Round(time.Millisecond))
}

// retryAfter is the time from t to the first audit record of a keyed call after it (the retry reaching the gateway).
func (l *lab) retryAfter(t time.Time) time.Duration {
	f, err := os.Open(l.audit)
	if err != nil {
		l.t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<21)
	for sc.Scan() {
		var r audit.Record
		if json.Unmarshal(sc.Bytes(), &r) != nil {
			continue
		}
		if r.Time.After(t) && r.IdempotencyKey != "" && r.Event == "decision" {
			return r.Time.Sub(t).Round(time.Millisecond)
		}
	}
	l.t.Errorf("no keyed decision after the kill in the audit log")
	return 0
}
