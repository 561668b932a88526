// Package waitfor owns waiting on cluster state for init containers: the `agops wait` verbs that turn Compose
// depends_on conditions into "this Service has a ready endpoint" and "this Job has completed".
//
// It polls the API server and reads only what the rendered manifests grant the pod: get/list/watch on
// discovery.k8s.io endpointslices and on batch jobs, in the pod's own namespace. A missing object, or an API
// error, never ends the wait early; only a failed Job or the context's deadline does.
package waitfor

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/validation"
)

// DefaultInterval is how often the API server is asked when WithInterval is not given.
const DefaultInterval = 2 * time.Second

// Option tunes a wait.
type Option func(*options)

type options struct {
	interval time.Duration
	logger   *slog.Logger
}

// WithInterval sets the time between two polls; values of zero or less keep DefaultInterval.
func WithInterval(d time.Duration) Option {
	return func(o *options) {
		if d > 0 {
			o.interval = d
		}
	}
}

// WithLogger sends progress lines to l; without it the wait is silent.
func WithLogger(l *slog.Logger) Option {
	return func(o *options) {
		if l != nil {
			o.logger = l
		}
	}
}

func makeOptions(opts []Option) options {
	o := options{
		interval: DefaultInterval,
		logger:   slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	for _, opt := range opts {
		opt(&o)
	}
	return o
}

// result is what one look at the cluster found.
type result struct {
	done  bool   // the condition holds: the wait is over
	state string // what was seen otherwise, for progress lines and the deadline error
	err   error  // an API error; waiting may still help, so the wait goes on
	fatal error  // waiting longer cannot help: the wait ends with this error
}

// check looks at the cluster once.
type check func(ctx context.Context) result

// poll runs c every interval until it reports done or fatal, or ctx ends. It logs each new state once, and a
// deadline error names what was awaited and the last state seen.
func poll(ctx context.Context, o options, what string, c check) error {
	ticker := time.NewTicker(o.interval)
	defer ticker.Stop()
	last := ""
	for {
		r := c(ctx)
		switch {
		case r.fatal != nil:
			return r.fatal
		case r.done:
			o.logger.Info("done waiting for " + what)
			return nil
		case r.err != nil && ctx.Err() != nil:
			return expired(ctx, what, last) // the call failed because ctx ended: keep the last real state
		case r.err != nil:
			r.state = r.err.Error()
		}
		if r.state != last {
			logState(ctx, o.logger, what, r)
			last = r.state
		}
		select {
		case <-ctx.Done():
			return expired(ctx, what, last)
		case <-ticker.C:
		}
	}
}

func expired(ctx context.Context, what, last string) error {
	if last == "" {
		last = "nothing yet"
	}
	return fmt.Errorf("waiting for %s (last seen: %s): %w", what, last, ctx.Err())
}

func logState(ctx context.Context, l *slog.Logger, what string, r result) {
	level := slog.LevelInfo
	if r.err != nil {
		level = slog.LevelWarn
	}
	l.Log(ctx, level, "waiting for "+what, "seen", r.state)
}

// validate checks namespace, and name with the rule of its kind, before any of them reaches a selector or a path:
// an empty namespace would mean all namespaces.
func validate(kind, namespace, name string, rule func(string) []string) error {
	if errs := validation.IsDNS1123Label(namespace); len(errs) > 0 {
		return fmt.Errorf("invalid namespace %q: %s", namespace, strings.Join(errs, "; "))
	}
	if errs := rule(name); len(errs) > 0 {
		return fmt.Errorf("invalid %s name %q: %s", kind, name, strings.Join(errs, "; "))
	}
	return nil
}
