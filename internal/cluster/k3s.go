package cluster

import (
	"bytes"
	"fmt"
	"net/netip"
	"strings"

	"sigs.k8s.io/yaml"
)

// K3s paths on a server.
const (
	k3sConfigDir    = "/etc/rancher/k3s"
	k3sTokenFile    = k3sConfigDir + "/token"
	k3sManifestsDir = "/var/lib/rancher/k3s/server/manifests"
	k3sImagesDir    = "/var/lib/rancher/k3s/agent/images"
	// PauseImage is k3s's sandbox image, as its releases list it (k3s-images.txt); check yours.
	PauseImage = "rancher/mirrored-pause:3.6"
)

// sharedMarker and nodeMarker head the two parts of every config.yaml.
const (
	sharedMarker = "# Shared: identical on every server, from one value (k3s refuses a server whose critical flags differ).\n"
	nodeMarker   = "# This server only.\n"
)

// k3sShared holds every setting that must be the same on all servers — the k3s documentation's "critical
// configuration values" and the settings whose difference would make nodes behave differently. It is built once and
// written to every node, so the servers cannot disagree.
type k3sShared struct {
	ClusterCIDR                    string   `json:"cluster-cidr"`
	ServiceCIDR                    string   `json:"service-cidr"`
	ClusterDNS                     string   `json:"cluster-dns"`
	ClusterDomain                  string   `json:"cluster-domain"`
	Disable                        []string `json:"disable"`
	FlannelBackend                 string   `json:"flannel-backend"`
	FlannelIPv6Masq                bool     `json:"flannel-ipv6-masq,omitempty"`
	EgressSelectorMode             string   `json:"egress-selector-mode"`
	SecretsEncryption              bool     `json:"secrets-encryption"`
	EmbeddedRegistry               bool     `json:"embedded-registry,omitempty"`
	DisableDefaultRegistryEndpoint bool     `json:"disable-default-registry-endpoint,omitempty"`
	SystemDefaultRegistry          string   `json:"system-default-registry,omitempty"`
	PauseImage                     string   `json:"pause-image,omitempty"`
	TLSSAN                         []string `json:"tls-san"`
	TokenFile                      string   `json:"token-file"`
	WriteKubeconfigMode            string   `json:"write-kubeconfig-mode"`
}

// k3sNode holds what differs between servers.
type k3sNode struct {
	ClusterInit bool     `json:"cluster-init,omitempty"`
	Server      string   `json:"server,omitempty"`
	NodeName    string   `json:"node-name"`
	NodeIP      string   `json:"node-ip"`
	NodeLabel   []string `json:"node-label,omitempty"`
	NodeTaint   []string `json:"node-taint,omitempty"`
}

// clusterNet are the cluster's address ranges; the same for k3s and Talos, and agops migrate's defaults.
type clusterNet struct{ PodCIDR, ServiceCIDR, DNS, Domain string }

func (s Spec) clusterNet() clusterNet {
	if s.Nodes[0].Addr.Is6() {
		return clusterNet{PodCIDR: "fd00:42::/56", ServiceCIDR: "fd00:43::/112", DNS: "fd00:43::a", Domain: "cluster.local"}
	}
	return clusterNet{PodCIDR: "10.42.0.0/16", ServiceCIDR: "10.43.0.0/16", DNS: "10.43.0.10", Domain: "cluster.local"}
}

// sans are the names and addresses the API server's certificate must carry: the VIP first, then every node's
// address and name. A SAN added after the first server started means rotating certificates; here none is late.
func (s Spec) sans() []string {
	out := []string{s.VIP.String()}
	for _, n := range s.Nodes {
		out = append(out, n.Addr.String())
	}
	for _, n := range s.Nodes {
		out = append(out, n.Name)
	}
	return out
}

func (s Spec) k3sShared() k3sShared {
	n := s.clusterNet()
	c := k3sShared{
		ClusterCIDR: n.PodCIDR, ServiceCIDR: n.ServiceCIDR, ClusterDNS: n.DNS, ClusterDomain: n.Domain,
		// traefik would take ports 80 and 443 on every node through servicelb, which the migrated project's
		// LoadBalancer Services need.
		Disable: []string{"traefik"}, FlannelBackend: "vxlan", FlannelIPv6Masq: s.Nodes[0].Addr.Is6(),
		EgressSelectorMode: "agent", SecretsEncryption: true,
		TLSSAN: s.sans(), TokenFile: k3sTokenFile, WriteKubeconfigMode: "0600",
	}
	if s.Airgap {
		c.EmbeddedRegistry, c.DisableDefaultRegistryEndpoint = true, true
	}
	if s.RegistryMirror != "" {
		ref := mirrorRef(s.RegistryMirror)
		c.SystemDefaultRegistry, c.PauseImage = ref, ref+"/"+PauseImage
	}
	return c
}

// mirrorRef is the mirror as an image-name prefix: host[/prefix], without scheme.
func mirrorRef(m string) string {
	_, host, path := splitMirror(m)
	if path == "" {
		return host
	}
	return host + "/" + path
}

func (s Spec) k3sNode(i int) k3sNode {
	n := s.Nodes[i]
	c := k3sNode{NodeName: n.Name, NodeIP: n.Addr.String()}
	if i == 0 {
		c.ClusterInit = true
	} else {
		c.Server = "https://" + netip.AddrPortFrom(s.VIP, 6443).String()
	}
	if k, ok := s.Accelerators[n.Name]; ok {
		c.NodeLabel = []string{AcceleratorLabel + "=" + string(k)}
		c.NodeTaint = []string{s.Resource(k) + "=" + TaintValue + ":NoSchedule"}
	}
	return c
}

// k3sConfig is one server's /etc/rancher/k3s/config.yaml: the shared part, then its own.
func (s Spec) k3sConfig(i int) ([]byte, error) {
	var b doc
	role := "joins through the VIP"
	if i == 0 {
		role = "initialises the cluster (embedded etcd)"
	}
	b.comment(fmt.Sprintf("# agops cluster init: k3s server %s at %s, %d of %d: %s.\n", s.Nodes[i].Name, s.Nodes[i].Addr, i+1, len(s.Nodes), role))
	b.comment("# install.sh copies it to " + k3sConfigDir + "/config.yaml.\n\n" + sharedMarker)
	b.yaml(s.k3sShared())
	b.comment("\n" + nodeMarker)
	b.yaml(s.k3sNode(i))
	return b.bytes()
}

// registries is k3s's registries.yaml.
type registries struct {
	Mirrors map[string]registryMirror `json:"mirrors"`
}

type registryMirror struct {
	Endpoint []string          `json:"endpoint,omitempty"`
	Rewrite  map[string]string `json:"rewrite,omitempty"`
}

// mirroredRegistries are the public registries an AI stack pulls from; "*" catches every other one.
var mirroredRegistries = []string{"*", "docker.io", "ghcr.io", "quay.io", "registry.k8s.io"}

// k3sRegistries sends every registry to the mirror (with its prefix as a rewrite, so repository paths stay as
// `agops airgap push` writes them). Air-gapped without a mirror, listing the registries enables the embedded
// mirror (peer-to-peer between nodes) for them. Nil when neither applies.
func (s Spec) k3sRegistries() ([]byte, error) {
	if !s.hasRegistries() {
		return nil, nil
	}
	r := registries{Mirrors: map[string]registryMirror{}}
	var m registryMirror
	if s.RegistryMirror != "" {
		scheme, host, path := splitMirror(s.RegistryMirror)
		m.Endpoint = []string{scheme + "://" + host}
		if path != "" {
			m.Rewrite = map[string]string{"^(.*)$": path + "/$1"}
		}
		// The mirror itself (system images name it) is pulled as it is, without the rewrite "*" would apply.
		r.Mirrors[host] = registryMirror{Endpoint: m.Endpoint}
	}
	for _, reg := range s.mirrored() {
		if reg == "*" && s.RegistryMirror == "" {
			continue // the embedded mirror takes named registries
		}
		r.Mirrors[reg] = m
	}
	var b doc
	b.comment("# agops: containerd registry mirrors for k3s; every node reads it from " + k3sConfigDir + "/registries.yaml.\n")
	b.yaml(r)
	return b.bytes()
}

// hasRegistries tells whether nodes get a registries.yaml: with a mirror, or air-gapped.
func (s Spec) hasRegistries() bool { return s.RegistryMirror != "" || s.Airgap }

// doc builds a file from comments and YAML documents; the first encoding error sticks, like bufio.Writer's.
type doc struct {
	b   bytes.Buffer
	err error
}

func (d *doc) comment(s string) { d.b.WriteString(s) }

func (d *doc) yaml(v any) {
	if d.err != nil {
		return
	}
	data, err := yaml.Marshal(v)
	if err != nil {
		d.err = fmt.Errorf("encoding %T: %w", v, err)
	}
	d.b.Write(data)
}

func (d *doc) bytes() ([]byte, error) { return d.b.Bytes(), d.err }

// joinNames lists node names for prose.
func (s Spec) joinNames() string {
	var names []string
	for _, n := range s.Nodes {
		names = append(names, n.Name)
	}
	return strings.Join(names, ", ")
}
