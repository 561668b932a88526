// Package worker assembles an agops worker: a Temporal worker on the agent task queue with the team workflows and
// the activities registered under their stable names. `agops worker`, `agops dev` and the tests build theirs here,
// so that every worker registers the same things.
package worker

import (
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/agops/agops/internal/agent"
	"github.com/agops/agops/internal/agent/activities"
	"github.com/agops/agops/internal/agent/workflows"
	"github.com/agops/agops/internal/telemetry"
)

// Options tune a worker.
type Options struct {
	TaskQueue string // default agent.TaskQueue
	// MaxConcurrentActivities bounds the model and tool calls in flight (default 16).
	MaxConcurrentActivities int
	Identity                string // shown in Temporal (default: the SDK's host@pid)
	// StickyTimeout is how long a run's next step waits for the worker that has it cached before any worker takes
	// it (default 2 s; Temporal's own default is 5 s): a dead worker's runs move on after this.
	StickyTimeout time.Duration
}

// New returns a worker (not started) for c with acts.
func New(c client.Client, acts *activities.Activities, o Options) worker.Worker {
	if o.TaskQueue == "" {
		o.TaskQueue = agent.TaskQueue
	}
	if o.MaxConcurrentActivities == 0 {
		o.MaxConcurrentActivities = 16
	}
	if o.StickyTimeout == 0 {
		o.StickyTimeout = 2 * time.Second
	}
	wo := worker.Options{
		MaxConcurrentActivityExecutionSize: o.MaxConcurrentActivities,
		Identity:                           o.Identity,
		StickyScheduleToStartTimeout:       o.StickyTimeout,
	}
	// Every workflow and activity is a span of its run's trace (docs/telemetry.md); nothing is made while no
	// TracerProvider is installed. The interceptor is never refused: its constructor has no failure of its own.
	if ti, err := telemetry.TemporalInterceptor(); err == nil {
		wo.Interceptors = []interceptor.WorkerInterceptor{ti}
	}
	w := worker.New(c, o.TaskQueue, wo)
	Register(w, acts)
	return w
}

// Register adds the workflows and activities to r under their agent.* names.
func Register(r worker.Registry, acts *activities.Activities) {
	r.RegisterWorkflowWithOptions(workflows.TeamRun, workflow.RegisterOptions{Name: agent.TeamRunWorkflow})
	r.RegisterWorkflowWithOptions(workflows.AgentTask, workflow.RegisterOptions{Name: agent.AgentTaskWorkflow})
	if acts != nil {
		acts.Register(r)
	}
}
