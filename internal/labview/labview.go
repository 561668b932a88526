// Package labview draws the lab for the console: from a migration's output folder (report.json and the manifests
// under base/ and overlays/) it gathers the tiers and their workloads, the connections the NetworkPolicies allow
// between them (the reachability matrix of internal/check/reach, the one agops check prints), and the migration
// report's summary, and renders the picture as a self-contained SVG.
//
// It reads what agops migrate wrote, never the Compose project: it imports neither internal/plan nor
// internal/compose (the archtest rules say so).
package labview

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/agops/agops/internal/check/reach"
	"github.com/agops/agops/internal/kube"
	"github.com/agops/agops/internal/report"
)

// DefaultOverlay is the overlay whose manifests Load reads, as agops check does.
const DefaultOverlay = "ha"

// DefaultMaxDetailed is the number of workloads above which the picture draws one edge per pair of tiers.
const DefaultMaxDetailed = 40

// Outside is the ID of the outside world in Connections.
const Outside = "external"

// ErrNotMigration says that a folder is not the output of agops migrate.
var ErrNotMigration = errors.New("not an agops migration output")

// Lab is the picture of a migrated project.
type Lab struct {
	Project string
	Overlay string // the overlay whose manifests were read ("" when the folder has none)
	Tiers   []Tier
	// Connections are the allowed connections between workloads, from the outside world (through the Service that
	// publishes a workload) and to it, sorted by From then To. A workload's connections to itself and to the
	// cluster's DNS are left out.
	Connections []Connection
	// TierLinks count Connections per pair of tiers (the outside world is tier Outside).
	TierLinks []TierLink
	// Collapsed is set when the project has more than MaxDetailed workloads: the SVG then draws TierLinks, not
	// Connections.
	Collapsed   bool
	MaxDetailed int
	Report      Summary
	Warnings    []string // the reachability model's warnings
}

// Tier is one namespace of the project and its workloads.
type Tier struct {
	Name        string // the tier's name in the report ("web", "data")
	Namespace   string
	PodSecurity string
	Workloads   []Workload
}

// Workload is one Deployment, StatefulSet, DaemonSet, Job, CronJob or Pod.
type Workload struct {
	ID        string // "namespace/name", as in Connections
	Namespace string
	Name      string
	Kind      string
	Replicas  int32    // pods asked for; 0 for a DaemonSet (one per node)
	Ports     []string // declared container ports, "8000/TCP"
	Services  []string // the Compose services it runs, from the report
}

// Connection is one allowed connection.
type Connection struct {
	From, To string   // workload IDs or Outside
	Ports    []string // the ports From may open on To: "8000/TCP", or "any"
	Via      string   // for a connection from the outside world, the LoadBalancer Service it comes through
}

// TierLink counts the connections from the workloads of one tier to those of another (or the same) tier.
type TierLink struct {
	From, To string // namespaces, or Outside
	Count    int
}

// Option changes what Load reads.
type Option func(*options)

type options struct {
	overlay     string
	maxDetailed int
	reach       reach.Options
}

// WithOverlay reads overlays/NAME instead of DefaultOverlay.
func WithOverlay(name string) Option { return func(o *options) { o.overlay = name } }

// WithMaxDetailed sets how many workloads the picture draws edge by edge (DefaultMaxDetailed).
func WithMaxDetailed(n int) Option { return func(o *options) { o.maxDetailed = n } }

// WithReach sets the cluster's address ranges and enforcer for the reachability matrix.
func WithReach(r reach.Options) Option { return func(o *options) { o.reach = r } }

// Load reads the migration output in outDir. An error wraps ErrNotMigration when the folder lacks report.json or
// its manifests.
func Load(outDir string, opts ...Option) (*Lab, error) {
	o := options{overlay: DefaultOverlay, maxDetailed: DefaultMaxDetailed}
	for _, opt := range opts {
		opt(&o)
	}
	st, err := os.Stat(outDir)
	if err != nil {
		return nil, fmt.Errorf("reading migration output: %w", err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("%s: %w (a file, not the folder agops migrate -o writes)", outDir, ErrNotMigration)
	}
	data, err := os.ReadFile(filepath.Join(outDir, "report.json"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%s: %w: no report.json (write one with agops migrate -f compose.yaml -o DIR)", outDir, ErrNotMigration)
	}
	if err != nil {
		return nil, fmt.Errorf("reading migration output: %w", err)
	}
	rep, err := DecodeReport(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(outDir, "report.json"), err)
	}
	if !isFile(filepath.Join(outDir, "base", "kustomization.yaml")) {
		return nil, fmt.Errorf("%s: %w: no base/kustomization.yaml beside report.json", outDir, ErrNotMigration)
	}
	overlay := o.overlay
	if !isFile(filepath.Join(outDir, "overlays", overlay, "kustomization.yaml")) {
		overlay = ""
	}
	dir := filepath.Join(outDir, "base")
	if overlay != "" {
		dir = filepath.Join(outDir, "overlays", overlay)
	}
	objs, err := kube.Load(dir, "")
	if err != nil {
		return nil, fmt.Errorf("reading the manifests of %s: %w", outDir, err)
	}
	lab, err := build(rep, objs, o)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", outDir, err)
	}
	lab.Overlay = overlay
	return lab, nil
}

func isFile(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.Mode().IsRegular()
}

// DecodeReport decodes report.json and checks that it is a migration report.
func DecodeReport(data []byte) (*report.Report, error) {
	var rep report.Report
	if err := json.Unmarshal(data, &rep); err != nil {
		return nil, fmt.Errorf("%w: report.json does not decode: %w", ErrNotMigration, err)
	}
	var problems []string
	if rep.Project == "" {
		problems = append(problems, "no project")
	}
	if rep.Verdict == "" {
		problems = append(problems, "no verdict")
	}
	for i, ns := range rep.Namespaces {
		if ns.Name == "" {
			problems = append(problems, fmt.Sprintf("namespaces[%d] has no name", i))
		}
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("%w: report.json: %s", ErrNotMigration, strings.Join(problems, "; "))
	}
	return &rep, nil
}

// build joins the report and the manifests into the picture.
func build(rep *report.Report, objs []*unstructured.Unstructured, o options) (*Lab, error) {
	cluster, err := reach.New(objs, o.reach)
	if err != nil {
		return nil, fmt.Errorf("evaluating the NetworkPolicies: %w", err)
	}
	return assemble(rep, cluster.Matrix(), replicasOf(objs), o), nil
}

// assemble joins the report with the manifests' reachability matrix and replica counts.
func assemble(rep *report.Report, m reach.Matrix, replicas map[string]int32, o options) *Lab {
	lab := &Lab{Project: rep.Project, MaxDetailed: o.maxDetailed, Report: summarize(rep), Warnings: m.Warnings}
	lab.Tiers = tiers(rep, m, replicas)
	lab.Connections = connections(m, lab.workloadIDs())
	lab.TierLinks = tierLinks(lab.Connections)
	lab.Collapsed = o.maxDetailed >= 0 && lab.WorkloadCount() > o.maxDetailed
	return lab
}

// WorkloadCount is the number of workloads in all tiers.
func (l *Lab) WorkloadCount() int {
	n := 0
	for _, t := range l.Tiers {
		n += len(t.Workloads)
	}
	return n
}

func (l *Lab) workloadIDs() map[string]bool {
	ids := map[string]bool{}
	for _, t := range l.Tiers {
		for _, w := range t.Workloads {
			ids[w.ID] = true
		}
	}
	return ids
}

// workloadKinds are the peers of the matrix that are the project's workloads.
var workloadKinds = map[string]bool{"Deployment": true, "StatefulSet": true, "DaemonSet": true, "ReplicaSet": true,
	"Job": true, "CronJob": true, "Pod": true}

// tiers groups the matrix's workloads by namespace, in the report's order of namespaces, then any other
// namespace by name.
func tiers(rep *report.Report, m reach.Matrix, replicas map[string]int32) []Tier {
	services := map[string][]string{} // workload ID → Compose services
	for _, s := range rep.Services {
		if s.Workload != "" && s.Namespace != "" {
			id := s.Namespace + "/" + s.Workload
			services[id] = append(services[id], s.Service)
		}
	}
	var out []Tier
	index := map[string]int{}
	for _, ns := range rep.Namespaces {
		if _, dup := index[ns.Name]; dup {
			continue
		}
		index[ns.Name] = len(out)
		out = append(out, Tier{Name: ns.Tier, Namespace: ns.Name, PodSecurity: ns.PodSecurity})
	}
	var extra []Tier
	for _, n := range m.Nodes {
		if !workloadKinds[n.Kind] {
			continue
		}
		ns, name, _ := strings.Cut(n.ID, "/")
		w := Workload{ID: n.ID, Namespace: ns, Name: name, Kind: n.Kind, Replicas: replicas[n.ID], Ports: portStrings(n.Ports)}
		w.Services = slices.Sorted(slices.Values(services[n.ID]))
		i, ok := index[ns]
		if !ok {
			index[ns] = len(out) + len(extra)
			extra = append(extra, Tier{Name: ns, Namespace: ns})
			i = index[ns]
		}
		if i < len(out) {
			out[i].Workloads = append(out[i].Workloads, w)
		} else {
			extra[i-len(out)].Workloads = append(extra[i-len(out)].Workloads, w)
		}
	}
	slices.SortFunc(extra, func(a, b Tier) int { return strings.Compare(a.Namespace, b.Namespace) })
	out = append(out, extra...)
	for i := range out {
		slices.SortFunc(out[i].Workloads, func(a, b Workload) int { return strings.Compare(a.Name, b.Name) })
	}
	return out
}

func portStrings(ps []reach.Port) []string {
	out := make([]string, 0, len(ps))
	for _, p := range ps {
		out = append(out, p.String())
	}
	return out
}

// connections keeps the matrix's edges between workloads and the outside world. What reaches a workload through
// a ServiceLB pod is drawn as a connection from the outside world when the outside world may reach that pod.
func connections(m reach.Matrix, workloads map[string]bool) []Connection {
	fromOutside := map[string]bool{}
	for _, e := range m.Edges {
		if e.From == Outside {
			fromOutside[e.To] = true
		}
	}
	kind := map[string]string{}
	for _, n := range m.Nodes {
		kind[n.ID] = n.Kind
	}
	var out []Connection
	for _, e := range m.Edges {
		switch {
		case e.From == e.To:
		case workloads[e.From] && (workloads[e.To] || e.To == Outside):
			out = append(out, Connection{From: e.From, To: e.To, Ports: e.Ports})
		case e.From == Outside && workloads[e.To]:
			out = append(out, Connection{From: Outside, To: e.To, Ports: e.Ports})
		case kind[e.From] == "ServiceLB" && fromOutside[e.From] && workloads[e.To]:
			_, lb, _ := strings.Cut(e.From, "/")
			out = append(out, Connection{From: Outside, To: e.To, Ports: e.Ports, Via: strings.TrimPrefix(lb, "svclb-")})
		}
	}
	slices.SortFunc(out, func(a, b Connection) int {
		if c := strings.Compare(a.From, b.From); c != 0 {
			return c
		}
		if c := strings.Compare(a.To, b.To); c != 0 {
			return c
		}
		return strings.Compare(a.Via, b.Via)
	})
	return out
}

// tierLinks counts connections per pair of namespaces.
func tierLinks(conns []Connection) []TierLink {
	counts := map[[2]string]int{}
	for _, c := range conns {
		counts[[2]string{namespaceOf(c.From), namespaceOf(c.To)}]++
	}
	out := make([]TierLink, 0, len(counts))
	for k, n := range counts {
		out = append(out, TierLink{From: k[0], To: k[1], Count: n})
	}
	slices.SortFunc(out, func(a, b TierLink) int {
		if c := strings.Compare(a.From, b.From); c != 0 {
			return c
		}
		return strings.Compare(a.To, b.To)
	})
	return out
}

func namespaceOf(id string) string {
	if ns, _, ok := strings.Cut(id, "/"); ok {
		return ns
	}
	return id
}

// replicasOf reads how many pods each workload asks for.
func replicasOf(objs []*unstructured.Unstructured) map[string]int32 {
	out := map[string]int32{}
	for _, u := range objs {
		ns := u.GetNamespace()
		if ns == "" {
			ns = "default"
		}
		id := ns + "/" + u.GetName()
		switch u.GetKind() {
		case "Deployment", "StatefulSet", "ReplicaSet":
			out[id] = count(u.Object, "spec", "replicas")
		case "Job":
			out[id] = count(u.Object, "spec", "parallelism")
		case "CronJob":
			out[id] = count(u.Object, "spec", "jobTemplate", "spec", "parallelism")
		case "Pod":
			out[id] = 1
		}
	}
	return out
}

// count reads an optional count that defaults to 1.
func count(obj map[string]any, path ...string) int32 {
	n, found, err := unstructured.NestedInt64(obj, path...)
	if err != nil || !found {
		return 1
	}
	return int32(n)
}
