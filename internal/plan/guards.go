package plan

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/agops/agops/internal/model"
)

// Pod Security Standards levels, from the most to the least permissive.
const (
	levelPrivileged = "privileged"
	levelBaseline   = "baseline"
	levelRestricted = "restricted"
)

// baselineCaps are the capabilities the baseline level lets a container add.
var baselineCaps = set("AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD", "NET_BIND_SERVICE",
	"SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT")

// baselineSELinuxTypes are the SELinux types the baseline level allows.
var baselineSELinuxTypes = set("", "container_t", "container_init_t", "container_kvm_t", "container_engine_t")

// blocker is one thing that keeps a pod from a Pod Security level, and how to lift it.
type blocker struct {
	what, fix string
}

func (b blocker) String() string { return b.what + " (fix: " + b.fix + ")" }

// rulePodSecurity labels every namespace with the strictest Pod Security Admission level all its pods meet:
// restricted where possible, else baseline (else privileged), with restricted always warned and audited. Each
// service's decision lists exactly what keeps it from restricted and the Compose or x-agops change that lifts it.
// Containers that run as a known non-root user are made restricted-compliant (runAsNonRoot, all capabilities
// dropped: with privilege escalation off, a non-root process could not use them anyway); --posture restricted also
// drops every capability of containers that run as root.
func (pl *planner) rulePodSecurity() {
	levels := map[string]string{}
	below := map[string][]string{} // namespace -> services that keep it below restricted
	for _, n := range pl.primaryServices() {
		w := pl.work[n]
		pl.harden(n, w)
		baseline, restricted := podBlockers(w)
		level := levelRestricted
		switch {
		case len(baseline) > 0:
			level = levelPrivileged
			pl.security(n, "pod-security", model.Approximated,
				fmt.Sprintf("needs the privileged level: %s; also blocks restricted: %s", joinBlockers(baseline), joinBlockers(restricted)),
				baseline[0].fix)
		case len(restricted) > 0:
			level = levelBaseline
			pl.record(n, "pod-security", model.Mapped, "meets baseline; blocks restricted: "+joinBlockers(restricted), restricted[0].fix)
		default:
			pl.record(n, "pod-security", model.Mapped, "meets restricted", "")
		}
		ns := pl.nsOf(n)
		if level != levelRestricted {
			below[ns] = append(below[ns], pl.names[n])
		}
		if have, ok := levels[ns]; !ok || levelRank[level] < levelRank[have] {
			levels[ns] = level
		}
	}
	for _, ns := range pl.namespaces() {
		level := levels[ns.Name]
		pl.guard(ns.Name).PodSecurity = model.PodSecurity{Enforce: level, Warn: levelRestricted, Audit: levelRestricted}
		why := "every pod in it meets restricted"
		if level != levelRestricted {
			why = fmt.Sprintf("%s keep it below restricted (see their pod-security decisions); restricted is warned and audited", strings.Join(below[ns.Name], ", "))
		}
		pl.record("", "namespaces."+ns.Name, model.Mapped, fmt.Sprintf("Pod Security %s enforced: %s", level, why), "")
	}
}

var levelRank = map[string]int{levelPrivileged: 0, levelBaseline: 1, levelRestricted: 2}

func joinBlockers(bs []blocker) string {
	s := make([]string, len(bs))
	for i, b := range bs {
		s[i] = b.String()
	}
	return strings.Join(s, "; ")
}

// harden sets runAsNonRoot and drops capabilities where that cannot change what the service does, and, with
// --posture restricted, drops the capabilities of root containers too.
func (pl *planner) harden(n string, w *model.Workload) {
	for i := range w.Pod.Containers {
		c := &w.Pod.Containers[i]
		sec := &c.Security
		if sec.Privileged {
			continue
		}
		nonRoot := sec.RunAsUser != nil && *sec.RunAsUser != 0
		escalationOff := sec.AllowPrivilegeEscalation != nil && !*sec.AllowPrivilegeEscalation
		if nonRoot && sec.RunAsNonRoot == nil {
			sec.RunAsNonRoot = boolPtr(true)
		}
		if hasCap(sec.CapDrop, "ALL") {
			continue
		}
		switch {
		case nonRoot && escalationOff && len(sec.CapAdd) == 0:
			sec.CapDrop = []string{"ALL"}
			pl.record(n, "default:capabilities", model.Mapped, fmt.Sprintf("container %s runs as uid %d without privilege escalation: all capabilities dropped (it could not use them)", c.Name, *sec.RunAsUser), "")
		case pl.opts.Posture == PostureRestricted:
			sec.CapDrop = []string{"ALL"}
			pl.record(n, "default:capabilities", model.Approximated,
				fmt.Sprintf("--posture restricted: container %s drops all capabilities but %v", c.Name, sec.CapAdd),
				"if it fails to start (chown or setuid in its entrypoint), add the capability with cap_add, or run it as a non-root user")
		}
	}
}

// podBlockers lists what keeps a workload's pod from the baseline and from the restricted level of the Pod
// Security Standards.
func podBlockers(w *model.Workload) (baseline, restricted []blocker) {
	p := w.Pod
	if p.HostNetwork {
		baseline = append(baseline, blocker{"uses the host network", "remove network_mode: host"})
	}
	if p.HostPID {
		baseline = append(baseline, blocker{"shares the host's process namespace", "remove pid: host"})
	}
	if p.HostIPC {
		baseline = append(baseline, blocker{"shares the host's IPC namespace", "remove ipc: host"})
	}
	for _, s := range p.Sysctls {
		if !safeSysctls[s.Name] {
			baseline = append(baseline, blocker{"sets the unsafe sysctl " + s.Name, "remove it from sysctls"})
		}
	}
	for _, v := range p.Volumes {
		if v.HostPath != nil {
			baseline = append(baseline, blocker{"mounts the node's " + v.HostPath.Path, "use a named volume, or x-agops.bind: pvc for a bind mount"})
		}
	}
	for _, c := range append(append([]model.Container{}, p.InitContainers...), p.Containers...) {
		b, r := containerBlockers(c)
		baseline = append(baseline, b...)
		restricted = append(restricted, r...)
	}
	return baseline, restricted
}

func containerBlockers(c model.Container) (baseline, restricted []blocker) {
	s := c.Security
	in := " (container " + c.Name + ")"
	if s.Privileged {
		baseline = append(baseline, blocker{"runs privileged" + in, "remove privileged: true"})
	}
	for _, cp := range s.CapAdd {
		switch {
		case !baselineCaps[cp]:
			baseline = append(baseline, blocker{"adds capability " + cp + in, "remove " + cp + " from cap_add"})
		case cp != "NET_BIND_SERVICE":
			restricted = append(restricted, blocker{"adds capability " + cp + in, "remove " + cp + " from cap_add"})
		}
	}
	if s.Seccomp == "Unconfined" {
		baseline = append(baseline, blocker{"disables seccomp" + in, "remove seccomp:unconfined from security_opt"})
	}
	if s.AppArmor == "Unconfined" {
		baseline = append(baseline, blocker{"disables AppArmor" + in, "remove apparmor:unconfined from security_opt"})
	}
	if !baselineSELinuxTypes[s.SELinuxType] {
		baseline = append(baseline, blocker{"uses SELinux type " + s.SELinuxType + in, "remove label:type from security_opt"})
	}
	if s.Privileged {
		return baseline, restricted
	}
	switch {
	case s.RunAsUser != nil && *s.RunAsUser == 0:
		restricted = append(restricted, blocker{"runs as root (user 0)" + in, `run as a non-root user: user: "1000:1000" if the image allows it`})
	case s.RunAsUser == nil && (s.RunAsNonRoot == nil || !*s.RunAsNonRoot):
		restricted = append(restricted, blocker{"runs as the image's default user, which may be root" + in, `set a non-root user: user: "1000:1000" (or x-agops.user) if the image allows it`})
	}
	if s.AllowPrivilegeEscalation == nil || *s.AllowPrivilegeEscalation {
		restricted = append(restricted, blocker{"allows privilege escalation" + in, "security_opt: [no-new-privileges:true]"})
	}
	if s.Seccomp == "" {
		restricted = append(restricted, blocker{"sets no seccomp profile" + in, "remove the security_opt that disabled it"})
	}
	if !hasCap(s.CapDrop, "ALL") {
		restricted = append(restricted, blocker{"keeps the default capabilities" + in, "cap_drop: [ALL] (with a non-root user, agops drops them itself)"})
	}
	return baseline, restricted
}

func (pl *planner) guard(ns string) *model.Namespace {
	g := pl.guards[ns]
	if g == nil {
		g = &model.Namespace{Name: ns}
		pl.guards[ns] = g
	}
	return g
}

// Quota sizing.
const (
	quotaHeadroom = 1.25 // room above the sum of what the workloads ask for
	assumedNodes  = 3    // a DaemonSet runs one pod per node of the three-node cluster
)

// Defaults for containers that set no requests (agops sets them on every container it renders; these cover pods
// people add by hand).
var limitDefaults = map[string]string{"cpu": "100m", "memory": "128Mi"}

// ruleQuotas gives each namespace a ResourceQuota sized from its workloads — every pod at its ha replica count, plus
// one surge pod per Deployment during a rolling update, plus 25 %; exactly the LoadBalancer Services published ports
// need, each port holding a node port — and a LimitRange with default requests.
func (pl *planner) ruleQuotas() {
	type totals struct {
		pods, claims float64
		res          map[string]float64 // by resource name, in millicores, bytes or units
		lbs, lbPorts int                // LoadBalancer Services and their ports (each port takes a node port)
		external     bool               // a claim made outside agops, of unknown size
		storageBytes float64
	}
	sum := map[string]*totals{}
	for _, n := range pl.primaryServices() {
		w := pl.work[n]
		ns := pl.nsOf(n)
		t := sum[ns]
		if t == nil {
			t = &totals{res: map[string]float64{}}
			sum[ns] = t
		}
		pods := float64(max(w.Replicas, w.HAReplicas))
		switch w.Kind {
		case model.Deployment:
			pods++
		case model.DaemonSet:
			pods = assumedNodes
		case model.Job:
			pods = 1
		}
		t.pods += pods
		if w.External != nil {
			t.lbs++
			t.lbPorts += len(w.External.Ports)
		}
		for name, v := range podRequests(w) {
			t.res[name] += v * pods
		}
		// A StatefulSet's claim templates give every replica its own claim.
		for _, c := range w.ClaimTemplates {
			replicas := float64(max(w.Replicas, w.HAReplicas))
			t.claims += replicas
			if b, ok := parseQuantity(c.Size); ok {
				t.storageBytes += b * replicas
			}
		}
	}
	for _, c := range pl.claims {
		ns := ""
		for _, n := range pl.primaryServices() {
			if mountsClaim(pl.work[n], c.Name) {
				ns = pl.nsOf(n)
				break
			}
		}
		if t := sum[ns]; t != nil {
			t.claims++
			if c.External {
				t.external = true
			} else if b, ok := parseQuantity(c.Size); ok {
				t.storageBytes += b
			}
		}
	}
	for _, ns := range sortedKeys(sum) {
		t := sum[ns]
		q := map[string]string{
			"pods":                   strconv.Itoa(int(math.Ceil(t.pods * quotaHeadroom))),
			"services.nodeports":     strconv.Itoa(t.lbPorts),
			"services.loadbalancers": strconv.Itoa(t.lbs),
			"persistentvolumeclaims": strconv.Itoa(int(math.Ceil(t.claims * quotaHeadroom))),
		}
		// The size of a claim made outside agops is not known: storage is then left uncapped.
		if t.claims > 0 && !t.external {
			q["requests.storage"] = formatBytes(t.storageBytes * quotaHeadroom)
		}
		for name, v := range t.res {
			switch name {
			case "cpu":
				q["requests.cpu"] = fmt.Sprintf("%dm", int64(math.Ceil(v*quotaHeadroom)))
			case "memory":
				q["requests.memory"] = formatBytes(v * quotaHeadroom)
			case "ephemeral-storage":
			default:
				// Extended resources (GPUs) cannot be overcommitted: exactly what the workloads ask for.
				q["requests."+name] = strconv.Itoa(int(v))
			}
		}
		g := pl.guard(ns)
		g.Quota = q
		g.DefaultRequests = limitDefaults
		var parts []string
		for _, k := range sortedKeys(q) {
			parts = append(parts, k+"="+q[k])
		}
		pl.record("", "namespaces."+ns, model.Approximated,
			"ResourceQuota "+strings.Join(parts, " ")+": every workload at its ha replica count plus one rolling-update pod per Deployment, plus 25 %; exactly the LoadBalancers (and their node ports) migrate creates; LimitRange default requests cpu 100m, memory 128Mi",
			"raise the quota in an overlay before adding replicas")
	}
}

func mountsClaim(w *model.Workload, claim string) bool {
	for _, v := range w.Pod.Volumes {
		if v.Claim == claim {
			return true
		}
	}
	return false
}

// podRequests is what the scheduler and the quota count for one pod: the larger of the containers' sum and the
// largest init container, per resource. CPU is in millicores, memory in bytes, extended resources in units. A
// container without a request counts its limit (Kubernetes defaults one to the other), else the LimitRange default.
func podRequests(w *model.Workload) map[string]float64 {
	sumC := map[string]float64{}
	for _, c := range w.Pod.Containers {
		for k, v := range containerRequests(c) {
			sumC[k] += v
		}
	}
	for _, c := range w.Pod.InitContainers {
		for k, v := range containerRequests(c) {
			sumC[k] = max(sumC[k], v)
		}
	}
	return sumC
}

func containerRequests(c model.Container) map[string]float64 {
	out := map[string]float64{}
	names := map[string]bool{"cpu": true, "memory": true}
	for k := range c.Resources.Requests {
		names[k] = true
	}
	for k := range c.Resources.Limits {
		names[k] = true
	}
	for k := range names {
		v, ok := c.Resources.Requests[k]
		if !ok {
			v, ok = c.Resources.Limits[k]
		}
		if !ok {
			v, ok = limitDefaults[k]
		}
		if !ok {
			continue
		}
		q, good := parseQuantity(v)
		if !good {
			continue
		}
		if k == "cpu" {
			q *= 1000
		}
		out[k] = q
	}
	return out
}

// parseQuantity reads a Kubernetes quantity as a float of base units (cores, bytes, units).
func parseQuantity(s string) (float64, bool) {
	suffixes := []struct {
		s string
		m float64
	}{
		{"Ki", 1 << 10}, {"Mi", 1 << 20}, {"Gi", 1 << 30}, {"Ti", 1 << 40}, {"Pi", 1 << 50},
		{"k", 1e3}, {"M", 1e6}, {"G", 1e9}, {"T", 1e12}, {"P", 1e15}, {"m", 1e-3},
	}
	mult := 1.0
	for _, sf := range suffixes {
		if strings.HasSuffix(s, sf.s) {
			s, mult = strings.TrimSuffix(s, sf.s), sf.m
			break
		}
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || v < 0 || math.IsInf(v, 0) || math.IsNaN(v) {
		return 0, false
	}
	return v * mult, true
}

// formatBytes writes bytes in whole Mi, or Gi when exact.
func formatBytes(b float64) string {
	mi := int64(math.Ceil(b / (1 << 20)))
	if mi%1024 == 0 && mi > 0 {
		return strconv.FormatInt(mi/1024, 10) + "Gi"
	}
	return strconv.FormatInt(mi, 10) + "Mi"
}
