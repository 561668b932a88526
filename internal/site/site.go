// Package site plans the move of a migrated project into a cluster written by agops cluster init: which files go
// to which machine and in which order to run what, outside the site and inside it, and what would break the move
// as asked (a mirror that differs, an image the bundle lacks, an accelerator no node carries).
//
// It reads the model, the cluster's Spec and the user's paths, and writes report.Site; it runs nothing.
package site

import (
	"fmt"
	"path"
	"slices"
	"strings"

	"github.com/agops/agops/internal/cluster"
	"github.com/agops/agops/internal/model"
	"github.com/agops/agops/internal/report"
)

// Machine names besides the nodes.
const (
	// Outside is the machine with internet where agops migrate ran.
	Outside = "outside"
	// Workstation is the machine inside the site that runs agops, kubectl and talosctl (cluster.Workstation).
	Workstation = cluster.Workstation
)

// Inputs are what the plan is made of.
type Inputs struct {
	// Project is the migrated project; its workloads' accelerator requests are checked against the cluster.
	Project *model.Project
	// ComposeFiles are the Compose files as the report shows them.
	ComposeFiles []string
	// Out is the output folder of agops migrate (-o), as given.
	Out string
	// Cluster is the cluster folder as given, and Spec what it was written from (cluster.Read).
	Cluster string
	Spec    cluster.Spec
	// Bundle is the air-gap bundle as given; empty when there is none. Digest is the digest it holds for an image,
	// false when it holds none.
	Bundle string
	Digest func(ref string) (string, bool)
	// Mirror is agops migrate's --registry-mirror (empty: the cluster's).
	Mirror string
	// Secrets are the Secrets the report says to create.
	Secrets []report.SecretRef
}

// Plan returns the site plan. A mirror that differs from the cluster's is an error: the nodes would pull from a
// registry the bundle was not pushed to. What can be fixed by the user without redoing the migration is a warning.
func Plan(in Inputs) (*report.Site, error) {
	spec := in.Spec
	if in.Mirror != "" && spec.RegistryMirror != "" && strings.TrimRight(in.Mirror, "/") != strings.TrimRight(spec.RegistryMirror, "/") {
		return nil, fmt.Errorf("--registry-mirror %s, but the cluster in %s pulls through %s: give the same mirror to both (or leave --registry-mirror out)",
			in.Mirror, in.Cluster, spec.RegistryMirror)
	}
	mirror := spec.RegistryMirror
	if mirror == "" {
		mirror = in.Mirror
	}
	proc := spec.Procedure()
	s := &report.Site{Cluster: in.Cluster, Distro: string(spec.Distro)}
	s.Warnings = append(s.Warnings, acceleratorWarnings(in.Project, spec)...)
	s.Warnings = append(s.Warnings, imageWarnings(in, mirror)...)

	p := planner{in: in, spec: spec, proc: proc, mirror: mirror, site: s}
	p.machines()
	p.outside()
	p.inside()
	return s, nil
}

// planner carries one Plan.
type planner struct {
	in     Inputs
	spec   cluster.Spec
	proc   cluster.Procedure
	mirror string
	site   *report.Site
}

func (p *planner) dir(rel string) string { return path.Join(p.in.Cluster, rel) + suffix(rel) }

// suffix keeps the trailing slash that marks a folder.
func suffix(rel string) string {
	if strings.HasSuffix(rel, "/") {
		return "/"
	}
	return ""
}

func (p *planner) talos() bool { return p.spec.Distro == cluster.Talos }

func (p *planner) machines() {
	var ws []string
	if p.in.Bundle != "" {
		ws = append(ws, p.in.Bundle)
	}
	ws = append(ws, strings.TrimRight(p.in.Out, "/")+"/")
	if p.talos() {
		ws = append(ws, strings.TrimRight(p.in.Cluster, "/")+"/")
	}
	if p.needsCompose() {
		ws = append(ws, p.in.ComposeFiles...)
	}
	also := "the agops binary and kubectl"
	if p.talos() {
		also += "; " + p.proc.Offline
	}
	if len(p.secretCommands()) > 0 {
		also += "; the files and .env the Compose project's secrets come from (see Secrets to create)"
	}
	p.site.Machines = append(p.site.Machines, report.SiteMachine{Name: Workstation, Role: "runs agops, kubectl" +
		map[bool]string{true: " and talosctl", false: ""}[p.talos()] + " inside the site; reaches the nodes and the registry", Copy: ws, Also: also})
	for _, m := range p.proc.Machines {
		sm := report.SiteMachine{Name: m.Name, Address: m.Address, Role: m.Role}
		for _, c := range m.Copy {
			sm.Copy = append(sm.Copy, p.dir(c))
		}
		if p.talos() {
			sm.Also = "boot media: " + m.Media
		} else {
			sm.Also = p.proc.Offline
		}
		p.site.Machines = append(p.site.Machines, sm)
	}
}

// needsCompose tells whether a Secret is created from the Compose project's files (agops secrets).
func (p *planner) needsCompose() bool {
	for _, s := range p.in.Secrets {
		if strings.HasPrefix(s.Create, "agops secrets") {
			return true
		}
	}
	return false
}

func (p *planner) step(phase, on string, st report.SiteStep) {
	st.Phase, st.On = phase, on
	p.site.Steps = append(p.site.Steps, st)
}

func (p *planner) outside() {
	if p.in.Bundle != "" {
		p.step(report.PhaseOutside, Outside, report.SiteStep{Run: []string{"agops airgap verify " + p.in.Bundle},
			Then: "every image and checksum `ok`; the bundle is what you carry"})
	}
	for _, st := range p.proc.Steps {
		if st.Online {
			p.step(report.PhaseOutside, Outside, p.onlineStep(st))
		}
	}
	carry := "carry onto each machine what the table above lists for it (removable media), keeping the paths"
	if !p.talos() {
		carry += "; `" + p.dir(cluster.TokenPath) + "` goes to the servers only"
	}
	p.step(report.PhaseOutside, Outside, report.SiteStep{Do: carry})
}

// onlineStep is a procedure step that needs the internet, done outside. Talos's boot media for an air-gapped site
// carry an image cache: its list is Talos's own images plus every image of the project and the cluster.
func (p *planner) onlineStep(st cluster.Step) report.SiteStep {
	rs := report.SiteStep{Do: st.Do, Run: st.Run, Then: st.Then}
	if p.talos() && p.spec.Airgap {
		files := make([]string, len(p.in.ComposeFiles))
		for i, f := range p.in.ComposeFiles {
			files[i] = "-f " + f
		}
		rs.Run = append(rs.Run,
			"talosctl images default > cache-images.txt",
			"agops airgap images "+strings.Join(files, " ")+" --cluster "+p.in.Cluster+" >> cache-images.txt",
			"talosctl images cache-create --image-cache-path ./image-cache.oci --images=- < cache-images.txt")
		rs.Then = "bake `image-cache.oci` into every node's boot media (`imager ... --image-cache`)"
	}
	return rs
}

func (p *planner) inside() {
	if p.in.Bundle != "" && p.mirror != "" {
		p.step(report.PhaseInside, Workstation, report.SiteStep{Run: []string{"agops airgap push " + p.in.Bundle + " --registry " + p.mirror},
			Then: "every image pushed with its digest (the registry must be up: any OCI registry)"})
	}
	for _, st := range p.proc.Steps {
		if st.Online {
			continue // done outside
		}
		rs := report.SiteStep{Do: st.Do, Run: st.Run, Then: st.Then}
		if len(st.Run) > 0 && (st.On != cluster.Workstation || p.talos()) {
			rs.In = strings.TrimRight(p.in.Cluster, "/") + "/"
		}
		p.step(report.PhaseInside, st.On, rs)
	}
	kc := path.Join(p.in.Cluster, p.proc.Kubeconfig)
	if !p.talos() {
		kc = p.proc.Kubeconfig
	}
	if cmds := p.secretCommands(); len(cmds) > 0 {
		first := []string{"export KUBECONFIG=$PWD/" + kc, "kubectl apply -f " + path.Join(p.in.Out, "base", "namespace.yaml")}
		p.step(report.PhaseInside, Workstation, report.SiteStep{Run: append(first, cmds...),
			Then: "the namespaces, then every Secret of the report's Secrets to create, exist"})
	}
	p.step(report.PhaseInside, Workstation, report.SiteStep{Run: []string{
		"agops apply " + strings.TrimRight(p.in.Out, "/") + " --overlay ha --wait --kubeconfig " + kc,
		p.spec.CheckCommand(kc),
	}, Then: "every workload ready, and the check counts the project's pods too: every image from the mirror or pinned by digest"})
}

// secretCommands are the distinct commands that create the report's Secrets.
func (p *planner) secretCommands() []string {
	var out []string
	for _, s := range p.in.Secrets {
		if strings.HasPrefix(s.Create, "external:") || slices.Contains(out, s.Create) {
			continue
		}
		out = append(out, s.Create)
	}
	return out
}

// acceleratorWarnings names each workload that requests an accelerator no node of the cluster advertises.
func acceleratorWarnings(m *model.Project, spec cluster.Spec) []string {
	have := map[string][]string{}
	for _, n := range spec.Nodes {
		if k, ok := spec.Accelerators[n.Name]; ok {
			have[spec.Resource(k)] = append(have[spec.Resource(k)], n.Name)
		}
	}
	var out []string
	for _, w := range m.Workloads {
		for _, res := range w.Accelerators() {
			nodes, ok := have[res]
			switch {
			case !ok:
				out = append(out, fmt.Sprintf("%s requests %s, which no node of the cluster advertises: its pods would stay Pending. "+
					"Give the node that has it `--accelerator NAME=KIND` in agops cluster init (or, for an NPU, the same `--npu-resource` to both commands).", w.Service, res))
			case int(w.HAReplicas) > len(nodes):
				out = append(out, fmt.Sprintf("%s runs %d replicas that request %s, and only %s advertises it: %d replica(s) share it or stay Pending, "+
					"and none runs while that node is down (agops rehearse --accelerator shows it).", w.Service, w.HAReplicas, res, strings.Join(nodes, ", "),
					int(w.HAReplicas)-len(nodes)))
			}
		}
	}
	return out
}

// imageWarnings name the images of the cluster's manifests the bundle lacks, and an air-gapped cluster with no bundle.
func imageWarnings(in Inputs, mirror string) []string {
	var out []string
	switch {
	case in.Bundle == "" && in.Spec.Airgap:
		out = append(out, "the cluster is air-gapped but no --bundle was given: the manifests are not pinned and nothing says what the mirror must hold. "+
			"Make one with `agops airgap bundle`, then migrate again with `--bundle`.")
	case in.Bundle != "" && mirror == "":
		out = append(out, "a bundle but no registry mirror: the nodes cannot pull what the bundle holds. Give `--registry-mirror` to agops cluster init.")
	}
	if in.Bundle == "" || in.Digest == nil {
		return out
	}
	var missing, differ []string
	for _, ref := range in.Spec.Images() {
		d, ok := in.Digest(ref)
		switch {
		case !ok:
			missing = append(missing, ref)
		case in.Spec.Digests[ref] != "" && in.Spec.Digests[ref] != d:
			differ = append(differ, ref)
		}
	}
	if len(missing) > 0 {
		flags := make([]string, len(missing))
		for i, m := range missing {
			flags[i] = "--image " + m
		}
		out = append(out, fmt.Sprintf("%s lacks images the cluster's own manifests use (%s): the nodes could not pull them. "+
			"Bundle again with `--cluster %s` (or `%s`), and migrate again.", in.Bundle, strings.Join(missing, ", "), in.Cluster, strings.Join(flags, " ")))
	}
	if len(differ) > 0 {
		out = append(out, fmt.Sprintf("%s pins %s to digests other than %s holds: write it again with `agops cluster init ... --bundle %s`.",
			in.Cluster, strings.Join(differ, ", "), in.Bundle, in.Bundle))
	}
	if len(missing) == 0 && !in.Spec.Pinned() {
		out = append(out, fmt.Sprintf("the cluster's own manifests in %s name images by tag: write the folder again with the same flags and "+
			"`--bundle %s` (the join token stays), so the nodes run exactly what the bundle holds.", in.Cluster, in.Bundle))
	}
	return out
}
