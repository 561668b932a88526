package waitfor

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/agops/agops/internal/kubeclient"
)

const ns = "lab"

// waitCase is one wait run against a fake cluster: the objects present at the start, and a change applied once
// the wait has polled twice without finishing (nil: no change, the wait runs until its short deadline).
type waitCase struct {
	name          string
	initial       []runtime.Object
	later         func(ctx context.Context, c kubeclient.Interface) error
	untilDeadline bool   // the wait must run until a short deadline and fail with it
	wantErr       string // substring of the error; empty: the wait must succeed
	wantJobFailed bool   // the error must be a *JobFailedError
}

// run starts wait, applies tc.later after two polls of resource, and returns the wait's error.
func run(t *testing.T, tc waitCase, verb, resource string, wait func(context.Context, kubeclient.Interface) error) error {
	t.Helper()
	client := fake.NewClientset(tc.initial...)
	polls := countPolls(client, verb, resource)
	timeout := 30 * time.Second // a safety net only: no assertion reads the clock
	if tc.untilDeadline {
		timeout = 100 * time.Millisecond
	}
	ctx, cancel := context.WithTimeout(t.Context(), timeout)
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- wait(ctx, client) }()
	if tc.later == nil {
		return <-errc
	}
	for range 2 {
		select {
		case <-polls:
		case err := <-errc:
			t.Fatalf("wait returned before the change was applied: %v", err)
		}
	}
	if err := tc.later(ctx, client); err != nil {
		t.Fatalf("applying the change: %v", err)
	}
	return <-errc
}

// countPolls signals once per verb on resource, without handling the call.
func countPolls(c *fake.Clientset, verb, resource string) <-chan struct{} {
	ch := make(chan struct{}, 1024)
	c.PrependReactor(verb, resource, func(k8stesting.Action) (bool, runtime.Object, error) {
		select {
		case ch <- struct{}{}:
		default:
		}
		return false, nil, nil
	})
	return ch
}

func checkErr(t *testing.T, err error, want string) {
	t.Helper()
	switch {
	case want == "" && err != nil:
		t.Fatalf("wait: unexpected error: %v", err)
	case want != "" && err == nil:
		t.Fatalf("wait: got nil, want an error containing %q", want)
	case want != "" && !strings.Contains(err.Error(), want):
		t.Fatalf("wait: error %q does not contain %q", err, want)
	}
}

func slice(name, service string, ready ...*bool) *discoveryv1.EndpointSlice {
	s := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{discoveryv1.LabelServiceName: service}},
		AddressType: discoveryv1.AddressTypeIPv4,
	}
	for _, r := range ready {
		s.Endpoints = append(s.Endpoints, discoveryv1.Endpoint{Addresses: []string{"10.0.0.1"}, Conditions: discoveryv1.EndpointConditions{Ready: r}})
	}
	return s
}

func create(s *discoveryv1.EndpointSlice) func(context.Context, kubeclient.Interface) error {
	return func(ctx context.Context, c kubeclient.Interface) error {
		_, err := c.DiscoveryV1().EndpointSlices(ns).Create(ctx, s, metav1.CreateOptions{})
		return err
	}
}

func TestService(t *testing.T) {
	t.Parallel()
	yes, no := new(true), new(false)
	tests := []waitCase{
		{name: "valid-ready-endpoint-after-delay", later: create(slice("pg-1", "postgres", yes))},
		{name: "valid-nil-ready-counts-as-ready", later: create(slice("pg-1", "postgres", nil))},
		{name: "valid-ready-in-second-slice", initial: []runtime.Object{slice("pg-1", "postgres", no)},
			later: create(slice("pg-2", "postgres", no, yes))},
		{name: "valid-already-ready", initial: []runtime.Object{slice("pg-1", "postgres", yes)}},
		{name: "invalid-not-ready-until-deadline", initial: []runtime.Object{slice("pg-1", "postgres", no)},
			untilDeadline: true, wantErr: `service "postgres" to have a ready endpoint (last seen: 1 endpoint(s), none ready)`},
		{name: "invalid-missing-until-deadline", untilDeadline: true,
			wantErr: `service "postgres" to have a ready endpoint (last seen: no endpointslice yet)`},
		{name: "invalid-only-other-service-ready", initial: []runtime.Object{slice("redis-1", "redis", yes)},
			untilDeadline: true, wantErr: `service "postgres"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := run(t, tc, "list", "endpointslices", func(ctx context.Context, c kubeclient.Interface) error {
				return Service(ctx, c, ns, "postgres", WithInterval(time.Millisecond))
			})
			checkErr(t, err, tc.wantErr)
			if tc.untilDeadline && !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("error %v does not wrap context.DeadlineExceeded", err)
			}
		})
	}
}

func job(name string, conds ...batchv1.JobCondition) *batchv1.Job {
	return &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Status:     batchv1.JobStatus{Active: 1, Conditions: conds},
	}
}

func cond(t batchv1.JobConditionType, status corev1.ConditionStatus, reason, message string) batchv1.JobCondition {
	return batchv1.JobCondition{Type: t, Status: status, Reason: reason, Message: message}
}

// putJob creates j, or replaces its status when it exists.
func putJob(j *batchv1.Job) func(context.Context, kubeclient.Interface) error {
	return func(ctx context.Context, c kubeclient.Interface) error {
		jobs := c.BatchV1().Jobs(ns)
		old, err := jobs.Get(ctx, j.Name, metav1.GetOptions{})
		if err != nil {
			_, err = jobs.Create(ctx, j, metav1.CreateOptions{})
			return err
		}
		old.Status = j.Status
		_, err = jobs.UpdateStatus(ctx, old, metav1.UpdateOptions{})
		return err
	}
}

func TestJob(t *testing.T) {
	t.Parallel()
	complete := cond(batchv1.JobComplete, corev1.ConditionTrue, "CompletionsReached", "Reached expected number of succeeded pods")
	failed := cond(batchv1.JobFailed, corev1.ConditionTrue, "BackoffLimitExceeded", "Job has reached the specified backoff limit")
	tests := []waitCase{
		{name: "valid-already-complete", initial: []runtime.Object{job("migrate", complete)}},
		{name: "valid-completes-later", initial: []runtime.Object{job("migrate")}, later: putJob(job("migrate", complete))},
		{name: "valid-missing-then-created", later: putJob(job("migrate", complete))},
		{name: "valid-complete-false-then-true", initial: []runtime.Object{job("migrate", cond(batchv1.JobComplete, corev1.ConditionFalse, "", ""))},
			later: putJob(job("migrate", complete))},
		{name: "invalid-fails-later", initial: []runtime.Object{job("migrate")}, later: putJob(job("migrate", failed)), wantJobFailed: true,
			wantErr: `job "migrate" failed: BackoffLimitExceeded: Job has reached the specified backoff limit`},
		{name: "invalid-already-failed", initial: []runtime.Object{job("migrate", failed)}, wantJobFailed: true,
			wantErr: `job "migrate" failed: BackoffLimitExceeded: Job has reached the specified backoff limit`},
		{name: "invalid-running-until-deadline", initial: []runtime.Object{job("migrate")}, untilDeadline: true,
			wantErr: `job "migrate" to complete (last seen: 1 active, 0 succeeded, 0 failed pod(s))`},
		{name: "invalid-missing-until-deadline", untilDeadline: true,
			wantErr: `job "migrate" to complete (last seen: job does not exist yet)`},
		{name: "invalid-other-job-complete", initial: []runtime.Object{job("seed", complete)}, untilDeadline: true,
			wantErr: `job "migrate"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := run(t, tc, "get", "jobs", func(ctx context.Context, c kubeclient.Interface) error {
				return Job(ctx, c, ns, "migrate", WithInterval(time.Millisecond))
			})
			checkErr(t, err, tc.wantErr)
			var failed *JobFailedError
			if got, want := errors.As(err, &failed), tc.wantJobFailed; got != want {
				t.Errorf("errors.As(%v, *JobFailedError) = %v, want %v", err, got, want)
			}
			if tc.untilDeadline && !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("error %v does not wrap context.DeadlineExceeded", err)
			}
		})
	}
}

func TestInvalidNames(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, namespace, target, wantErr string
		wait                             func(context.Context, kubeclient.Interface, string, string, ...Option) error
	}{
		{name: "invalid-service-selector-injection", namespace: ns, target: "postgres,app=x", wait: Service,
			wantErr: `invalid service name "postgres,app=x"`},
		{name: "invalid-service-empty", namespace: ns, target: "", wait: Service, wantErr: `invalid service name ""`},
		{name: "invalid-service-dotted", namespace: ns, target: "db.internal", wait: Service, wantErr: `invalid service name`},
		{name: "invalid-job-upper-case", namespace: ns, target: "Migrate", wait: Job, wantErr: `invalid job name "Migrate"`},
		{name: "invalid-empty-namespace-means-all", namespace: "", target: "postgres", wait: Service,
			wantErr: `invalid namespace ""`},
		{name: "invalid-job-namespace", namespace: "a/b", target: "migrate", wait: Job, wantErr: `invalid namespace "a/b"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			client := fake.NewClientset()
			err := tc.wait(t.Context(), client, tc.namespace, tc.target, WithInterval(time.Millisecond))
			checkErr(t, err, tc.wantErr)
			if n := len(client.Actions()); n != 0 {
				t.Errorf("the wait called the API %d times before refusing its input", n)
			}
		})
	}
}

// syncBuffer is a bytes.Buffer safe for the wait's goroutine and the test's.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestProgressLines(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		wait func(context.Context, kubeclient.Interface, ...Option) error
		want []string
	}{
		{name: "valid-service", wait: func(ctx context.Context, c kubeclient.Interface, o ...Option) error {
			return Service(ctx, c, ns, "postgres", o...)
		}, want: []string{`msg="waiting for service \"postgres\" to have a ready endpoint"`, `seen="no endpointslice yet"`}},
		{name: "valid-job", wait: func(ctx context.Context, c kubeclient.Interface, o ...Option) error {
			return Job(ctx, c, ns, "migrate", o...)
		}, want: []string{`msg="waiting for job \"migrate\" to complete"`, `seen="job does not exist yet"`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var out syncBuffer
			logger := slog.New(slog.NewTextHandler(&out, nil))
			ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
			defer cancel()
			err := tc.wait(ctx, fake.NewClientset(), WithInterval(time.Millisecond), WithLogger(logger))
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("wait: got %v, want a deadline error", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("log %q does not contain %q", out.String(), w)
				}
			}
			if n := strings.Count(out.String(), "\n"); n != 1 {
				t.Errorf("log has %d lines, want 1 (a state is logged once):\n%s", n, out.String())
			}
		})
	}
}

func TestAPIErrorsAreRetried(t *testing.T) {
	t.Parallel()
	client := fake.NewClientset(slice("pg-1", "postgres", new(true)))
	calls := 0
	client.PrependReactor("list", "endpointslices", func(k8stesting.Action) (bool, runtime.Object, error) {
		calls++ // reactors run under the fake's lock
		if calls <= 2 {
			return true, nil, apierrors.NewServiceUnavailable("apiserver restarting")
		}
		return false, nil, nil
	})
	var out syncBuffer
	logger := slog.New(slog.NewTextHandler(&out, nil))
	if err := Service(t.Context(), client, ns, "postgres", WithInterval(time.Millisecond), WithLogger(logger)); err != nil {
		t.Fatalf("Service: %v", err)
	}
	for _, w := range []string{"level=WARN", "apiserver restarting", `msg="done waiting for service \"postgres\" to have a ready endpoint"`} {
		if !strings.Contains(out.String(), w) {
			t.Errorf("log %q does not contain %q", out.String(), w)
		}
	}
}

func TestReady(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		ready *bool
		want  bool
	}{
		{name: "valid-nil-is-ready", ready: nil, want: true},
		{name: "valid-true", ready: new(true), want: true},
		{name: "invalid-false", ready: new(false), want: false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := ready(discoveryv1.EndpointConditions{Ready: tc.ready}); got != tc.want {
				t.Errorf("ready(%v) = %v, want %v", tc.ready, got, tc.want)
			}
		})
	}
}
