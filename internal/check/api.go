package check

// removedAPIs maps apiVersions that Kubernetes no longer serves (all removed by 1.32) to their replacement; a
// replacement that depends on the kind is keyed "apiVersion Kind", and "" means the kind has no successor.
var removedAPIs = map[string]string{
	"extensions/v1beta1":                   "apps/v1",
	"extensions/v1beta1 Ingress":           "networking.k8s.io/v1",
	"extensions/v1beta1 NetworkPolicy":     "networking.k8s.io/v1",
	"extensions/v1beta1 PodSecurityPolicy": "",
	"apps/v1beta1":                         "apps/v1",
	"apps/v1beta2":                         "apps/v1",
	"policy/v1beta1":                       "policy/v1",
	"policy/v1beta1 PodSecurityPolicy":     "",
	"batch/v1beta1":                        "batch/v1",
	"networking.k8s.io/v1beta1":            "networking.k8s.io/v1",
	"autoscaling/v2beta1":                  "autoscaling/v2",
	"autoscaling/v2beta2":                  "autoscaling/v2",
	"rbac.authorization.k8s.io/v1beta1":    "rbac.authorization.k8s.io/v1",
	"storage.k8s.io/v1beta1":               "storage.k8s.io/v1",
	"scheduling.k8s.io/v1beta1":            "scheduling.k8s.io/v1",
	"discovery.k8s.io/v1beta1":             "discovery.k8s.io/v1",
	"events.k8s.io/v1beta1":                "events.k8s.io/v1",
	"node.k8s.io/v1beta1":                  "node.k8s.io/v1",
	"admissionregistration.k8s.io/v1beta1": "admissionregistration.k8s.io/v1",
	"apiextensions.k8s.io/v1beta1":         "apiextensions.k8s.io/v1",
	"apiregistration.k8s.io/v1beta1":       "apiregistration.k8s.io/v1",
	"coordination.k8s.io/v1beta1":          "coordination.k8s.io/v1",
	"certificates.k8s.io/v1beta1":          "certificates.k8s.io/v1",
	"flowcontrol.apiserver.k8s.io/v1beta1": "flowcontrol.apiserver.k8s.io/v1",
	"flowcontrol.apiserver.k8s.io/v1beta2": "flowcontrol.apiserver.k8s.io/v1",
	"flowcontrol.apiserver.k8s.io/v1beta3": "flowcontrol.apiserver.k8s.io/v1",
}

func checkAPIVersions(inv *inventory) []Finding {
	var out []Finding
	for _, u := range inv.raw {
		av := u.GetAPIVersion()
		repl, ok := removedAPIs[av+" "+u.GetKind()]
		if !ok {
			repl, ok = removedAPIs[av]
		}
		if !ok {
			continue
		}
		f := newFinding(ruleDeprecatedAPI, refOf(u), "uses apiVersion "+av+", which current Kubernetes no longer serves")
		if repl == "" {
			f.Fix = "remove it: " + u.GetKind() + " has no successor (PodSecurityPolicy gave way to Pod Security admission labels)"
		} else {
			f.Fix = "change apiVersion to " + repl + " and adjust the fields that changed with it"
		}
		out = append(out, f)
	}
	return out
}
