package waitfor

import (
	"context"
	"fmt"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/agops/agops/internal/kubeclient"
)

// JobFailedError reports a Job whose Failed condition is True; waiting longer cannot make it complete.
type JobFailedError struct {
	Name    string // the Job's name
	Reason  string // the Failed condition's reason, such as BackoffLimitExceeded
	Message string // the Failed condition's message
}

func (e *JobFailedError) Error() string {
	return fmt.Sprintf("job %q failed: %s: %s", e.Name, e.Reason, e.Message)
}

// Job returns nil once the Job name in namespace has the condition Complete=True, and a *JobFailedError once it
// has Failed=True. A Job that does not exist yet is waited for. The wait ends with an error naming the Job when
// ctx ends.
func Job(ctx context.Context, client kubeclient.Interface, namespace, name string, opts ...Option) error {
	if err := validate("job", namespace, name, validation.IsDNS1123Subdomain); err != nil {
		return err
	}
	o := makeOptions(opts)
	what := fmt.Sprintf("job %q to complete", name)
	jobs := client.BatchV1().Jobs(namespace)
	return poll(ctx, o, what, func(ctx context.Context) result {
		job, err := jobs.Get(ctx, name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			return result{state: "job does not exist yet"}
		case err != nil:
			return result{err: fmt.Errorf("getting job %q: %w", name, err)}
		}
		return jobResult(job)
	})
}

// jobResult reads the Complete and Failed conditions of job.
func jobResult(job *batchv1.Job) result {
	for _, c := range job.Status.Conditions {
		if c.Status != corev1.ConditionTrue {
			continue
		}
		switch c.Type {
		case batchv1.JobComplete:
			return result{done: true}
		case batchv1.JobFailed:
			return result{fatal: &JobFailedError{Name: job.Name, Reason: c.Reason, Message: c.Message}}
		}
	}
	s := job.Status
	return result{state: fmt.Sprintf("%d active, %d succeeded, %d failed pod(s)", s.Active, s.Succeeded, s.Failed)}
}
