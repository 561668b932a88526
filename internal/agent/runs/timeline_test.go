package runs

import (
	"context"
	"errors"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	failurepb "go.temporal.io/api/failure/v1"
	historypb "go.temporal.io/api/history/v1"
	workflowpb "go.temporal.io/api/workflow/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/agops/agops/internal/agent"
	"github.com/agops/agops/internal/agent/activities"
	"github.com/agops/agops/internal/agent/demo"
	"github.com/agops/agops/internal/agent/worker"
	"github.com/agops/agops/internal/devserver"
	"github.com/agops/agops/internal/devserver/embedded"
	"github.com/agops/agops/internal/team"
)

// TestTimelineOfRecordedHistories maps the histories the end-to-end runs recorded (internal/agent/workflows/
// testdata) and looks for the steps each is known to have.
func TestTimelineOfRecordedHistories(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		file     string
		children int
		want     []string // "kind: summary substring", in order
	}{
		{"sequence-run", 2, []string{"started: run of team lab started", "delegation: starts researcher's task",
			"task-ended: researcher answered", "delegation: starts writer's task", "ended: the run completed"}},
		{"sequence-researcher-gateway-approval", 0, []string{"started: researcher starts its task",
			"tools-listed: 2 tool(s)", "model-turn: model asks for tools__echo (15 tokens)", "tool-call: tools/echo: allowed",
			"tool-call: tools/deploy: held for approval ap_", "approval-wait: waits for a human to decide on ap_",
			"approval: ap_52a5d140c56e1485a1afded178446f9d approved by alice", "tool-call: tools/deploy: allowed",
			"model-turn: model answers", "ended: researcher's task completed"}},
		{"approval-timeout-and-rejection", 0, []string{"approval-wait: ", "approval: no decision in time",
			"tool-call: tools__deploy: not called: denied: no approval within 2s",
			"approval-wait: waits for a human to decide on a call the team's spec gates", "approval: rejected by bob",
			"tool-call: tools__note: not called: denied: not today"}},
		{"lead-delegates", 2, []string{"started: lead starts its task", "delegation: delegates to researcher",
			"task-ended: researcher answered", "tool-call: delegate: the delegate's answer is recorded", "delegation: delegates to writer"}},
		{"continue-as-new-last-generation", 0, []string{"started: looper continues its task (generation 12)",
			"ended: looper's task stopped: turn limit reached"}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			t.Parallel()
			events, children := recorded(t, tc.file)
			if len(children) != tc.children {
				t.Errorf("children %v, want %d", children, tc.children)
			}
			wantInOrder(t, events, tc.want)
		})
	}
}

func recorded(t *testing.T, name string) ([]Event, []string) {
	t.Helper()
	base := filepath.Join("..", "workflows", "testdata", "histories", name)
	f, err := os.Open(base + ".json")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h, err := client.HistoryFromJSON(f, client.HistoryJSONOptions{})
	if err != nil {
		t.Fatal(err)
	}
	id, err := os.ReadFile(base + ".id")
	if err != nil {
		t.Fatal(err)
	}
	return historyEvents(strings.TrimSpace(string(id)), h.GetEvents())
}

// wantInOrder wants each "kind: substring" to match an event after the previous one's.
func wantInOrder(t *testing.T, events []Event, want []string) {
	t.Helper()
	at := 0
	for _, w := range want {
		kind, text, _ := strings.Cut(w, ": ")
		i := slices.IndexFunc(events[at:], func(e Event) bool {
			return e.Kind == kind && strings.Contains(e.Summary+"\n"+e.Detail, text)
		})
		if i < 0 {
			t.Fatalf("no %q after event %d in:\n%s", w, at, dump(events))
		}
		at += i + 1
	}
}

func dump(events []Event) string {
	var b strings.Builder
	for _, e := range events {
		b.WriteString(e.Time.Format("15:04:05.000") + " [" + e.Agent + "] " + e.Kind + ": " + e.Summary + "\n")
		if e.Detail != "" {
			b.WriteString("    " + strings.ReplaceAll(e.Detail, "\n", "\n    ") + "\n")
		}
	}
	return b.String()
}

// TestTimelineRetryAfterWorkerDied: a tool call whose worker died twice (heartbeat timeouts) and succeeded on the
// third attempt, in a hand-built history; its arguments hold a credential.
func TestTimelineRetryAfterWorkerDied(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)
	at := func(s int) *timestamppb.Timestamp { return timestamppb.New(t0.Add(time.Duration(s) * time.Second)) }
	h := []*historypb.HistoryEvent{
		{EventId: 1, EventTime: at(0), EventType: enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED,
			Attributes: &historypb.HistoryEvent_WorkflowExecutionStartedEventAttributes{WorkflowExecutionStartedEventAttributes: &historypb.WorkflowExecutionStartedEventAttributes{
				WorkflowType: &commonpb.WorkflowType{Name: agent.AgentTaskWorkflow},
				Input:        payloads(t, agent.TaskInput{Agent: "researcher", Task: "look"}),
			}}},
		{EventId: 5, EventTime: at(1), EventType: enumspb.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED,
			Attributes: &historypb.HistoryEvent_ActivityTaskScheduledEventAttributes{ActivityTaskScheduledEventAttributes: &historypb.ActivityTaskScheduledEventAttributes{
				ActivityType: &commonpb.ActivityType{Name: agent.ToolCallActivity},
				Input: payloads(t, agent.ToolCallInput{Server: "tools", Tool: "fetch",
					Arguments: `{"url":"https://example.com/a/very/long/path/that/goes/on","api_key":"abc","note":"sk-live-0123456789abcdef"}`}),
			}}},
		{EventId: 6, EventTime: at(40), EventType: enumspb.EVENT_TYPE_ACTIVITY_TASK_STARTED,
			Attributes: &historypb.HistoryEvent_ActivityTaskStartedEventAttributes{ActivityTaskStartedEventAttributes: &historypb.ActivityTaskStartedEventAttributes{
				ScheduledEventId: 5, Attempt: 3, Identity: "worker-b",
				LastFailure: &failurepb.Failure{Message: "activity Heartbeat timeout",
					FailureInfo: &failurepb.Failure_TimeoutFailureInfo{TimeoutFailureInfo: &failurepb.TimeoutFailureInfo{TimeoutType: enumspb.TIMEOUT_TYPE_HEARTBEAT}}},
			}}},
		{EventId: 7, EventTime: at(41), EventType: enumspb.EVENT_TYPE_ACTIVITY_TASK_COMPLETED,
			Attributes: &historypb.HistoryEvent_ActivityTaskCompletedEventAttributes{ActivityTaskCompletedEventAttributes: &historypb.ActivityTaskCompletedEventAttributes{
				ScheduledEventId: 5, StartedEventId: 6, Result: payloads(t, agent.ToolCallResult{Content: "page: Bearer eyJhbGciOi.eyJzdWIiOiIx.sig"}),
			}}},
		{EventId: 8, EventTime: at(42), EventType: enumspb.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED,
			Attributes: &historypb.HistoryEvent_ActivityTaskScheduledEventAttributes{ActivityTaskScheduledEventAttributes: &historypb.ActivityTaskScheduledEventAttributes{
				ActivityType: &commonpb.ActivityType{Name: agent.ModelCallActivity}, Input: payloads(t, agent.ModelCallInput{}),
			}}},
		{EventId: 9, EventTime: at(50), EventType: enumspb.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT,
			Attributes: &historypb.HistoryEvent_ActivityTaskTimedOutEventAttributes{ActivityTaskTimedOutEventAttributes: &historypb.ActivityTaskTimedOutEventAttributes{
				ScheduledEventId: 8, Failure: &failurepb.Failure{Message: "activity StartToClose timeout",
					FailureInfo: &failurepb.Failure_TimeoutFailureInfo{TimeoutFailureInfo: &failurepb.TimeoutFailureInfo{TimeoutType: enumspb.TIMEOUT_TYPE_START_TO_CLOSE}}},
			}}},
		{EventId: 10, EventTime: at(51), EventType: enumspb.EVENT_TYPE_TIMER_STARTED,
			Attributes: &historypb.HistoryEvent_TimerStartedEventAttributes{TimerStartedEventAttributes: &historypb.TimerStartedEventAttributes{
				StartToFireTimeout: durationpb.New(time.Minute)}}},
		{EventId: 11, EventTime: at(52), EventType: enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED,
			Attributes: &historypb.HistoryEvent_WorkflowExecutionFailedEventAttributes{WorkflowExecutionFailedEventAttributes: &historypb.WorkflowExecutionFailedEventAttributes{
				Failure: &failurepb.Failure{Message: "model call of researcher", Cause: &failurepb.Failure{Message: "password=hunter2 rejected"}}}}},
	}
	events, _ := historyEvents("run-x/researcher-1", h)
	wantInOrder(t, events, []string{
		"started: researcher starts its task",
		"retry: tool call tried again: attempt 3",
		"tool-call: tools/fetch: allowed",
		"activity-failed: model call failed after 1 attempt(s)",
		"approval-wait: up to 1m0s",
		"ended: researcher's task failed",
	})
	retry := events[1]
	if !strings.Contains(retry.Detail, "heartbeat timeout: the worker stopped heartbeating") || !strings.Contains(retry.Detail, "worker: worker-b") ||
		!retry.Time.Equal(t0.Add(40*time.Second)) || retry.Agent != "researcher" || retry.Workflow != "run-x/researcher-1" {
		t.Errorf("retry event %+v", retry)
	}
	call := events[2]
	for _, secret := range []string{"abc", "sk-live", "eyJ", "hunter2", "goes/on"} {
		if strings.Contains(dump(events), secret) {
			t.Errorf("%q shows in the timeline:\n%s", secret, dump(events))
		}
	}
	if !strings.Contains(call.Detail, `"api_key":"***"`) || !strings.Contains(call.Detail, `"note":"***"`) || !strings.Contains(call.Detail, "attempts: 3") {
		t.Errorf("tool call detail:\n%s", call.Detail)
	}
	if !strings.Contains(events[3].Detail, "start-to-close timeout") {
		t.Errorf("activity failure detail: %s", events[3].Detail)
	}
}

func payloads(t *testing.T, v any) *commonpb.Payloads {
	t.Helper()
	p, err := converter.GetDefaultDataConverter().ToPayloads(v)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestMaskArgs(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want string }{
		{`{"text":"hi"}`, `{"text":"hi"}`},
		{`{"password":"x","Authorization":"y","n":3}`, `{"Authorization":"***","n":3,"password":"***"}`},
		{`{"q":"0123456789abcdef0123456789abcdef0123"}`, `{"q":"***"}`},
		{`{"q":"a sentence that is certainly longer than the cut"}`, `{"q":"a sentence that is certa…"}`},
		{`{"deep":{"deeper":{"ghp":"ghp_0123456789abcdefghij"}}}`, `{"deep":{"deeper":{"ghp":"***"}}}`},
		{`[1,2,3,4,5,6]`, `[1,2,3,4,"…"]`},
		{`not json`, `(not JSON)`},
		{``, ``},
	} {
		if got := maskArgs(tc.in); got != tc.want {
			t.Errorf("maskArgs(%s) = %s, want %s", tc.in, got, tc.want)
		}
	}
	if got := maskText("deploy v2 of sha1 at 2026, token: abc123 and AKIAABCDEFGHIJKLMNOP"); got != "deploy v2 of sha1 at 2026, *** and ***" {
		t.Errorf("maskText: %q", got)
	}
}

func TestTemporalUILink(t *testing.T) {
	t.Parallel()
	if got := TemporalUILink("http://ui:8233/", "", "run-lab-1/researcher-1"); got != "http://ui:8233/namespaces/default/workflows/run-lab-1%2Fresearcher-1" {
		t.Errorf("link %s", got)
	}
	if TemporalUILink("", "ns", "x") != "" {
		t.Error("a link without a UI")
	}
}

// liveTeam is a lead that delegates to a researcher with two tools, on the demo model.
const liveTeam = `apiVersion: agops.dev/v1alpha1
kind: AgentTeam
metadata: {name: tl}
spec:
  models:
    m: {baseURL: MODEL_URL/v1, model: demo}
  agents:
    - name: lead
      role: leads
      instructions: You lead.
    - name: researcher
      role: researches
      instructions: You research.
      tools: [tools/echo, tools/deploy]
  flow:
    lead: {agent: lead, delegates: [researcher]}
  limits: {approvalTimeout: 2m, continueAsNewTurns: 2}
`

func TestPendingRetries(t *testing.T) {
	t.Parallel()
	started := time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)
	got := pendingEvents("run-x/researcher-1", "researcher", []*workflowpb.PendingActivityInfo{
		{ActivityType: &commonpb.ActivityType{Name: agent.ModelCallActivity}, Attempt: 1},
		{ActivityType: &commonpb.ActivityType{Name: agent.ToolCallActivity}, Attempt: 2, State: enumspb.PENDING_ACTIVITY_STATE_SCHEDULED,
			LastStartedTime: timestamppb.New(started), LastWorkerIdentity: "worker-a",
			LastFailure: &failurepb.Failure{Message: "activity Heartbeat timeout",
				FailureInfo: &failurepb.Failure_TimeoutFailureInfo{TimeoutFailureInfo: &failurepb.TimeoutFailureInfo{TimeoutType: enumspb.TIMEOUT_TYPE_HEARTBEAT}}}},
	})
	if len(got) != 1 || got[0].Kind != KindRetry || got[0].Summary != "tool call being retried: attempt 2 (scheduled)" ||
		!got[0].Time.Equal(started) || !strings.Contains(got[0].Detail, "heartbeat timeout") || !strings.Contains(got[0].Detail, "worker: worker-a") {
		t.Errorf("pending events %+v", got)
	}
}

// TestTimelineOfARun runs a team on an embedded Temporal server with the demo model: the lead delegates, the
// researcher's first echo fails (the gateway cannot be reached, so the activity is retried), its deploy is held
// for approval, alice approves it, and it continues as new before its last turn; the timeline shows all of it,
// and not the deploy's token.
func TestTimelineOfARun(t *testing.T) {
	t.Parallel()
	c := startTemporal(t)
	model := httptest.NewServer(demo.Handler())
	t.Cleanup(model.Close)
	tools := &fakeTools{}
	w := worker.New(c, &activities.Activities{Store: &activities.FileStore{Dir: t.TempDir()}, Tools: tools}, worker.Options{})
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)
	tm, err := team.Parse([]byte(strings.ReplaceAll(liveTeam, "MODEL_URL", model.URL)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	id, err := Start(ctx, c, tm, "what changed?", StartOptions{})
	if err != nil {
		t.Fatal(err)
	}
	req := waitPending(ctx, t, c, id)
	if err := c.SignalWorkflow(ctx, req.Workflow, "", agent.ApprovalSignal, agent.ApprovalDecision{ID: req.ID, Approve: true, By: "alice"}); err != nil {
		t.Fatal(err)
	}
	if _, err := Result(ctx, c, id); err != nil {
		t.Fatal(err)
	}
	events, err := Timeline(ctx, c, id)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("timeline of %s:\n%s", id, dump(events))
	wantInOrder(t, events, []string{
		"started: run of team tl started", "delegation: starts lead's task", "started: lead starts its task",
		"delegation: delegates to researcher", "started: researcher starts its task", "tools-listed: 2 tool(s)",
		"retry: tool call tried again: attempt 2", "tool-call: tools/echo: allowed", "tool-call: tools/deploy: held for approval ap_live",
		"approval-wait: ap_live", "approval: ap_live approved by alice", "tool-call: tools/deploy: allowed",
		"continued-as-new: continues as new", "started: researcher continues its task (generation 2)", "model-turn: model answers",
		"ended: researcher's task completed", "task-ended: researcher answered", "ended: lead's task completed", "ended: the run completed",
	})
	for i, e := range events {
		if i > 0 && e.Time.Before(events[i-1].Time) {
			t.Errorf("event %d is older than the one before", i)
		}
	}
	text := dump(events)
	if !strings.Contains(text, "the gateway is down") || !strings.Contains(text, `"token":"***"`) {
		t.Errorf("retry cause or masking:\n%s", text)
	}
	if !slices.ContainsFunc(events, func(e Event) bool {
		return e.Kind == KindModelTurn && e.Agent == "researcher" && strings.Contains(e.Summary, "tokens)")
	}) {
		t.Errorf("no model turn with tokens:\n%s", text)
	}
	if _, err := Timeline(ctx, c, "no-such-run"); err == nil || !strings.Contains(err.Error(), "no run no-such-run") {
		t.Errorf("unknown run: %v", err)
	}
}

func startTemporal(t *testing.T) client.Client {
	t.Helper()
	port, err := devserver.FreeBase()
	if err != nil {
		t.Fatal(err)
	}
	srv, err := embedded.Start(t.Context(), devserver.Options{DBFile: filepath.Join(t.TempDir(), "temporal.db"), Port: port})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Stop() })
	c, err := client.Dial(client.Options{HostPort: srv.HostPort(), Logger: devserver.QuietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func waitPending(ctx context.Context, t *testing.T, c client.Client, id string) agent.ApprovalRequest {
	t.Helper()
	for ctx.Err() == nil {
		v, err := Show(ctx, c, id)
		if err == nil && len(v.Pending) > 0 {
			return v.Pending[0]
		}
		if err == nil && v.State != "Running" {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	events, err := Timeline(context.Background(), c, id)
	t.Fatalf("no approval requested; the run so far (%v):\n%s", err, dump(events))
	return agent.ApprovalRequest{}
}

// fakeTools stands in for the gateway: echo fails once as if the gateway could not be reached, deploy is held
// for approval on its first call.
type fakeTools struct {
	mu    sync.Mutex
	calls map[string]int
}

func (f *fakeTools) List(context.Context, string) ([]*mcp.Tool, error) {
	schema := func(props ...string) map[string]any {
		p := map[string]any{}
		for _, n := range props {
			p[n] = map[string]any{"type": "string"}
		}
		return map[string]any{"type": "object", "properties": p, "required": props}
	}
	return []*mcp.Tool{
		{Name: "echo", Description: "echoes", InputSchema: schema("text")},
		{Name: "deploy", Description: "deploys", InputSchema: schema("version", "token")},
	}, nil
}

func (f *fakeTools) Call(_ context.Context, _, tool string, args map[string]any, _ string) (activities.Outcome, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.calls == nil {
		f.calls = map[string]int{}
	}
	f.calls[tool]++
	switch {
	case tool == "echo" && f.calls[tool] == 1:
		return activities.Outcome{}, errors.New("the gateway is down")
	case tool == "deploy" && f.calls[tool] == 1:
		return activities.Outcome{ApprovalID: "ap_live"}, nil
	case tool == "deploy":
		return activities.Outcome{Text: "deployed"}, nil
	}
	return activities.Outcome{Text: "echo: " + args["text"].(string)}, nil
}
