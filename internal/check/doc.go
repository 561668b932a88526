// Package check owns the offline readiness rules of agops check: it reads rendered manifests (an overlay that
// kube.Load built, or any YAML stream kube.Decode read), converts the kinds it knows to typed k8s.io/api objects, and
// reports findings, each with a stable rule ID, a severity, a one-line message naming the object and a one-line fix
// phrased for a Compose user where there is a Compose setting to change. It never talks to a cluster.
//
// The flow: Run(objs) → []Finding (sorted by object, container, rule, message) → Report{Findings, Sections}, which
// prints as text or JSON and tells the CLI whether to fail (Exceeds). Sections carry what other checks add next to
// the findings: SectionOf turns the reachability matrix of internal/check/reach (or anything with Text and JSON
// methods) into one. Analyze does both, and is what the CLI calls:
//
//	objs, err := kube.Load(out, overlay)
//	r, err := check.Analyze(objs, check.Options{})
//	r.Text(os.Stdout) // or r.JSON()
//	if r.Exceeds(failOn) { /* exit 1 */ }
//
// # Rule IDs
//
// A rule ID is a lower-case slug (image-latest, pdb-missing). IDs are an interface: scripts, --fail-on policies and
// suppression annotations name them, so an ID is never renamed, renumbered or reused; a retired rule's ID stays
// reserved. Severities: error (will break or is unsafe to run), warning (should be fixed before production), info
// (worth knowing; hardening or hygiene).
//
// # Suppressing findings
//
// An object opts out of rules with the annotation
//
//	metadata:
//	  annotations:
//	    agops.dev/check-ignore: "image-not-pinned,run-as-root"
//
// which drops those rules' findings on that object only. Findings about a namespace (default-deny-missing,
// pod-security-label-missing) are dropped through the annotation on the Namespace object. An ID that names no rule is
// itself a finding (unknown-ignore), so a typo does not silently suppress nothing. Run's Skip option turns rules off
// for every object.
//
// # Rule catalogue
//
// Rules() returns the same list, in this order (a test keeps the two in step):
//
//	image-latest                warning  image uses the latest tag or no tag
//	image-not-pinned            info     image is pinned by tag but not by digest
//	requests-missing            warning  container has no cpu or memory request
//	memory-limit-missing        warning  container has no memory limit
//	readiness-probe-missing     warning  long-running container has no readiness probe
//	liveness-probe-missing      info     long-running container has no liveness probe
//	pdb-missing                 warning  multi-replica Deployment or StatefulSet has no PodDisruptionBudget
//	pdb-selects-nothing         warning  PodDisruptionBudget selects no workload's pods
//	pdb-blocks-eviction         warning  PodDisruptionBudget allows no pod to be evicted, so node drains hang
//	spread-missing              warning  multi-replica workload is not spread across nodes
//	rwo-volume-shared           warning  several pods share a ReadWriteOnce volume claim
//	privileged                  error    container runs privileged
//	host-namespace              error    pod shares the node's network, PID or IPC namespace
//	host-path                   warning  pod mounts a hostPath volume
//	runtime-socket              error    pod mounts the container runtime socket or a folder holding it
//	host-port                   warning  container binds a port on the node (hostPort)
//	capabilities-added          warning  container adds Linux capabilities beyond NET_BIND_SERVICE
//	capabilities-not-dropped    info     container does not drop all Linux capabilities
//	privilege-escalation        warning  container allows privilege escalation
//	run-as-root                 warning  container may run as root (runAsNonRoot is not set)
//	writable-root-fs            info     container root filesystem is writable
//	seccomp-missing             info     container runs without the RuntimeDefault seccomp profile
//	sa-token-automount          info     pod mounts a ServiceAccount token it may not need
//	secrets-in-configmap        error    ConfigMap key looks like a credential
//	secrets-in-env              error    environment variable has a literal value that looks like a credential
//	default-deny-missing        warning  namespace has no default-deny NetworkPolicy for ingress and egress
//	policy-both-ways            warning  NetworkPolicy opens more on kube-router (k3s) than its rules say
//	pod-security-label-missing  warning  namespace has no pod-security.kubernetes.io/enforce label
//	service-selects-nothing     error    Service selects no workload's pods
//	service-target-port         error    Service targets a named port no selected container declares
//	missing-reference           warning  pod uses a ConfigMap, claim or ServiceAccount that is not in the manifests
//	secret-external             info     pod uses a Secret that is not in the manifests
//	deprecated-api              error    object uses an apiVersion that current Kubernetes no longer serves
//	unknown-ignore              warning  agops.dev/check-ignore names an unknown rule
//
// Details a reader of a finding may ask about:
//
//   - Workloads are Deployment, StatefulSet, DaemonSet, Job, CronJob and Pod. Probe rules look at the regular
//     containers of the long-running kinds (Deployment, StatefulSet, DaemonSet); resource, image and security rules
//     look at init containers too.
//   - image-latest supersedes image-not-pinned: an image gets one of the two, and none once it has a digest.
//   - requests-missing counts a limit as a request (Kubernetes copies it) and a LimitRange default of the namespace.
//   - run-as-root is satisfied by runAsNonRoot: true or a non-zero runAsUser (container over pod); runAsUser: 0 is
//     always a finding.
//   - sa-token-automount follows Kubernetes: the pod's automountServiceAccountToken wins over its ServiceAccount's,
//     and a token is mounted when neither says false.
//   - pdb-missing and spread-missing concern Deployments and StatefulSets with more than one replica; a spread counts
//     when a topology spread constraint or a pod anti-affinity term uses kubernetes.io/hostname. pdb-missing
//     considers every budget of the namespace whose selector matches the pod labels.
//   - secrets-in-configmap and secrets-in-env flag a value holding a PEM private key, a URL with a password or a
//     well-known token prefix (sk-, ghp_, github_pat_, xoxb-, glpat-, hf_, AKIA); and a name with a credential word
//     (PASSWORD, PASSWD, SECRET, TOKEN, CREDENTIAL, API_KEY, APIKEY, PRIVATE_KEY, ACCESS_KEY; PASS and PWD as the
//     last word) holding a literal value. Names ending in a word such as FILE, PATH, URL, NAME or TTL, and values
//     that are empty, a path, a switch (true, off) or a $(VAR) reference, are not credentials. Messages name the key,
//     never the value.
//   - default-deny-missing looks at each namespace that holds workloads: some NetworkPolicy with an empty
//     podSelector must isolate its pods for Ingress and some for Egress, without a rule allowing all of it back.
//   - service-selects-nothing and service-target-port skip ExternalName Services and Services without a selector.
//   - missing-reference and secret-external skip optional references and what every namespace has (the default
//     ServiceAccount, the kube-root-ca.crt ConfigMap). agops migrate leaves Secrets out on purpose, hence info.
package check
