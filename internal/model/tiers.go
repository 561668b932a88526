package model

// Tier is a security zone of the project; each tier is one namespace.
type Tier string

// The tiers. Every workload lands in exactly one.
const (
	TierWeb   Tier = "web"    // the edge: frontends, proxies, anything published outside the cluster
	TierAILab Tier = "ai-lab" // agents, model and embedding servers, vector databases, tool servers, workflow engine
	TierData  Tier = "data"   // databases, caches, queues
)

// Tiers lists the tiers in their canonical order.
var Tiers = []Tier{TierWeb, TierAILab, TierData}

// Namespace is one tier's namespace and the guard rails it gets.
type Namespace struct {
	Name string
	Tier Tier

	// PodSecurity holds the Pod Security Admission levels: privileged, baseline or restricted.
	PodSecurity PodSecurity
	// Quota caps what the namespace's pods may request, by ResourceQuota resource name (requests.cpu, pods, ...).
	Quota map[string]string
	// DefaultRequests and DefaultLimits are the LimitRange defaults for containers that set none.
	DefaultRequests map[string]string
	DefaultLimits   map[string]string
}

// PodSecurity is a namespace's Pod Security Admission configuration.
type PodSecurity struct {
	Enforce string
	Warn    string
	Audit   string
}

// Link makes a name resolve in a namespace other than the Service's own (an ExternalName Service), so that a
// peer in another tier reaches `http://api:8000` exactly as it did on Compose.
type Link struct {
	Namespace       string // where the name must resolve
	Name            string
	TargetNamespace string // where the Service lives
	TargetName      string
	Host            string // the Service's full DNS name the link points at
}

// NetworkPolicy is one policy of a namespace. Selecting a direction with no rules denies it.
type NetworkPolicy struct {
	Namespace string
	Name      string
	// Workload selects that workload's pods; empty selects every pod of the namespace.
	Workload string
	// PolicyIngress and PolicyEgress say which directions the policy isolates.
	PolicyIngress bool
	PolicyEgress  bool
	Ingress       []TrafficRule
	Egress        []TrafficRule
	// Why is a one-line explanation, written as an annotation for the reader of the manifests.
	Why string
}

// TrafficRule admits traffic with any of its peers on any of its ports; no peers means any peer, no ports any port.
type TrafficRule struct {
	Peers []Peer
	Ports []PolicyPort
}

// Peer is one side of allowed traffic: a workload, pods with given labels, or an address range.
type Peer struct {
	// Namespace of the pods; with neither Workload nor Labels, every pod of it. Empty with Workload or Labels means
	// the policy's own namespace.
	Namespace string
	Workload  string
	Labels    map[string]string
	// Network selects the project's pods, in any of its namespaces, that are on this Compose network (its label name).
	Network string
	// CIDR (with Except) is an address range outside the cluster.
	CIDR   string
	Except []string
}

// PolicyPort is a port and protocol of allowed traffic.
type PolicyPort struct {
	Port     int32
	Protocol Protocol
}

// AdmissionGuard is a ValidatingAdmissionPolicy (built-in CEL admission, no webhook) that keeps a namespace's pods
// from privileged mode, host access and unknown registries, and keeps NetworkPolicies the tool did not write out of
// it, so that nothing in the namespace can open a path around its isolation.
type AdmissionGuard struct {
	// Name of the cluster-scoped policy and its binding.
	Name      string
	Namespace string
	// Registries are the registry hosts images may come from ("ghcr.io", "registry.local"); DockerHub allows images
	// with no registry in their name (postgres:17, qdrant/qdrant:v1).
	Registries []string
	DockerHub  bool
	// Exempt lists workloads of the project that need what the guard forbids (their own decision says why).
	Exempt []string
}
