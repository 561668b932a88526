package testbed

// The address ranges of a cluster with real nodes: k3s's defaults, which agops migrate and check assume (see
// labnet.go for the nodes' own network).
const (
	podCIDR     = "10.42.0.0/16"
	serviceCIDR = "10.43.0.0/16"
	// ClusterDNS is the address of the kube-dns Service on clusters with real nodes.
	ClusterDNS = "10.43.0.10"
)
