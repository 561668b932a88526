// Package report turns the Decisions of a migration into report.md and report.json, and a short summary for the
// terminal. It reads the model only.
package report

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"sort"
	"strings"

	"github.com/agops/agops/internal/model"
)

// Verdicts.
const (
	VerdictReady       = "ready"
	VerdictNeedsInput  = "needs input"
	VerdictSecurity    = "ready after security review"
	VerdictNeedsReview = "needs input and security review"
)

// Report is the machine-readable form of the migration report.
type Report struct {
	Project     string           `json:"project"`
	Namespaces  []Namespace      `json:"namespaces"`
	Verdict     string           `json:"verdict"`
	Summary     Counts           `json:"summary"`
	Services    []Service        `json:"services"`
	ProjectKeys []model.Decision `json:"projectDecisions,omitempty"`
	Security    []model.Decision `json:"securityFindings,omitempty"`
	Needs       []model.Decision `json:"needsInput,omitempty"`
	Secrets     []SecretRef      `json:"secrets,omitempty"`
	Site        *Site            `json:"site,omitempty"`
}

// Counts counts decisions by outcome.
type Counts struct {
	Mapped       int `json:"mapped"`
	Approximated int `json:"approximated"`
	Dropped      int `json:"dropped"`
	NeedsInput   int `json:"needsInput"`
}

func (c *Counts) add(o model.Outcome) {
	switch o {
	case model.Mapped:
		c.Mapped++
	case model.Approximated:
		c.Approximated++
	case model.Dropped:
		c.Dropped++
	case model.NeedsInput:
		c.NeedsInput++
	}
}

// Namespace is one tier namespace and the services in it.
type Namespace struct {
	Name        string   `json:"name"`
	Tier        string   `json:"tier"`
	PodSecurity string   `json:"podSecurity"`
	Services    []string `json:"services"`
}

// Service is one Compose service and what became of it.
type Service struct {
	Service    string           `json:"service"`
	Workload   string           `json:"workload"`
	Namespace  string           `json:"namespace,omitempty"`
	Kind       string           `json:"kind"`
	Replicas   int32            `json:"replicas"`
	HAReplicas int32            `json:"haReplicas"`
	Ports      []string         `json:"ports,omitempty"`
	Counts     Counts           `json:"counts"`
	Decisions  []model.Decision `json:"decisions"`
}

// SecretRef says how a Secret the manifests reference gets created; it never holds a value.
type SecretRef struct {
	Name      string   `json:"name"`
	Namespace string   `json:"namespace"`
	Keys      []string `json:"keys"`
	Sources   []string `json:"sources"`
	Known     bool     `json:"valueKnown"`
	Create    string   `json:"create"`
}

// Build assembles the report from the model. composeFiles are shown in commands as given; file paths in commands
// are made relative to workDir (where the user runs them), when they are below it.
func Build(p *model.Project, composeFiles []string, workDir string) Report {
	r := Report{Project: p.Name}
	for _, ns := range p.Namespaces {
		rn := Namespace{Name: ns.Name, Tier: string(ns.Tier), PodSecurity: ns.PodSecurity.Enforce}
		for _, w := range p.Workloads {
			if w.Namespace == ns.Name {
				rn.Services = append(rn.Services, w.Service)
			}
		}
		r.Namespaces = append(r.Namespaces, rn)
	}
	byService := map[string][]model.Decision{}
	for _, d := range p.Decisions {
		r.Summary.add(d.Outcome)
		if d.Security {
			r.Security = append(r.Security, d)
		}
		if d.Outcome == model.NeedsInput {
			r.Needs = append(r.Needs, d)
		}
		if d.Service == "" {
			r.ProjectKeys = append(r.ProjectKeys, d)
			continue
		}
		byService[d.Service] = append(byService[d.Service], d)
	}
	workloadOf := map[string]model.Workload{}
	for _, w := range p.Workloads {
		workloadOf[w.Service] = w
	}
	names := make([]string, 0, len(byService))
	for n := range byService {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		s := Service{Service: n, Decisions: byService[n]}
		if w, ok := workloadOf[n]; ok {
			s.Workload, s.Kind, s.Replicas, s.HAReplicas = w.Name, string(w.Kind), w.Replicas, w.HAReplicas
			s.Namespace = w.Namespace
			for _, svc := range w.Services[:min(1, len(w.Services))] {
				for _, port := range svc.Ports {
					s.Ports = append(s.Ports, fmt.Sprintf("%d/%s", port.Port, port.Protocol))
				}
			}
		} else if what, ok := p.NoWorkload[n]; ok {
			s.Kind = what
		} else {
			s.Kind = "container in a shared pod"
		}
		for _, d := range s.Decisions {
			s.Counts.add(d.Outcome)
		}
		r.Services = append(r.Services, s)
	}
	r.Secrets = secretRefs(p, composeFiles, workDir)
	r.Verdict = verdict(r)
	return r
}

func verdict(r Report) string {
	switch {
	case len(r.Needs) > 0 && len(r.Security) > 0:
		return VerdictNeedsReview
	case len(r.Needs) > 0:
		return VerdictNeedsInput
	case len(r.Security) > 0:
		return VerdictSecurity
	}
	return VerdictReady
}

func secretRefs(p *model.Project, composeFiles []string, workDir string) []SecretRef {
	var out []SecretRef
	for _, s := range p.Secrets {
		ref := SecretRef{Name: s.Name, Namespace: s.Namespace, Known: true}
		for _, k := range s.Keys {
			ref.Keys = append(ref.Keys, k.Key)
			ref.Sources = append(ref.Sources, k.Source)
			ref.Known = ref.Known && k.Known
		}
		switch {
		case s.External:
			ref.Create = fmt.Sprintf("external: must already exist in namespace %s", s.Namespace)
		case len(s.Keys) == 1 && s.Keys[0].File != "":
			ref.Create = fmt.Sprintf("kubectl create secret generic %s -n %s --from-file=%s=%s", s.Name, s.Namespace, s.Keys[0].Key, shown(workDir, s.Keys[0].File))
		default:
			ref.Create = "agops secrets " + fileFlags(composeFiles) + " | kubectl apply -f -"
		}
		out = append(out, ref)
	}
	return out
}

func fileFlags(files []string) string {
	var parts []string
	for _, f := range files {
		parts = append(parts, "-f "+f)
	}
	return strings.Join(parts, " ")
}

// JSON renders report.json.
func (r Report) JSON() ([]byte, error) {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// Summary is the few lines printed to stderr after a migration.
func (r Report) Line() string {
	c := r.Summary
	line := fmt.Sprintf("agops: %d services of %q into namespaces %s: %d mapped, %d approximated, %d dropped, %d need input; verdict: %s\n",
		len(r.Services), r.Project, r.namespaceList(), c.Mapped, c.Approximated, c.Dropped, c.NeedsInput, r.Verdict)
	if n := len(r.Secrets); n > 0 {
		line += fmt.Sprintf("agops: %d Secrets to create before applying (values are not in the output): see report.md\n", n)
	}
	return line
}

func (r Report) namespaceList() string {
	names := make([]string, len(r.Namespaces))
	for i, ns := range r.Namespaces {
		names[i] = ns.Name
	}
	return strings.Join(names, ", ")
}

// shown makes a path relative to dir when it lies below it.
func shown(dir, path string) string {
	if dir == "" {
		return path
	}
	if rel, err := filepath.Rel(dir, path); err == nil && !strings.HasPrefix(rel, "..") {
		return rel
	}
	return path
}
