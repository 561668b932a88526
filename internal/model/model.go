// Package model is the intermediate form between a Compose project and Kubernetes objects: plain data describing
// workloads, their network names, storage, configuration, secrets and devices, plus the Decisions that explain
// how each Compose key was carried over. It imports neither compose-go nor k8s.io/api.
package model

import (
	"maps"
	"slices"
)

// Project is a whole migrated Compose project.
type Project struct {
	Name        string // the Compose project name
	Instance    string // the project's name as a label value and namespace prefix
	HelperImage string // the agops image used by init containers that wait

	Namespaces []Namespace     // one per tier in use, in tier order
	Workloads  []Workload      // sorted by Name
	Claims     []Claim         // PersistentVolumeClaims, sorted by Namespace and Name
	ConfigMaps []ConfigMap     // sorted by Namespace and Name; one copy per namespace that uses it
	Secrets    []Secret        // sorted by Namespace and Name; one copy per namespace that uses it
	Links      []Link          // names that resolve across namespaces, sorted
	Policies   []NetworkPolicy // sorted by Namespace and Name
	Guards     []AdmissionGuard
	Decisions  []Decision // in rule order; see SortDecisions
	// NoWorkload says, for a Compose service that gets no workload of its own and is not a container in another's
	// pod, what takes its place (the agops gateway, for Docker's MCP gateway; nothing, for a provider service).
	NoWorkload map[string]string
}

// NamespaceOf returns the namespace of a tier.
func (p *Project) NamespaceOf(t Tier) string {
	for _, ns := range p.Namespaces {
		if ns.Tier == t {
			return ns.Name
		}
	}
	return ""
}

// WorkloadKind is the Kubernetes controller that runs a service.
type WorkloadKind string

// The workload kinds agops emits.
const (
	Deployment  WorkloadKind = "Deployment"
	StatefulSet WorkloadKind = "StatefulSet"
	DaemonSet   WorkloadKind = "DaemonSet"
	Job         WorkloadKind = "Job"
)

// Workload is one Compose service (plus any service sharing its network namespace) as a Kubernetes controller.
type Workload struct {
	Name      string // Kubernetes name (DNS-1123 label)
	Service   string // the Compose service name
	Kind      WorkloadKind
	Namespace string
	Tier      Tier

	Replicas int32 // replicas in the base and the single-node overlay
	// HAReplicas is the replica count in the ha overlay; HA holds the other ha-only settings.
	HAReplicas   int32
	BackoffLimit *int32 // Jobs only

	Pod      Pod
	Services []Service // the ClusterIP Service and any alias Services peers use
	External *Service  // LoadBalancer Service for published ports, if any

	ServiceAccount string
	// APIAccess is set when the pod talks to the Kubernetes API (its wait init containers do).
	APIAccess bool
	// WaitsIn lists the namespaces whose EndpointSlices and Jobs the wait init containers read.
	WaitsIn []string
	// Networks are the label names of the Compose networks the pod shares with other services.
	Networks []string
	// ClaimTemplates give each replica of a StatefulSet its own PersistentVolumeClaim; a pod volume whose Claim
	// names a template mounts the replica's own claim.
	ClaimTemplates []Claim
	// ClusterRoles are existing ClusterRoles bound to the workload's ServiceAccount (the gateway's
	// system:auth-delegator, to review tokens).
	ClusterRoles []string
}

// UsesClaim tells whether the pod mounts a PersistentVolumeClaim.
func (w *Workload) UsesClaim() bool {
	for _, v := range w.Pod.Volumes {
		if v.Claim != "" {
			return true
		}
	}
	return false
}

// UsesAccelerator tells whether a container asks for an extended resource (a GPU, an NPU).
func (w *Workload) UsesAccelerator() bool { return len(w.Accelerators()) > 0 }

// Accelerators are the extended resources (GPUs, NPUs) the containers ask for, sorted.
func (w *Workload) Accelerators() []string {
	set := map[string]bool{}
	for _, c := range w.Pod.Containers {
		for k := range c.Resources.Limits {
			if k != "cpu" && k != "memory" && k != "ephemeral-storage" {
				set[k] = true
			}
		}
	}
	return slices.Sorted(maps.Keys(set))
}

// Pod describes the pod template of a workload.
type Pod struct {
	Containers     []Container
	InitContainers []Container
	Volumes        []Volume

	HostNetwork bool
	HostPID     bool
	HostIPC     bool
	Hostname    string

	// TerminationGracePeriodSeconds is nil when Compose left stop_grace_period unset.
	TerminationGracePeriodSeconds *int64
	RestartPolicy                 string // Always, OnFailure or Never
	RuntimeClass                  string
	Sysctls                       []KeyValue
	HostAliases                   []HostAlias
	DNS                           *DNS
	FSGroup                       *int64
	SupplementalGroups            []int64
	ShareProcessNamespace         bool
	NodeSelector                  map[string]string
	Tolerations                   []Toleration
}

// Container is one container of a pod.
type Container struct {
	Name       string
	Image      string
	PullPolicy string
	Command    []string // Compose entrypoint
	Args       []string // Compose command
	WorkingDir string
	Stdin      bool
	TTY        bool

	EnvFrom []EnvFrom
	Env     []EnvVar
	Ports   []Port

	Readiness *Probe
	Liveness  *Probe
	Startup   *Probe

	Resources Resources
	Security  Security
	Mounts    []Mount
	// PreStop runs before the container is stopped (Compose pre_stop hooks).
	PreStop []string
	// PostStart runs after the container started (Compose post_start hooks).
	PostStart []string
	// Sidecar makes an init container a native sidecar (restartPolicy Always): it starts before the next init
	// containers and the containers, once its startup probe passes, and runs beside them.
	Sidecar bool
	// Artifact is the OCI artifact the container copies (a model's weights, by `agops model pull`), one of its
	// arguments: it is listed, pinned, bundled and mirrored like an image.
	Artifact string
	// ReadsImage says the container reads its own image's configuration from the registry (agops mcp-bridge
	// --image IMAGE, for the image's entrypoint): pinning rewrites that argument with the image, and a registry
	// mirror is passed to it (--mirror), since the nodes' mirror configuration serves only what containerd pulls.
	ReadsImage bool
}

// EnvFrom imports every key of a ConfigMap or a Secret as environment variables.
type EnvFrom struct {
	ConfigMap string
	Secret    string
}

// EnvVar is one environment variable; a value comes from Value, or from a Secret key or a pod field.
type EnvVar struct {
	Name      string
	Value     string
	SecretRef *KeyRef
	FieldPath string
}

// KeyRef points at one key of a Secret or ConfigMap.
type KeyRef struct {
	Name string
	Key  string
}

// Protocol is a transport protocol.
type Protocol string

// Protocols.
const (
	TCP  Protocol = "TCP"
	UDP  Protocol = "UDP"
	SCTP Protocol = "SCTP"
)

// Port is a container port.
type Port struct {
	Name     string
	Port     int32
	Protocol Protocol
}

// ServicePort is a port of a Kubernetes Service.
type ServicePort struct {
	Name       string
	Port       int32 // the port clients connect to
	TargetPort int32 // the container port
	Protocol   Protocol
}

// ServiceType is the type of a Kubernetes Service.
type ServiceType string

// Service types.
const (
	ClusterIP    ServiceType = "ClusterIP"
	LoadBalancer ServiceType = "LoadBalancer"
)

// Service is a Kubernetes Service selecting a workload's pods.
type Service struct {
	Name  string
	Type  ServiceType
	Ports []ServicePort
	// Headless services have no cluster IP (StatefulSet governing services are not headless here).
	Headless bool
	// LoadBalancerSourceRanges narrows who may reach a LoadBalancer.
	LoadBalancerSourceRanges []string
}

// Probe is a health check: exactly one of Exec, HTTPGet, GRPC or TCPPort.
type Probe struct {
	Exec    []string
	HTTPGet *HTTPGet
	GRPC    *GRPC
	TCPPort int32

	InitialDelaySeconds int32
	PeriodSeconds       int32
	TimeoutSeconds      int32
	FailureThreshold    int32
}

// HTTPGet is an HTTP probe.
type HTTPGet struct {
	Path string
	Port int32
}

// GRPC is a gRPC health check (grpc.health.v1.Health/Check) of one service on a port.
type GRPC struct {
	Port    int32
	Service string // empty asks about the server as a whole
}

// Resources are quantities in Kubernetes notation keyed by resource name (cpu, memory, nvidia.com/gpu, ...).
type Resources struct {
	Requests map[string]string
	Limits   map[string]string
}

// Security is a container's security context.
type Security struct {
	RunAsUser                *int64
	RunAsGroup               *int64
	RunAsNonRoot             *bool
	Privileged               bool
	ReadOnlyRootFilesystem   bool
	AllowPrivilegeEscalation *bool
	CapAdd                   []string
	CapDrop                  []string
	Seccomp                  string // RuntimeDefault, Unconfined or Localhost:<profile>
	AppArmor                 string // RuntimeDefault, Unconfined or Localhost:<profile>
	SELinuxType              string
	SELinuxLevel             string
}

// Mount places a volume in a container.
type Mount struct {
	Volume   string
	Path     string
	SubPath  string
	ReadOnly bool
}

// Volume is a pod volume; exactly one source is set.
type Volume struct {
	Name      string
	Claim     string
	ConfigMap *ProjectedItems
	Secret    *ProjectedItems
	// Projected combines several Secrets into one directory (/run/secrets).
	Projected []ProjectedSource
	EmptyDir  *EmptyDir
	HostPath  *HostPath
	// ServiceAccountToken mounts a token, the cluster CA and the namespace the way the kubelet's automount does.
	ServiceAccountToken bool
	// AudienceToken mounts only a ServiceAccount token for this audience (file "token"), e.g. for the gateway.
	AudienceToken string
}

// ProjectedItems selects keys of a ConfigMap or Secret and the file names they get.
type ProjectedItems struct {
	Name  string
	Items []KeyPath
	Mode  *int32
}

// ProjectedSource is one Secret or ConfigMap inside a projected volume.
type ProjectedSource struct {
	Secret    *ProjectedItems
	ConfigMap *ProjectedItems
}

// KeyPath maps a key to a file path inside the volume.
type KeyPath struct {
	Key  string
	Path string
	Mode *int32
}

// EmptyDir is scratch space; Memory selects tmpfs.
type EmptyDir struct {
	Memory    bool
	SizeLimit string
}

// HostPath mounts a path of the node.
type HostPath struct {
	Path string
	Type string
}

// Claim is a PersistentVolumeClaim.
type Claim struct {
	Name         string
	Namespace    string
	Volume       string // the Compose volume name
	Size         string
	StorageClass string
	AccessMode   string
	// External claims exist already; agops references them and does not emit them.
	External bool
}

// ConfigMap holds non-secret configuration.
type ConfigMap struct {
	Name      string
	Namespace string
	Data      map[string]string
	// Binary holds file contents that are not valid UTF-8.
	Binary map[string][]byte
	// External ConfigMaps exist already; agops references them and does not emit them.
	External bool
}

// Secret is a Kubernetes Secret. Values are held in memory only; they are written out only on explicit request.
type Secret struct {
	Name      string
	Namespace string
	Keys      []SecretKey
	// External Secrets exist already (Compose external: true); agops never creates them.
	External bool
}

// SecretKey is one key of a Secret and where its value comes from.
type SecretKey struct {
	Key string
	// Source says where the value comes from, for the report: "file ./secrets/pw.txt", "environment variable X",
	// "compose environment of service api".
	Source string
	// File is the absolute path of the file holding the value, when it came from a file.
	File string
	// Value is the value, when known. It never reaches generated files unless the user asks for inline secrets.
	Value []byte
	// Known is false when the value is not available (a missing file or unset variable).
	Known bool
}

// KeyValue is a name and a value.
type KeyValue struct {
	Name  string
	Value string
}

// HostAlias adds entries to a pod's /etc/hosts.
type HostAlias struct {
	IP        string
	Hostnames []string
}

// DNS is a pod's DNS configuration.
type DNS struct {
	Nameservers []string
	Searches    []string
	Options     []KeyValue
}

// Toleration lets a pod run on (or stay on) a tainted node.
type Toleration struct {
	Key      string
	Operator string
	Value    string
	Effect   string
	Seconds  *int64
}

// Images lists every distinct image reference of the project — containers, init containers, the helper image and the
// artifacts containers copy (model weights) — sorted.
func (p *Project) Images() []string {
	set := map[string]bool{}
	if p.HelperImage != "" {
		set[p.HelperImage] = true
	}
	for _, w := range p.Workloads {
		for _, cs := range [][]Container{w.Pod.InitContainers, w.Pod.Containers} {
			for _, c := range cs {
				set[c.Image] = true
				if c.Artifact != "" {
					set[c.Artifact] = true
				}
			}
		}
	}
	return slices.Sorted(maps.Keys(set))
}
