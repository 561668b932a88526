package check

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// hostnameKey is the node label a spread across nodes is about; zones rarely exist in a small lab.
const hostnameKey = "kubernetes.io/hostname"

// selectorOf reads a label selector; one the API server would reject selects nothing.
func selectorOf(s *metav1.LabelSelector) labels.Selector {
	sel, err := metav1.LabelSelectorAsSelector(s)
	if err != nil {
		return labels.Nothing()
	}
	return sel
}

// selected lists the workloads of ns whose pod labels sel matches.
func (inv *inventory) selected(ns string, sel labels.Selector) []*workload {
	var out []*workload
	for _, w := range inv.inNamespace(ns) {
		if sel.Matches(w.labels) {
			out = append(out, w)
		}
	}
	return out
}

// pods says how many pods of a workload run, for messages.
func (w *workload) pods() string {
	switch {
	case w.ref.Kind == "DaemonSet":
		return "runs a pod on every node"
	case w.ref.Kind == "Job" || w.ref.Kind == "CronJob":
		return fmt.Sprintf("runs %d pods in parallel", w.replicas)
	}
	return fmt.Sprintf("runs %d replicas", w.replicas)
}

func checkDisruption(inv *inventory) []Finding {
	var out []Finding
	for _, w := range inv.workloads {
		if !w.replicated() {
			continue
		}
		covered := false
		for _, pdb := range inv.pdbs {
			covered = covered || (pdb.Namespace == w.ref.Namespace && selectorOf(pdb.Spec.Selector).Matches(w.labels))
		}
		if !covered {
			out = append(out, newFinding(rulePDBMissing, w.ref, w.pods()+" and no PodDisruptionBudget selects its pods, so a node drain may stop them all at once"))
		}
	}
	for _, pdb := range inv.pdbs {
		ref := Ref{Kind: "PodDisruptionBudget", Namespace: pdb.Namespace, Name: pdb.Name}
		matched := inv.selected(pdb.Namespace, selectorOf(pdb.Spec.Selector))
		if len(matched) == 0 {
			out = append(out, newFinding(rulePDBSelectsNothing, ref, "selects no pods of any workload in namespace "+pdb.Namespace))
			continue
		}
		if detail := blocksEviction(pdb, matched); detail != "" {
			out = append(out, newFinding(rulePDBBlocksEviction, ref, detail))
		}
	}
	return out
}

// blocksEviction explains how a budget forbids every eviction, or returns "".
func blocksEviction(pdb *policyv1.PodDisruptionBudget, matched []*workload) string {
	if mu := pdb.Spec.MaxUnavailable; mu != nil {
		if v, err := intstr.GetScaledValueFromIntOrPercent(mu, 100, true); err == nil && v == 0 {
			return fmt.Sprintf("allows maxUnavailable %s, so no pod can ever be evicted", mu.String())
		}
		return ""
	}
	ma := pdb.Spec.MinAvailable
	if ma == nil {
		return ""
	}
	if ma.Type == intstr.String && ma.StrVal == "100%" {
		return "requires minAvailable 100%, so no pod can ever be evicted"
	}
	total := 0
	for _, w := range matched {
		if w.ref.Kind != "Deployment" && w.ref.Kind != "StatefulSet" {
			return "" // a DaemonSet's or Job's pod count is not in the manifests
		}
		total += int(w.replicas)
	}
	if v, err := intstr.GetScaledValueFromIntOrPercent(ma, total, true); err == nil && v >= total {
		return fmt.Sprintf("requires minAvailable %s of the %d replicas it selects, so no pod can ever be evicted", ma.String(), total)
	}
	return ""
}

func checkSpread(inv *inventory) []Finding {
	var out []Finding
	for _, w := range inv.workloads {
		if w.replicated() && !spreadsByHost(w.spec) {
			out = append(out, newFinding(ruleSpreadMissing, w.ref, w.pods()+" with no topology spread or pod anti-affinity on "+hostnameKey+", so they may all land on one node"))
		}
	}
	return out
}

func spreadsByHost(spec *corev1.PodSpec) bool {
	for _, c := range spec.TopologySpreadConstraints {
		if c.TopologyKey == hostnameKey {
			return true
		}
	}
	if spec.Affinity == nil || spec.Affinity.PodAntiAffinity == nil {
		return false
	}
	aa := spec.Affinity.PodAntiAffinity
	for _, t := range aa.RequiredDuringSchedulingIgnoredDuringExecution {
		if t.TopologyKey == hostnameKey {
			return true
		}
	}
	for _, t := range aa.PreferredDuringSchedulingIgnoredDuringExecution {
		if t.PodAffinityTerm.TopologyKey == hostnameKey {
			return true
		}
	}
	return false
}

func checkSharedClaims(inv *inventory) []Finding {
	var out []Finding
	for _, w := range inv.workloads {
		if !w.manyPods() {
			continue
		}
		for _, v := range w.spec.Volumes {
			if v.PersistentVolumeClaim == nil {
				continue
			}
			claim, ok := inv.claims[Ref{Kind: "PersistentVolumeClaim", Namespace: w.ref.Namespace, Name: v.PersistentVolumeClaim.ClaimName}]
			if ok && onlyOneNode(claim.Spec.AccessModes) {
				out = append(out, newFinding(ruleRWOShared, w.ref, fmt.Sprintf("%s that share claim %s (%s), which only one node can mount",
					w.pods(), claim.Name, accessModes(claim.Spec.AccessModes))))
			}
		}
	}
	return out
}

// onlyOneNode tells whether a claim's access modes allow only one node (an empty list is the class's default, unknown).
func onlyOneNode(modes []corev1.PersistentVolumeAccessMode) bool {
	for _, m := range modes {
		if m != corev1.ReadWriteOnce && m != corev1.ReadWriteOncePod {
			return false
		}
	}
	return len(modes) > 0
}

func accessModes(modes []corev1.PersistentVolumeAccessMode) string {
	s := ""
	for i, m := range modes {
		if i > 0 {
			s += ", "
		}
		s += string(m)
	}
	return s
}

func checkServices(inv *inventory) []Finding {
	var out []Finding
	for _, svc := range inv.services {
		if svc.Spec.Type == corev1.ServiceTypeExternalName || len(svc.Spec.Selector) == 0 {
			continue // ExternalName and selector-less Services have no pods of their own
		}
		ref := Ref{Kind: "Service", Namespace: svc.Namespace, Name: svc.Name}
		set := labels.Set(svc.Spec.Selector)
		matched := inv.selected(svc.Namespace, labels.SelectorFromSet(set))
		if len(matched) == 0 {
			out = append(out, newFinding(ruleServiceSelectsNone, ref, "selects no pods: no workload in namespace "+svc.Namespace+" has labels "+set.String()))
			continue
		}
		for _, p := range svc.Spec.Ports {
			if p.TargetPort.Type == intstr.String && p.TargetPort.StrVal != "" && !declaresPort(matched, p.TargetPort.StrVal) {
				out = append(out, newFinding(ruleServiceTargetPort, ref, fmt.Sprintf("port %d targets container port %q, which no selected container declares", p.Port, p.TargetPort.StrVal)))
			}
		}
	}
	return out
}

func declaresPort(ws []*workload, name string) bool {
	for _, w := range ws {
		for _, c := range containersOf(w.spec) {
			for _, p := range c.Ports {
				if p.Name == name {
					return true
				}
			}
		}
	}
	return false
}
