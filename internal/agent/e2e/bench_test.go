package e2e

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/agops/agops/internal/agent/activities"
	"github.com/agops/agops/internal/agent/runs"
	"github.com/agops/agops/internal/agent/worker"
	"github.com/agops/agops/internal/llmtest"
)

const benchTeam = `apiVersion: agops.dev/v1alpha1
kind: AgentTeam
metadata: {name: bench}
spec:
  models:
    m: {baseURL: MODEL_URL, model: scripted}
  agents:
    - name: %s
      role: works
      instructions: %s
      tools: [%s]
      maxTurns: %d
  flow:
    sequence: [%[1]s]
  limits: {continueAsNewTurns: 1000}
`

// BenchmarkRuns measures durable runs on the embedded Temporal server (SQLite), worker in process:
//   - one-turn: runs of a one-agent team with a single model call, one after the other and 16 at a time (runs/s;
//     ns/op means nothing for the concurrent case);
//   - tool-turns: an agent making 50 tool calls, through the gateway and straight to the tool server; the
//     difference per call is the gateway's cost inside a run (ms/turn).
//
// go test ./internal/agent/e2e -run XXX -bench Runs -benchtime 20x
func BenchmarkRuns(b *testing.B) {
	l := newLab(b, llmtest.Script{
		{Agent: "You answer at once", Content: "ok"},
		{Agent: "You call tools", ToolCalls: []llmtest.Call{{Name: "tools__echo", Args: `{"text":"x"}`}}},
	})
	w := worker.New(l.client, l.activities(), worker.Options{MaxConcurrentActivities: 64})
	if err := w.Start(); err != nil {
		b.Fatal(err)
	}
	defer w.Stop()
	one := l.team(fmt.Sprintf(benchTeam, "one", "You answer at once.", "", 10))
	ctx := context.Background()
	run := func(b *testing.B) {
		id, err := runs.Start(ctx, l.client, one, "go", runs.StartOptions{})
		if err == nil {
			_, err = runs.Result(ctx, l.client, id)
		}
		if err != nil {
			b.Error(err)
		}
	}
	b.Run("one-turn/sequential", func(b *testing.B) {
		start := time.Now()
		for b.Loop() {
			run(b)
		}
		b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "runs/s")
	})
	b.Run("one-turn/16-at-a-time", func(b *testing.B) {
		start := time.Now()
		sem := make(chan struct{}, 16)
		var wg sync.WaitGroup
		for b.Loop() {
			sem <- struct{}{}
			wg.Add(1)
			go func() {
				defer wg.Done()
				run(b)
				<-sem
			}()
		}
		wg.Wait()
		b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "runs/s")
	})
	caller := l.team(fmt.Sprintf(benchTeam, "caller", "You call tools.", "tools/echo", 50))
	direct := l.activities()
	direct.Tools = &activities.Gateway{BaseURL: l.tools.URL}
	for _, c := range []struct {
		name string
		acts *activities.Activities
	}{{"gateway", nil}, {"direct", direct}} {
		b.Run("tool-turns/"+c.name, func(b *testing.B) {
			queue := "bench-" + c.name
			if c.acts != nil {
				w := worker.New(l.client, c.acts, worker.Options{TaskQueue: queue})
				if err := w.Start(); err != nil {
					b.Fatal(err)
				}
				defer w.Stop()
			} else {
				queue = ""
			}
			var took time.Duration
			for b.Loop() {
				start := time.Now()
				id, err := runs.Start(ctx, l.client, caller, "go", runs.StartOptions{TaskQueue: queue})
				if err == nil {
					_, err = runs.Result(ctx, l.client, id)
				}
				if err != nil {
					b.Fatal(err)
				}
				took += time.Since(start)
			}
			b.ReportMetric(float64(took.Milliseconds())/float64(b.N)/50, "ms/turn")
		})
	}
}
