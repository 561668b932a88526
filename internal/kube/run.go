package kube

import (
	"context"
	"fmt"
	"time"

	"k8s.io/client-go/rest"
)

// RunOptions describe one `agops apply`.
type RunOptions struct {
	Path    string // an agops output folder, a kustomization folder or a YAML file
	Overlay string // the overlay of an agops output folder
	ApplyOptions
	Wait    bool
	Timeout time.Duration
	// Progress receives the workloads' states whenever they change while waiting.
	Progress func([]WorkloadState)
}

// Run loads, applies and (optionally) waits.
func Run(ctx context.Context, cfg *rest.Config, o RunOptions, opts ...Option) (Result, error) {
	objs, err := Load(o.Path, o.Overlay)
	if err != nil {
		return Result{}, err
	}
	a, err := NewApplier(cfg, opts...)
	if err != nil {
		return Result{}, err
	}
	res, err := a.Apply(ctx, objs, o.ApplyOptions)
	if err != nil || !o.Wait || o.DryRun {
		return res, err
	}
	wctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	if err := a.Wait(wctx, objs, o.Progress); err != nil {
		return res, fmt.Errorf("applied %d objects, but: %w", len(res.Applied), err)
	}
	return res, nil
}
