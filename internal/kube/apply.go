package kube

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
)

// FieldManager is the server-side apply field manager agops applies with.
const FieldManager = "agops"

// ApplySetLabel marks every object `agops apply` created, with the id of its set (the project), so that a later
// apply can prune what is no longer rendered. Objects made by other means (kubectl create secret) lack it and are
// never pruned.
const ApplySetLabel = "agops.dev/apply-set"

// Applier applies objects to one cluster.
type Applier struct {
	dyn    dynamic.Interface
	mapper meta.ResettableRESTMapper
	log    *slog.Logger
}

// Option configures an Applier.
type Option func(*Applier)

// WithLogger sends progress to l.
func WithLogger(l *slog.Logger) Option { return func(a *Applier) { a.log = l } }

// NewApplier connects to the cluster of cfg.
func NewApplier(cfg *rest.Config, opts ...Option) (*Applier, error) {
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("connecting to the cluster: %w", err)
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("connecting to the cluster: %w", err)
	}
	a := &Applier{dyn: dyn, mapper: restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc)), log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	for _, o := range opts {
		o(a)
	}
	return a, nil
}

// ApplyOptions select how to apply.
type ApplyOptions struct {
	// DryRun asks the API server to validate and admit everything without persisting it.
	DryRun bool
	// Prune deletes objects of the same apply set that are no longer in objs.
	Prune bool
	// SetID names the apply set; empty means the app.kubernetes.io/part-of label the objects share.
	SetID string
}

// Ref names one object.
type Ref struct {
	Kind, Namespace, Name string
}

func (r Ref) String() string {
	if r.Namespace == "" {
		return r.Kind + " " + r.Name
	}
	return r.Kind + " " + r.Namespace + "/" + r.Name
}

func refOf(u *unstructured.Unstructured) Ref {
	return Ref{Kind: u.GetKind(), Namespace: u.GetNamespace(), Name: u.GetName()}
}

// Result lists what an apply did.
type Result struct {
	Applied []Ref
	Pruned  []Ref
}

// Apply server-side applies objs in dependency order (namespaces and cluster-scoped objects first). Every object is
// tried; the error lists each rejected object with the fields the API server named.
func (a *Applier) Apply(ctx context.Context, objs []*unstructured.Unstructured, o ApplyOptions) (Result, error) {
	set, err := setID(objs, o.SetID)
	if err != nil {
		return Result{}, err
	}
	objs = labelled(objs, set)
	Sort(objs)
	var res Result
	var errs []error
	for _, u := range objs {
		if err := a.applyOne(ctx, u, o.DryRun); err != nil {
			errs = append(errs, err)
			continue
		}
		res.Applied = append(res.Applied, refOf(u))
		a.log.Info("applied", "object", refOf(u).String())
	}
	if len(errs) > 0 {
		return res, errors.Join(errs...)
	}
	if o.Prune {
		pruned, err := a.prune(ctx, objs, set, o.DryRun)
		res.Pruned = pruned
		if err != nil {
			return res, err
		}
	}
	return res, nil
}

// setID finds the apply set of the objects: the given one, or the part-of label they all share.
func setID(objs []*unstructured.Unstructured, given string) (string, error) {
	if given != "" {
		return given, nil
	}
	ids := map[string]bool{}
	for _, u := range objs {
		if v := u.GetLabels()["app.kubernetes.io/part-of"]; v != "" {
			ids[v] = true
		}
	}
	if len(ids) != 1 {
		return "", fmt.Errorf("cannot tell which project these objects belong to (%d app.kubernetes.io/part-of values); give one with --set", len(ids))
	}
	for id := range ids {
		return id, nil
	}
	return "", nil
}

func labelled(objs []*unstructured.Unstructured, set string) []*unstructured.Unstructured {
	out := make([]*unstructured.Unstructured, len(objs))
	for i, u := range objs {
		c := u.DeepCopy()
		l := c.GetLabels()
		if l == nil {
			l = map[string]string{}
		}
		l[ApplySetLabel] = set
		c.SetLabels(l)
		out[i] = c
	}
	return out
}

func (a *Applier) resource(u *unstructured.Unstructured) (dynamic.ResourceInterface, *meta.RESTMapping, error) {
	gvk := u.GroupVersionKind()
	m, err := a.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if meta.IsNoMatchError(err) {
		a.mapper.Reset()
		m, err = a.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("%s: the cluster does not serve %s: %w", refOf(u), gvk, err)
	}
	if m.Scope.Name() == meta.RESTScopeNameNamespace {
		return a.dyn.Resource(m.Resource).Namespace(u.GetNamespace()), m, nil
	}
	return a.dyn.Resource(m.Resource), m, nil
}

func (a *Applier) applyOne(ctx context.Context, u *unstructured.Unstructured, dryRun bool) error {
	ri, _, err := a.resource(u)
	if err != nil {
		return err
	}
	opts := metav1.ApplyOptions{FieldManager: FieldManager, Force: true}
	if dryRun {
		opts.DryRun = []string{metav1.DryRunAll}
	}
	if _, err := ri.Apply(ctx, u.GetName(), u, opts); err != nil {
		return rejection(refOf(u), err)
	}
	return nil
}

// rejection names the object and each field the API server refused.
func rejection(r Ref, err error) error {
	var st apierrors.APIStatus
	if !errors.As(err, &st) {
		return fmt.Errorf("%s: %w", r, err)
	}
	s := st.Status()
	if s.Details == nil || len(s.Details.Causes) == 0 {
		return fmt.Errorf("%s: %s", r, s.Message)
	}
	var parts []string
	for _, c := range s.Details.Causes {
		if c.Field != "" {
			parts = append(parts, c.Field+": "+c.Message)
		} else {
			parts = append(parts, c.Message)
		}
	}
	return fmt.Errorf("%s rejected: %s", r, strings.Join(parts, "; "))
}

// prune deletes objects of the set that objs no longer contain, in reverse dependency order.
func (a *Applier) prune(ctx context.Context, objs []*unstructured.Unstructured, set string, dryRun bool) ([]Ref, error) {
	keep := map[Ref]bool{}
	namespaces := map[string]bool{}
	kinds := map[schema.GroupVersionKind]bool{}
	for _, u := range objs {
		keep[refOf(u)] = true
		if u.GetNamespace() != "" {
			namespaces[u.GetNamespace()] = true
		}
		kinds[u.GroupVersionKind()] = true
	}
	for _, gvk := range prunableKinds {
		kinds[gvk] = true
	}
	var doomed []*unstructured.Unstructured
	for gvk := range kinds {
		found, err := a.listSet(ctx, gvk, set, namespaces)
		if err != nil {
			return nil, err
		}
		for _, u := range found {
			if !keep[refOf(u)] {
				doomed = append(doomed, u)
			}
		}
	}
	Sort(doomed)
	var pruned []Ref
	var errs []error
	for i := len(doomed) - 1; i >= 0; i-- {
		u := doomed[i]
		ri, _, err := a.resource(u)
		if err == nil {
			opts := metav1.DeleteOptions{PropagationPolicy: ptr(metav1.DeletePropagationBackground)}
			if dryRun {
				opts.DryRun = []string{metav1.DryRunAll}
			}
			err = ri.Delete(ctx, u.GetName(), opts)
		}
		if err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("pruning %s: %w", refOf(u), err))
			continue
		}
		pruned = append(pruned, refOf(u))
		a.log.Info("pruned", "object", refOf(u).String())
	}
	sort.Slice(pruned, func(i, j int) bool { return pruned[i].String() < pruned[j].String() })
	return pruned, errors.Join(errs...)
}

func ptr[T any](v T) *T { return &v }

// prunableKinds are the kinds agops renders; objects of these kinds in the set are pruned even when the current
// objects no longer include any of that kind.
var prunableKinds = []schema.GroupVersionKind{
	{Version: "v1", Kind: "Namespace"}, {Version: "v1", Kind: "ServiceAccount"}, {Version: "v1", Kind: "ConfigMap"},
	{Version: "v1", Kind: "Secret"}, {Version: "v1", Kind: "Service"}, {Version: "v1", Kind: "PersistentVolumeClaim"},
	{Group: "apps", Version: "v1", Kind: "Deployment"}, {Group: "apps", Version: "v1", Kind: "StatefulSet"},
	{Group: "apps", Version: "v1", Kind: "DaemonSet"}, {Group: "batch", Version: "v1", Kind: "Job"},
	{Group: "policy", Version: "v1", Kind: "PodDisruptionBudget"},
	{Group: "rbac.authorization.k8s.io", Version: "v1", Kind: "Role"},
	{Group: "rbac.authorization.k8s.io", Version: "v1", Kind: "RoleBinding"},
	{Group: "networking.k8s.io", Version: "v1", Kind: "NetworkPolicy"},
}

func (a *Applier) listSet(ctx context.Context, gvk schema.GroupVersionKind, set string, namespaces map[string]bool) ([]*unstructured.Unstructured, error) {
	m, err := a.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		return nil, nil // the cluster does not serve this kind: nothing to prune
	}
	sel := metav1.ListOptions{LabelSelector: ApplySetLabel + "=" + set}
	var lists []dynamic.ResourceInterface
	if m.Scope.Name() == meta.RESTScopeNameNamespace {
		for ns := range namespaces {
			lists = append(lists, a.dyn.Resource(m.Resource).Namespace(ns))
		}
	} else {
		lists = append(lists, a.dyn.Resource(m.Resource))
	}
	var out []*unstructured.Unstructured
	for _, ri := range lists {
		l, err := ri.List(ctx, sel)
		if err != nil {
			return nil, fmt.Errorf("listing %s for pruning: %w", gvk.Kind, err)
		}
		for i := range l.Items {
			out = append(out, &l.Items[i])
		}
	}
	return out, nil
}
