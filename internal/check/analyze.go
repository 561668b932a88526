package check

import (
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/agops/agops/internal/check/reach"
)

// SectionReachability is the name of the reachability matrix section.
const SectionReachability = "reachability"

// Options tune Analyze.
type Options struct {
	// Skip turns rules off by ID.
	Skip []string
	// Reach sets the cluster's address ranges for the reachability matrix.
	Reach reach.Options
}

// Analyze runs every readiness rule over the objects and adds the reachability matrix of their NetworkPolicies:
// what agops check prints.
func Analyze(objs []*unstructured.Unstructured, o Options) (Report, error) {
	findings, err := Run(objs, Skip(o.Skip...))
	if err != nil {
		return Report{}, err
	}
	cluster, err := reach.New(objs, o.Reach)
	if err != nil {
		return Report{}, err
	}
	sec, err := SectionOf(SectionReachability, cluster.Matrix())
	if err != nil {
		return Report{}, err
	}
	return Report{Findings: findings, Sections: []Section{sec}}, nil
}
