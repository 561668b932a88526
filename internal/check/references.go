package check

import (
	corev1 "k8s.io/api/core/v1"
)

// reference is one object a pod template needs in its namespace.
type reference struct {
	kind, name string
	optional   bool
}

// providedObjects exist in every namespace without being in the manifests.
var providedObjects = map[reference]bool{
	{kind: "ConfigMap", name: "kube-root-ca.crt"}: true,
	{kind: "ServiceAccount", name: "default"}:     true,
}

func checkReferences(inv *inventory) []Finding {
	var out []Finding
	for _, w := range inv.workloads {
		for _, r := range references(w.spec) {
			ref := Ref{Kind: r.kind, Namespace: w.ref.Namespace, Name: r.name}
			if r.optional || r.name == "" || inv.present[ref] || providedObjects[reference{kind: r.kind, name: r.name}] {
				continue
			}
			rule := ruleMissingReference
			if r.kind == "Secret" {
				rule = ruleSecretNotInManifests
			}
			out = append(out, newFinding(rule, w.ref, "uses "+r.kind+" "+r.name+", which is not in the manifests"))
		}
	}
	return out
}

// references lists the ConfigMaps, Secrets, claims and ServiceAccount a pod template names.
func references(spec *corev1.PodSpec) []reference {
	var refs []reference
	add := func(kind, name string, optional *bool) {
		refs = append(refs, reference{kind: kind, name: name, optional: isTrue(optional)})
	}
	for _, v := range spec.Volumes {
		switch {
		case v.ConfigMap != nil:
			add("ConfigMap", v.ConfigMap.Name, v.ConfigMap.Optional)
		case v.Secret != nil:
			add("Secret", v.Secret.SecretName, v.Secret.Optional)
		case v.PersistentVolumeClaim != nil:
			add("PersistentVolumeClaim", v.PersistentVolumeClaim.ClaimName, nil)
		case v.Projected != nil:
			for _, s := range v.Projected.Sources {
				if s.ConfigMap != nil {
					add("ConfigMap", s.ConfigMap.Name, s.ConfigMap.Optional)
				}
				if s.Secret != nil {
					add("Secret", s.Secret.Name, s.Secret.Optional)
				}
			}
		}
	}
	for _, c := range containersOf(spec) {
		for _, e := range c.EnvFrom {
			if e.ConfigMapRef != nil {
				add("ConfigMap", e.ConfigMapRef.Name, e.ConfigMapRef.Optional)
			}
			if e.SecretRef != nil {
				add("Secret", e.SecretRef.Name, e.SecretRef.Optional)
			}
		}
		for _, e := range c.Env {
			if e.ValueFrom == nil {
				continue
			}
			if r := e.ValueFrom.ConfigMapKeyRef; r != nil {
				add("ConfigMap", r.Name, r.Optional)
			}
			if r := e.ValueFrom.SecretKeyRef; r != nil {
				add("Secret", r.Name, r.Optional)
			}
		}
	}
	for _, s := range spec.ImagePullSecrets {
		add("Secret", s.Name, nil)
	}
	sa := spec.ServiceAccountName
	if sa == "" {
		sa = spec.DeprecatedServiceAccount
	}
	add("ServiceAccount", sa, nil)
	return refs
}
