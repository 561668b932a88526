// Package migrate runs the whole conversion: load the Compose project, plan it into the model, render the base and
// overlays, build the report, and write the output tree atomically (or one stream to stdout).
package migrate

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/agops/agops/internal/cluster"
	"github.com/agops/agops/internal/compose"
	"github.com/agops/agops/internal/fsutil"
	"github.com/agops/agops/internal/model"
	"github.com/agops/agops/internal/pin"
	"github.com/agops/agops/internal/plan"
	"github.com/agops/agops/internal/render/k8s"
	"github.com/agops/agops/internal/render/kustomize"
	"github.com/agops/agops/internal/report"
	"github.com/agops/agops/internal/site"
)

// Formats of output.
const (
	FormatFiles = "files"
	FormatYAML  = "yaml"
)

// Options for one migration.
type Options struct {
	Compose compose.Options
	Plan    plan.Options
	// Out is the output folder (FormatFiles).
	Out string
	// Format is FormatFiles (a kustomize tree) or FormatYAML (one stream of Overlay to Stdout).
	Format  string
	Overlay string
	// Strict turns needs-input decisions into an error.
	Strict bool
	// InlineSecrets writes Secret values into the output; every value must then be known.
	InlineSecrets bool
	Stdout        io.Writer
	// Pin, when set, pins every image to the digest it resolves (--pin-digests).
	Pin pin.Resolver
	// RegistryMirror (REG[/prefix]) adds the node-side mirror configuration to the output (cluster/): the manifests
	// keep their image names. Airgap forbids the nodes to fall back to the public registries.
	RegistryMirror string
	Airgap         bool
	// Cluster, when set, is a folder written by agops cluster init: the report gains the site plan (report.Site),
	// and a registry mirror that differs from the cluster's is an error.
	Cluster string
	// Bundle is the air-gap bundle Pin reads, as the user gave it, for the site plan; empty when there is none.
	Bundle string
}

// Result is what a migration produced.
type Result struct {
	Report report.Report
	Model  *model.Project
	// Files are the written paths, relative to Out (FormatFiles only).
	Files []string
}

// ErrNeedsInput is returned under Strict when a person must decide something.
var ErrNeedsInput = errors.New("needs input")

// Load loads and plans a project; `agops secrets` uses it too.
func Load(ctx context.Context, o Options) (*model.Project, []string, error) {
	p, err := compose.Load(ctx, o.Compose)
	if err != nil {
		return nil, nil, err
	}
	files := relFiles(p.ComposeFiles)
	m, err := plan.Plan(p, o.Plan)
	if err != nil {
		return nil, nil, compose.InFiles(files, err)
	}
	return m, files, nil
}

// Run migrates a project.
func Run(ctx context.Context, o Options) (Result, error) {
	m, files, err := Load(ctx, o)
	if err != nil {
		return Result{}, err
	}
	if o.Pin != nil {
		if err := pin.Pin(ctx, m, o.Pin); err != nil {
			return Result{}, err
		}
	}
	if o.RegistryMirror != "" {
		mirrorArtifacts(m, o.RegistryMirror)
	}
	wd, _ := os.Getwd()
	rep := report.Build(m, files, wd)
	if o.Cluster != "" {
		if rep.Site, err = sitePlan(ctx, m, files, rep.Secrets, o); err != nil {
			return Result{}, err
		}
	}
	res := Result{Report: rep, Model: m}
	if o.Strict {
		if err := strictCheck(m); err != nil {
			return res, err
		}
	}
	if o.Format == FormatYAML {
		return res, writeStream(m, o)
	}
	res.Files, err = writeTree(m, o, rep)
	return res, err
}

func strictCheck(m *model.Project) error {
	needs := model.NeedingInput(m.Decisions)
	if len(needs) == 0 {
		return nil
	}
	lines := make([]string, 0, len(needs))
	for _, d := range needs {
		svc := d.Service
		if svc == "" {
			svc = "(project)"
		}
		line := fmt.Sprintf("%s: %s: %s", svc, d.Key, d.Reason)
		if d.Hint != "" {
			line += " (hint: " + d.Hint + ")"
		}
		lines = append(lines, line)
	}
	return fmt.Errorf("%w (--strict): %d decisions:\n  %s", ErrNeedsInput, len(needs), strings.Join(lines, "\n  "))
}

func variant(overlay string) (k8s.Variant, error) {
	switch overlay {
	case "", "ha":
		return k8s.HA, nil
	case "single-node":
		return k8s.SingleNode, nil
	}
	return "", fmt.Errorf("unknown overlay %q: use ha or single-node", overlay)
}

func writeStream(m *model.Project, o Options) error {
	v, err := variant(o.Overlay)
	if err != nil {
		return err
	}
	// The shared objects, then each workload's, rendered as they are encoded: the stream's order is Render's.
	opts := k8s.Options{Variant: v, InlineSecrets: o.InlineSecrets}
	return kustomize.StreamOf(o.Stdout, len(m.Workloads)+1, func(i int) ([]k8s.Item, error) {
		if i == 0 {
			return k8s.RenderShared(m, opts)
		}
		return k8s.RenderWorkload(m, &m.Workloads[i-1], opts)
	})
}

// writeTree renders the base and the overlays and writes them with the report into o.Out, file by file as they are
// ready (a large project's tree is never held whole), replacing o.Out whole or not at all. It returns the files'
// names.
func writeTree(m *model.Project, o Options, rep report.Report) ([]string, error) {
	base, ha, err := renderings(m, o.InlineSecrets)
	if err != nil {
		return nil, err
	}
	small := map[string][]byte{}
	if o.RegistryMirror != "" {
		if err := cluster.CheckMirrorPaths(m.Images()); err != nil {
			return nil, err
		}
		k3s, talos, err := cluster.MirrorConfig(o.RegistryMirror, o.Airgap, registriesOf(m))
		if err != nil {
			return nil, err
		}
		small["cluster/k3s-registries.yaml"], small["cluster/talos-registry-mirrors.yaml"] = k3s, talos
	}
	if o.InlineSecrets {
		small[".gitignore"] = []byte("# --inline-secrets wrote Secret values here: keep them out of version control.\nbase/secrets.yaml\n")
	}
	out, err := fsutil.Stage(o.Out, fsutil.Marker, "agops")
	if err != nil {
		return nil, err
	}
	var mu sync.Mutex
	var names []string
	put := func(name string, data []byte) error {
		mu.Lock()
		names = append(names, name)
		mu.Unlock()
		return out.Write(name, fsutil.File{Data: data, Mode: 0o644})
	}
	if err := writeFiles(put, base, ha, rep, small); err != nil {
		out.Abort()
		return nil, err
	}
	if err := out.Commit(); err != nil {
		return nil, err
	}
	slices.Sort(names)
	return names, nil
}

// writeFiles puts the kustomize tree, the report and the small files. The tree goes first, so that its last
// objects are freed before the report is encoded.
func writeFiles(put kustomize.Sink, base, ha kustomize.Rendering, rep report.Report, small map[string][]byte) error {
	if err := kustomize.Write(base, ha, put); err != nil {
		return err
	}
	js, err := rep.JSON()
	if err != nil {
		return err
	}
	if err := put("report.json", js); err != nil {
		return err
	}
	js = nil
	if err := put("report.md", rep.Markdown()); err != nil {
		return err
	}
	for _, name := range slices.Sorted(maps.Keys(small)) {
		if err := put(name, small[name]); err != nil {
			return err
		}
	}
	return nil
}

// renderings are the base and the ha rendering, a file at a time as the tree is written: each workload is rendered
// when its file is, since a large project's objects of both variants would take more memory than anything else.
// The shared objects are rendered at once (only workloads differ between the variants).
func renderings(m *model.Project, inlineSecrets bool) (base, ha kustomize.Rendering, err error) {
	opts := k8s.Options{Variant: k8s.Base, InlineSecrets: inlineSecrets}
	shared, err := k8s.RenderShared(m, opts)
	if err != nil {
		_, err = k8s.Render(m, opts) // every problem at once, the workloads' too
		return base, ha, err
	}
	base = kustomize.RenderingOf(shared)
	sharedOf, nShared := base.Render, len(base.Files)
	at := map[string]int{} // file → index in base.Files
	for i, f := range base.Files {
		at[f] = i
	}
	workloadAt := map[int]int{} // index in base.Files → index in m.Workloads
	for i := range m.Workloads {
		f := k8s.WorkloadFile(&m.Workloads[i])
		ha.Files = append(ha.Files, f)
		if _, ok := at[f]; !ok { // a workload's file is its own, unless its name is that of a shared file
			at[f] = len(base.Files)
			base.Files = append(base.Files, f)
		}
		workloadAt[at[f]] = i
	}
	base.Render = func(i int) ([]k8s.Item, error) {
		var items []k8s.Item
		if i < nShared {
			items, _ = sharedOf(i)
		}
		w, ok := workloadAt[i]
		if !ok {
			return items, nil
		}
		own, err := k8s.RenderWorkload(m, &m.Workloads[w], opts)
		return append(slices.Clip(items), own...), err
	}
	ha.Render = func(i int) ([]k8s.Item, error) {
		return k8s.RenderWorkload(m, &m.Workloads[i], k8s.Options{Variant: k8s.HA, InlineSecrets: inlineSecrets})
	}
	return base, ha, nil
}

// sitePlan reads the cluster folder and plans the move into it.
func sitePlan(ctx context.Context, m *model.Project, files []string, secrets []report.SecretRef, o Options) (*report.Site, error) {
	spec, err := cluster.Read(o.Cluster)
	if err != nil {
		return nil, err
	}
	in := site.Inputs{Project: m, ComposeFiles: files, Out: o.Out, Cluster: o.Cluster, Spec: spec, Bundle: o.Bundle,
		Mirror: o.RegistryMirror, Secrets: secrets}
	if o.Bundle != "" && o.Pin != nil {
		in.Digest = func(ref string) (string, bool) {
			d, err := o.Pin.Digest(ctx, ref)
			return d, err == nil
		}
	}
	return site.Plan(in)
}

// mirrorArtifacts points the containers that copy an artifact (agops model pull) at the registry mirror: the nodes'
// mirror configuration serves the images containerd pulls, not what a program in a pod fetches itself.
func mirrorArtifacts(m *model.Project, mirror string) {
	for i := range m.Workloads {
		w := &m.Workloads[i]
		for _, cs := range [][]model.Container{w.Pod.InitContainers, w.Pod.Containers} {
			for j := range cs {
				if cs[j].ReadsImage && !slices.Contains(cs[j].Args, "--mirror") {
					cs[j].Args = append(cs[j].Args, "--mirror", mirror)
					m.Decisions = append(m.Decisions, model.Decision{Service: w.Service, Key: "image", Outcome: model.Mapped,
						Reason: fmt.Sprintf("agops mcp-bridge reads the entrypoint of %s from the mirror %s (--registry-mirror), under the path agops airgap push gives it", cs[j].Image, mirror)})
				}
				if cs[j].Artifact == "" || slices.Contains(cs[j].Args, "--mirror") {
					continue
				}
				cs[j].Args = append(cs[j].Args, "--mirror", mirror)
				m.Decisions = append(m.Decisions, model.Decision{Service: w.Service, Key: "models", Outcome: model.Mapped,
					Reason: fmt.Sprintf("%s's weights are pulled from the mirror %s (--registry-mirror), under the path agops airgap push gives them", cs[j].Artifact, mirror)})
			}
		}
	}
	model.SortDecisions(m.Decisions)
}

// registriesOf lists the registry hosts of the project's images (docker.io for Docker Hub, as containerd names it).
func registriesOf(m *model.Project) []string {
	set := map[string]bool{}
	for _, ref := range m.Images() {
		if r, err := name.ParseReference(ref); err == nil {
			host := r.Context().RegistryStr()
			if host == name.DefaultRegistry {
				host = "docker.io"
			}
			set[host] = true
		}
	}
	return slices.Sorted(maps.Keys(set))
}

// relFiles shows compose files relative to the working directory when they are below it.
func relFiles(files []string) []string {
	wd, _ := os.Getwd()
	out := make([]string, len(files))
	for i, f := range files {
		out[i] = f
		if rel, err := filepath.Rel(wd, f); err == nil && !strings.HasPrefix(rel, "..") {
			out[i] = rel
		}
	}
	return out
}

// PrintSecrets writes the project's Secrets with their values to Stdout, for `agops secrets | kubectl apply -f -`.
// A value that is not available (a missing file, an unset variable) is an error naming it.
func PrintSecrets(ctx context.Context, o Options) error {
	m, _, err := Load(ctx, o)
	if err != nil {
		return err
	}
	objs, err := k8s.Secrets(m)
	if err != nil {
		return err
	}
	items := make([]k8s.Item, len(objs))
	for i, obj := range objs {
		items[i] = k8s.Item{Object: obj}
	}
	out, err := kustomize.Stream(items)
	if err != nil {
		return err
	}
	_, err = o.Stdout.Write(out)
	return err
}
