package check

import (
	"fmt"
	"strings"

	networkingv1 "k8s.io/api/networking/v1"

	"github.com/agops/agops/internal/check/reach"
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

// checkPolicyBothWays finds the policies that kube-router, k3s's enforcer, reads more widely than the API: one that
// isolates both directions and admits pods it selects itself opens connections between them that its rules deny
// (see reach.Crossings). Objects the reachability model rejects are left to it.
func checkPolicyBothWays(inv *inventory) []Finding {
	crossings, err := reach.Crossings(inv.raw, reach.Options{})
	if err != nil {
		return nil
	}
	opened := map[string][]string{}
	for _, c := range crossings {
		for _, p := range c.Policies {
			opened[p] = append(opened[p], fmt.Sprintf("%s -> %s (%s)", c.Edge.From, c.Edge.To, strings.Join(c.Edge.Ports, ", ")))
		}
	}
	var out []Finding
	for _, id := range sortedKeys(opened) {
		ns, name, _ := strings.Cut(id, "/")
		out = append(out, newFinding(rulePolicyBothWays, Ref{Kind: "NetworkPolicy", Namespace: ns, Name: name},
			"isolates both directions, so kube-router also applies its rules the other way and opens "+
				strings.Join(opened[id], "; ")+", which its rules deny"))
	}
	return out
}
