package check

import (
	networkingv1 "k8s.io/api/networking/v1"
)

// enforceLabel is the Pod Security admission label that turns enforcement on for a namespace.
const enforceLabel = "pod-security.kubernetes.io/enforce"

// checkNamespaces looks at each namespace that runs pods (for default deny) and each Namespace object (for the Pod
// Security label). Objects without a namespace are left out: which one they land in is the applier's choice.
func checkNamespaces(inv *inventory) []Finding {
	var out []Finding
	for _, ns := range podNamespaces(inv) {
		ingress, egress := defaultDeny(inv.netpols, ns)
		var open []string
		if !ingress {
			open = append(open, "ingress")
		}
		if !egress {
			open = append(open, "egress")
		}
		if len(open) > 0 {
			out = append(out, newFinding(ruleDefaultDenyMissing, Ref{Kind: "Namespace", Name: ns},
				"has no NetworkPolicy isolating all its pods for "+joinAnd(open)+", so every pod can reach and be reached freely"))
		}
	}
	for _, name := range sortedKeys(inv.namespaces) {
		ns := inv.namespaces[name]
		ref := Ref{Kind: "Namespace", Name: name}
		switch level, ok := ns.Labels[enforceLabel]; {
		case !ok || level == "":
			out = append(out, newFinding(rulePodSecurityMissing, ref, "has no "+enforceLabel+" label, so any pod spec is admitted"))
		case level != "privileged" && level != "baseline" && level != "restricted":
			out = append(out, newFinding(rulePodSecurityMissing, ref, "has "+enforceLabel+"="+level+", which is not privileged, baseline or restricted"))
		}
	}
	return out
}

// podNamespaces lists the named namespaces that hold workloads.
func podNamespaces(inv *inventory) []string {
	seen := map[string]bool{}
	for _, w := range inv.workloads {
		if w.ref.Namespace != "" {
			seen[w.ref.Namespace] = true
		}
	}
	return sortedKeys(seen)
}

// defaultDeny tells whether a policy selecting every pod of ns isolates them for ingress and for egress without
// allowing all of it back (a rule with no peers and no ports). Which traffic the policies allow beyond that is the
// reachability matrix's business.
func defaultDeny(policies []*networkingv1.NetworkPolicy, ns string) (ingress, egress bool) {
	for _, np := range policies {
		if np.Namespace != ns || len(np.Spec.PodSelector.MatchLabels) > 0 || len(np.Spec.PodSelector.MatchExpressions) > 0 {
			continue
		}
		types := np.Spec.PolicyTypes
		if len(types) == 0 {
			// The API server's default: Ingress always, Egress when there are egress rules.
			types = []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}
			if len(np.Spec.Egress) > 0 {
				types = append(types, networkingv1.PolicyTypeEgress)
			}
		}
		for _, t := range types {
			switch t {
			case networkingv1.PolicyTypeIngress:
				ingress = ingress || !allowsAllIngress(np.Spec.Ingress)
			case networkingv1.PolicyTypeEgress:
				egress = egress || !allowsAllEgress(np.Spec.Egress)
			}
		}
	}
	return ingress, egress
}

func allowsAllIngress(rules []networkingv1.NetworkPolicyIngressRule) bool {
	for _, r := range rules {
		if len(r.From) == 0 && len(r.Ports) == 0 {
			return true
		}
	}
	return false
}

func allowsAllEgress(rules []networkingv1.NetworkPolicyEgressRule) bool {
	for _, r := range rules {
		if len(r.To) == 0 && len(r.Ports) == 0 {
			return true
		}
	}
	return false
}
