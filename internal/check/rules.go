package check

// Rule is one entry of the catalogue: a stable ID, the severity of its findings, a one-line title and the usual fix.
// A finding may carry a more specific fix than the rule's.
type Rule struct {
	ID       string   `json:"id"`
	Severity Severity `json:"severity"`
	Title    string   `json:"title"`
	Fix      string   `json:"fix"`
}

// Rule IDs. They are part of the interface (suppression annotations and scripts name them): never rename or reuse
// one; retire a rule by deleting its check and keeping its ID out of circulation.
const (
	ruleImageLatest          = "image-latest"
	ruleImageNotPinned       = "image-not-pinned"
	ruleRequestsMissing      = "requests-missing"
	ruleMemoryLimitMissing   = "memory-limit-missing"
	ruleReadinessMissing     = "readiness-probe-missing"
	ruleLivenessMissing      = "liveness-probe-missing"
	rulePDBMissing           = "pdb-missing"
	rulePDBSelectsNothing    = "pdb-selects-nothing"
	rulePDBBlocksEviction    = "pdb-blocks-eviction"
	ruleSpreadMissing        = "spread-missing"
	ruleRWOShared            = "rwo-volume-shared"
	rulePrivileged           = "privileged"
	ruleHostNamespace        = "host-namespace"
	ruleHostPath             = "host-path"
	ruleRuntimeSocket        = "runtime-socket"
	ruleHostPort             = "host-port"
	ruleCapabilitiesAdded    = "capabilities-added"
	ruleCapabilitiesKept     = "capabilities-not-dropped"
	rulePrivilegeEscalation  = "privilege-escalation"
	ruleRunAsRoot            = "run-as-root"
	ruleWritableRootFS       = "writable-root-fs"
	ruleSeccompMissing       = "seccomp-missing"
	ruleTokenAutomount       = "sa-token-automount"
	ruleSecretsInConfigMap   = "secrets-in-configmap"
	ruleSecretInEnv          = "secrets-in-env"
	ruleDefaultDenyMissing   = "default-deny-missing"
	rulePolicyBothWays       = "policy-both-ways"
	rulePodSecurityMissing   = "pod-security-label-missing"
	ruleServiceSelectsNone   = "service-selects-nothing"
	ruleServiceTargetPort    = "service-target-port"
	ruleMissingReference     = "missing-reference"
	ruleSecretNotInManifests = "secret-external"
	ruleDeprecatedAPI        = "deprecated-api"
	ruleUnknownIgnore        = "unknown-ignore"
)

var catalogue = []Rule{
	{ruleImageLatest, Warning, "image uses the latest tag or no tag",
		"pin the image tag in compose.yaml (image: qdrant/qdrant:v1.12.4)"},
	{ruleImageNotPinned, Info, "image is pinned by tag but not by digest",
		"pin the digest in compose.yaml (image: name:tag@sha256:...)"},
	{ruleRequestsMissing, Warning, "container has no cpu or memory request",
		"set deploy.resources.reservations (cpus, memory) on the service in compose.yaml"},
	{ruleMemoryLimitMissing, Warning, "container has no memory limit",
		"set deploy.resources.limits.memory on the service in compose.yaml"},
	{ruleReadinessMissing, Warning, "long-running container has no readiness probe",
		"add a healthcheck to the service in compose.yaml, or an x-agops probe (http, tcp or exec)"},
	{ruleLivenessMissing, Info, "long-running container has no liveness probe",
		"add a healthcheck to the service in compose.yaml, or an x-agops probe (http, tcp or exec)"},
	{rulePDBMissing, Warning, "multi-replica Deployment or StatefulSet has no PodDisruptionBudget",
		"add a PodDisruptionBudget selecting its pods (the ha overlay of agops migrate writes one)"},
	{rulePDBSelectsNothing, Warning, "PodDisruptionBudget selects no workload's pods",
		"make the selector match the pod labels of a workload in the same namespace, or delete the budget"},
	{rulePDBBlocksEviction, Warning, "PodDisruptionBudget allows no pod to be evicted, so node drains hang",
		"allow at least one disruption: maxUnavailable: 1, or minAvailable below the replica count"},
	{ruleSpreadMissing, Warning, "multi-replica workload is not spread across nodes",
		"add topologySpreadConstraints or podAntiAffinity on kubernetes.io/hostname (the ha overlay of agops migrate adds them)"},
	{ruleRWOShared, Warning, "several pods share a ReadWriteOnce volume claim",
		"run one replica, use a StatefulSet with a claim per pod, or set x-agops storage accessMode: ReadWriteMany on a class that supports it"},
	{rulePrivileged, Error, "container runs privileged",
		"remove privileged: true from the service in compose.yaml and add only the cap_add it needs"},
	{ruleHostNamespace, Error, "pod shares the node's network, PID or IPC namespace",
		"remove network_mode: host, pid: host and ipc: host from the service in compose.yaml; publish ports instead"},
	{ruleHostPath, Warning, "pod mounts a hostPath volume",
		"use a named volume instead of a bind mount in compose.yaml, or an x-agops bind hint (pvc, emptydir or configmap)"},
	{ruleRuntimeSocket, Error, "pod mounts the container runtime socket or a folder holding it",
		"do not mount /var/run/docker.sock (or containerd's socket) into the service; it is root on the node"},
	{ruleHostPort, Warning, "container binds a port on the node (hostPort)",
		"drop the hostPort and reach the pods through their Service (or a LoadBalancer or Ingress from outside)"},
	{ruleCapabilitiesAdded, Warning, "container adds Linux capabilities beyond NET_BIND_SERVICE",
		"remove the extra cap_add entries from the service in compose.yaml"},
	{ruleCapabilitiesKept, Info, "container does not drop all Linux capabilities",
		"add cap_drop: [ALL] to the service in compose.yaml (cap_add back only what it needs)"},
	{rulePrivilegeEscalation, Warning, "container allows privilege escalation",
		"add security_opt: [no-new-privileges:true] to the service in compose.yaml"},
	{ruleRunAsRoot, Warning, "container may run as root (runAsNonRoot is not set)",
		"run as a numeric non-root user: user: \"1000:1000\" on the service in compose.yaml (or an x-agops user hint)"},
	{ruleWritableRootFS, Info, "container root filesystem is writable",
		"set read_only: true on the service in compose.yaml and mount tmpfs or volumes where it writes"},
	{ruleSeccompMissing, Info, "container runs without the RuntimeDefault seccomp profile",
		"remove security_opt seccomp:unconfined from the service and set seccompProfile type RuntimeDefault"},
	{ruleTokenAutomount, Info, "pod mounts a ServiceAccount token it may not need",
		"set automountServiceAccountToken: false on the pod or its ServiceAccount unless it calls the Kubernetes API"},
	{ruleSecretsInConfigMap, Error, "ConfigMap key looks like a credential",
		"move the value into a Compose secret (top-level secrets: and the service's secrets:); agops renders those as Secrets"},
	{ruleSecretInEnv, Error, "environment variable has a literal value that looks like a credential",
		"take the value from a Secret (valueFrom.secretKeyRef): in compose.yaml, use a secret or ${VARIABLE} from .env instead of a literal"},
	{ruleDefaultDenyMissing, Warning, "namespace has no default-deny NetworkPolicy for ingress and egress",
		"add a NetworkPolicy with podSelector: {} and policyTypes [Ingress, Egress], then allow the paths the services use"},
	{rulePolicyBothWays, Warning, "NetworkPolicy opens more on kube-router (k3s) than its rules say",
		"split the policy into one per direction (policyTypes [Ingress] and [Egress]), as agops migrate writes them"},
	{rulePodSecurityMissing, Warning, "namespace has no pod-security.kubernetes.io/enforce label",
		"label the namespace pod-security.kubernetes.io/enforce=restricted (or baseline if a service needs more)"},
	{ruleServiceSelectsNone, Error, "Service selects no workload's pods",
		"make the Service selector match the pod labels of a workload in the same namespace, or delete the Service"},
	{ruleServiceTargetPort, Error, "Service targets a named port no selected container declares",
		"name the port on the container, or use the container port number as targetPort"},
	{ruleMissingReference, Warning, "pod uses a ConfigMap, claim or ServiceAccount that is not in the manifests",
		"add the object to the manifests or create it in the namespace before applying"},
	{ruleSecretNotInManifests, Info, "pod uses a Secret that is not in the manifests",
		"create it before applying: agops secrets -f compose.yaml | kubectl apply -f -"},
	{ruleDeprecatedAPI, Error, "object uses an apiVersion that current Kubernetes no longer serves",
		"change apiVersion to the served version (for example apps/v1 or policy/v1)"},
	{ruleUnknownIgnore, Warning, "agops.dev/check-ignore names an unknown rule",
		"fix or remove the ID in the annotation; valid IDs are the ones in the rule column of agops check"},
}

// Rules returns the catalogue, in the order of the package documentation.
func Rules() []Rule {
	return append([]Rule(nil), catalogue...)
}

// Lookup finds a rule by ID.
func Lookup(id string) (Rule, bool) {
	for _, r := range catalogue {
		if r.ID == id {
			return r, true
		}
	}
	return Rule{}, false
}
