package cluster

import (
	"fmt"
	"strings"
)

// Workstation names the machine that runs agops, kubectl and talosctl in a Procedure; nodes are named by their
// node name.
const Workstation = "workstation"

// Machine is one node and what it receives from the cluster folder.
type Machine struct {
	Name    string
	Address string
	// Role is what the node does in the set-up ("server 1: initialises the cluster (cluster-init)").
	Role string
	// Copy are the paths, relative to the cluster folder, that go onto the machine; empty for Talos, whose machines
	// get their configuration over talosctl.
	Copy []string
	// Media is the boot media the machine needs (Talos); empty for k3s.
	Media string
}

// Step is one thing to do, on one machine, in the order of a Procedure.
type Step struct {
	// On is a node's name or Workstation.
	On string
	// Do is what to do in words, when it is not a command (booting from media); may be empty.
	Do string
	// Run are the commands, in order.
	Run []string
	// Then is what to see before going on; empty when nothing needs watching.
	Then string
	// Online marks a step that needs the internet (downloading boot media): in an air-gapped site it is done
	// outside, before the files are carried in.
	Online bool
}

// Procedure is the set-up of a cluster: which files go to which machine, and in which order to run what.
type Procedure struct {
	Machines []Machine
	Steps    []Step
	// Kubeconfig is the file the workstation's steps leave the cluster's kubeconfig in.
	Kubeconfig string
	// Offline names what the machines need besides the cluster folder (the distribution's own release files).
	Offline string
}

// Procedure returns the set-up of the cluster s describes; README.md renders it, and so does the site plan of
// agops migrate --cluster.
func (s Spec) Procedure() Procedure {
	if s.Distro == Talos {
		return s.talosProcedure()
	}
	return s.k3sProcedure()
}

func (s Spec) k3sProcedure() Procedure {
	p := Procedure{Kubeconfig: "k3s.yaml", Offline: "the offline files of the k3s release you chose, next to `install.sh`: the `k3s` " +
		"binary, `k3s-airgap-images-amd64.tar.zst` and k3s's install script saved as `install-k3s.sh`"}
	vip := bracket(s.VIP.String())
	for i, n := range s.Nodes {
		role := "joins through the VIP"
		if i == 0 {
			role = "initialises the cluster (`cluster-init`)"
		}
		p.Machines = append(p.Machines, Machine{Name: n.Name, Address: n.Addr.String(), Role: fmt.Sprintf("server %d: %s", i+1, role),
			Copy: []string{n.Name + "/", "manifests/", TokenPath}})
	}
	for _, n := range s.Nodes {
		p.Steps = append(p.Steps, Step{On: n.Name, Run: []string{"sudo ./" + n.Name + "/preflight.sh"},
			Then: "every line `ok` (hostname, address, ports 6443/2379/2380/10250, time sync, default route, disk)"})
	}
	first := s.Nodes[0].Name
	p.Steps = append(p.Steps, Step{On: first, Run: []string{"sudo ./" + first + "/install.sh"},
		Then: fmt.Sprintf("`k3s kubectl get nodes` shows %s Ready and `curl -ks https://%s:6443/readyz` answers `ok` (kube-vip holds the VIP)", first, vip)})
	for _, n := range s.Nodes[1:] {
		p.Steps = append(p.Steps, Step{On: n.Name, Run: []string{"sudo ./" + n.Name + "/install.sh"},
			Then: n.Name + " is Ready (the script refuses to start while the VIP is silent); one server at a time"})
	}
	p.Steps = append(p.Steps, Step{On: Workstation, Run: []string{
		fmt.Sprintf("scp root@%s:/etc/rancher/k3s/k3s.yaml k3s.yaml", bracket(s.Nodes[0].Addr.String())),
		fmt.Sprintf("sed -i 's#https://127.0.0.1:6443#https://%s:6443#' k3s.yaml", vip),
		s.CheckCommand("k3s.yaml"),
	}, Then: "every check `ok`"})
	return p
}

func (s Spec) talosProcedure() Procedure {
	p := Procedure{Kubeconfig: "kubeconfig", Offline: "`talosctl` of your Talos release on the workstation, and the boot media the steps prepare"}
	for i, n := range s.Nodes {
		media := "the stock Talos image"
		if talosExtensions(s.Accelerators[n.Name]) != nil {
			media = "built from `" + n.Name + "/schematic.yaml`"
		}
		if s.Airgap {
			media += " with your image cache"
		}
		role := fmt.Sprintf("control plane %d", i+1)
		if i == 0 {
			role += ": bootstraps etcd"
		}
		p.Machines = append(p.Machines, Machine{Name: n.Name, Address: n.Addr.String(), Role: role, Media: media})
	}
	vip := "https://" + bracket(s.VIP.String()) + ":6443"
	first := s.first().String()
	p.Steps = []Step{
		{On: Workstation, Run: []string{"talosctl gen secrets -o secrets/secrets.yaml"}, Then: "the cluster's CAs and tokens; keep `secrets/` out of git"},
		{On: Workstation, Do: "prepare the boot media (with internet): " + s.talosMediaStep(), Online: true},
	}
	gen := Step{On: Workstation, Then: "these outputs hold secrets too"}
	for _, n := range s.Nodes {
		gen.Run = append(gen.Run, fmt.Sprintf("talosctl gen config %s %s --with-secrets secrets/secrets.yaml --config-patch @shared-patch.yaml "+
			"--config-patch @%s/patch.yaml --output-types controlplane --output %s/controlplane.yaml", TalosClusterName, vip, n.Name, n.Name))
	}
	gen.Run = append(gen.Run, fmt.Sprintf("talosctl gen config %s %s --with-secrets secrets/secrets.yaml --config-patch @shared-patch.yaml "+
		"--output-types talosconfig --output talosconfig", TalosClusterName, vip))
	p.Steps = append(p.Steps, gen)
	for _, n := range s.Nodes {
		p.Steps = append(p.Steps, Step{On: n.Name, Do: "boot from its media (maintenance mode)"},
			Step{On: Workstation, Run: []string{fmt.Sprintf("talosctl apply-config --insecure --nodes %s --file %s/controlplane.yaml", n.Addr, n.Name)}})
	}
	p.Steps = append(p.Steps,
		Step{On: Workstation, Run: []string{fmt.Sprintf("talosctl --talosconfig talosconfig bootstrap --nodes %s --endpoints %s", first, first)},
			Then: "once, on " + s.Nodes[0].Name + " only: etcd forms and the VIP comes up on one node"},
		Step{On: Workstation, Run: []string{
			fmt.Sprintf("talosctl --talosconfig talosconfig kubeconfig --nodes %s --endpoints %s kubeconfig", first, first),
			"kubectl --kubeconfig kubeconfig apply -f manifests/",
			s.CheckCommand("kubeconfig"),
		}, Then: "every check `ok`"})
	return p
}

// markdown writes the procedure's machines and steps as README.md's first two sections.
func (p Procedure) markdown(b *strings.Builder, talos bool) {
	b.WriteString("## What goes to which machine\n\n")
	if talos {
		b.WriteString("Talos has no shell: nothing is copied onto the machines. From your workstation, " +
			"`talosctl` sends each machine its own configuration, built from `shared-patch.yaml` and the node's `patch.yaml`.\n\n")
		b.WriteString("| machine | address | role | boot media |\n|---|---|---|---|\n")
		for _, m := range p.Machines {
			fmt.Fprintf(b, "| %s | %s | %s | %s |\n", m.Name, m.Address, m.Role, m.Media)
		}
	} else {
		b.WriteString("| machine | address | copy | role |\n|---|---|---|---|\n")
		for _, m := range p.Machines {
			fmt.Fprintf(b, "| %s | %s | %s | %s |\n", m.Name, m.Address, codeList(m.Copy), m.Role)
		}
		b.WriteString("\nKeep the layout: one folder on each machine (say `/root/agops-cluster/`) holding its copies, and " +
			p.Offline + ". `" + TokenPath + "` is the cluster's join token (mode 0600): copy it only to the servers, never into git.\n")
	}
	b.WriteString("\n## In this order\n\n")
	for i, st := range p.Steps {
		fmt.Fprintf(b, "%d. On %s: %s", i+1, st.On, st.Text())
		if st.Then != "" {
			b.WriteString(" — then: " + st.Then)
		}
		if !strings.HasSuffix(b.String(), ".") {
			b.WriteString(".")
		}
		b.WriteString("\n")
	}
	b.WriteString("\n")
}

// codeList writes paths as `a`, `b`.
func codeList(paths []string) string {
	out := make([]string, len(paths))
	for i, p := range paths {
		out[i] = "`" + p + "`"
	}
	return strings.Join(out, ", ")
}

// Text is the step's Do and Run in Markdown: words as they are, commands in backquotes, joined by "; ".
func (st Step) Text() string {
	var out []string
	if st.Do != "" {
		out = append(out, st.Do)
	}
	for _, r := range st.Run {
		out = append(out, "`"+r+"`")
	}
	return strings.Join(out, "; ")
}

// CheckCommand is the agops cluster check command line that verifies this cluster with kubeconfig.
func (s Spec) CheckCommand(kubeconfig string) string {
	return "agops cluster check --kubeconfig " + kubeconfig + " " + s.checkFlags()
}
