// Package cluster owns the machines under an agops AI lab: `agops cluster init` writes, from a short list of
// nodes, a VIP and the accelerators present, everything a three-node highly available k3s or Talos cluster needs —
// per-node k3s config.yaml, registries.yaml, install.sh and preflight.sh, or Talos machine-config patches — plus
// the cluster-side manifests (kube-vip, RuntimeClasses, device plugins) and a README that says which file goes to
// which machine, in which order. `agops cluster check` verifies a running cluster through its API.
//
// The flow is: Parse (flags → Spec, every problem at once) → Generate (Spec + token → files, pure and
// deterministic) → Write (atomic, with file modes). Settings that must match on every server come from one shared
// value, so the servers cannot differ. The join token is made with crypto/rand and lives only in secrets/token.
package cluster
