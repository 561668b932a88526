package check

import (
	"fmt"
	"path"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

func checkContainerSecurity(inv *inventory) []Finding {
	return eachContainer(inv, func(w *workload, c container) []Finding {
		sc := c.SecurityContext
		if sc == nil {
			sc = &corev1.SecurityContext{}
		}
		var out []Finding
		add := func(rule, detail string) { out = append(out, containerFinding(rule, w, c, detail)) }
		if isTrue(sc.Privileged) {
			add(rulePrivileged, "runs privileged, with every device and capability of the node")
		}
		if extra := addedCapabilities(sc.Capabilities); len(extra) > 0 {
			add(ruleCapabilitiesAdded, "adds capabilities "+strings.Join(extra, ", "))
		}
		if !dropsAll(sc.Capabilities) {
			add(ruleCapabilitiesKept, "keeps the runtime's default capabilities (no drop: [ALL])")
		}
		if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
			add(rulePrivilegeEscalation, "does not set allowPrivilegeEscalation: false")
		}
		if detail := rootDetail(w.spec.SecurityContext, sc); detail != "" {
			add(ruleRunAsRoot, detail)
		}
		if !isTrue(sc.ReadOnlyRootFilesystem) {
			add(ruleWritableRootFS, "has a writable root filesystem")
		}
		if detail := seccompDetail(w.spec.SecurityContext, sc); detail != "" {
			add(ruleSeccompMissing, detail)
		}
		for _, p := range c.Ports {
			if p.HostPort != 0 {
				add(ruleHostPort, fmt.Sprintf("binds port %d/%s on the node (hostPort)", p.HostPort, protocol(p.Protocol)))
			}
		}
		return out
	})
}

func isTrue(b *bool) bool { return b != nil && *b }

func protocol(p corev1.Protocol) string {
	if p == "" {
		return "TCP"
	}
	return string(p)
}

// capName normalises a capability: upper case, without the CAP_ prefix.
func capName(c corev1.Capability) string {
	return strings.TrimPrefix(strings.ToUpper(string(c)), "CAP_")
}

func addedCapabilities(caps *corev1.Capabilities) []string {
	if caps == nil {
		return nil
	}
	var out []string
	for _, c := range caps.Add {
		if n := capName(c); n != "NET_BIND_SERVICE" {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}

func dropsAll(caps *corev1.Capabilities) bool {
	if caps == nil {
		return false
	}
	for _, c := range caps.Drop {
		if capName(c) == "ALL" {
			return true
		}
	}
	return false
}

// rootDetail explains why a container may run as root: the container's settings win over the pod's.
func rootDetail(pod *corev1.PodSecurityContext, sc *corev1.SecurityContext) string {
	nonRoot, user := sc.RunAsNonRoot, sc.RunAsUser
	if pod != nil {
		if nonRoot == nil {
			nonRoot = pod.RunAsNonRoot
		}
		if user == nil {
			user = pod.RunAsUser
		}
	}
	switch {
	case user != nil && *user == 0:
		return "runs as user 0 (root)"
	case user != nil || isTrue(nonRoot):
		return ""
	default:
		return "does not set runAsNonRoot: true, so the image decides the user (often root)"
	}
}

// seccompDetail explains a missing or unconfined seccomp profile; the container's profile wins over the pod's.
func seccompDetail(pod *corev1.PodSecurityContext, sc *corev1.SecurityContext) string {
	p := sc.SeccompProfile
	if p == nil && pod != nil {
		p = pod.SeccompProfile
	}
	switch {
	case p == nil:
		return "sets no seccomp profile"
	case p.Type == corev1.SeccompProfileTypeUnconfined:
		return "runs with seccomp Unconfined"
	}
	return ""
}

func checkPodSecurity(inv *inventory) []Finding {
	var out []Finding
	for _, w := range inv.workloads {
		if shared := hostNamespaces(w.spec); len(shared) > 0 {
			out = append(out, newFinding(ruleHostNamespace, w.ref, "shares the node's "+joinAnd(shared)))
		}
		for _, v := range w.spec.Volumes {
			if v.HostPath == nil {
				continue
			}
			rule, what := ruleHostPath, "mounts hostPath %s (volume %s)"
			if runtimeSocket(v.HostPath.Path) {
				rule, what = ruleRuntimeSocket, "mounts %s from the node (volume %s), which gives root on the node"
			}
			out = append(out, newFinding(rule, w.ref, fmt.Sprintf(what, v.HostPath.Path, v.Name)))
		}
		if sa, ok := inv.tokenMounted(w); ok {
			out = append(out, newFinding(ruleTokenAutomount, w.ref, "mounts a token of ServiceAccount "+sa))
		}
	}
	return out
}

func hostNamespaces(spec *corev1.PodSpec) []string {
	var shared []string
	if spec.HostNetwork {
		shared = append(shared, "network (hostNetwork)")
	}
	if spec.HostPID {
		shared = append(shared, "process IDs (hostPID)")
	}
	if spec.HostIPC {
		shared = append(shared, "IPC (hostIPC)")
	}
	return shared
}

// runtimeSockets are the container runtime sockets of Docker, containerd (k3s's own included), CRI-O and Podman;
// socketDirs are folders that hold one.
var (
	runtimeSockets = []string{"docker.sock", "containerd.sock", "crio.sock", "podman.sock", "cri-dockerd.sock"}
	socketDirs     = []string{"/", "/run", "/var/run", "/run/containerd", "/var/run/containerd", "/run/k3s",
		"/run/k3s/containerd", "/run/docker", "/var/run/docker", "/run/crio", "/var/run/crio", "/run/podman", "/var/run/podman"}
)

func runtimeSocket(p string) bool {
	p = path.Clean("/" + p)
	for _, s := range runtimeSockets {
		if path.Base(p) == s {
			return true
		}
	}
	for _, d := range socketDirs {
		if p == d {
			return true
		}
	}
	return false
}

// tokenMounted tells whether the pods get a ServiceAccount token automatically, and from which account: the pod's
// setting wins over its ServiceAccount's, and a token is mounted when neither says no.
func (inv *inventory) tokenMounted(w *workload) (string, bool) {
	name := w.spec.ServiceAccountName
	if name == "" {
		name = w.spec.DeprecatedServiceAccount
	}
	if name == "" {
		name = "default"
	}
	if w.spec.AutomountServiceAccountToken != nil {
		return name, *w.spec.AutomountServiceAccountToken
	}
	if sa, ok := inv.accounts[Ref{Kind: "ServiceAccount", Namespace: w.ref.Namespace, Name: name}]; ok && sa.AutomountServiceAccountToken != nil {
		return name, *sa.AutomountServiceAccountToken
	}
	return name, true
}

// joinAnd joins words as prose: "a", "a and b", "a, b and c".
func joinAnd(words []string) string {
	if len(words) < 2 {
		return strings.Join(words, "")
	}
	return strings.Join(words[:len(words)-1], ", ") + " and " + words[len(words)-1]
}
