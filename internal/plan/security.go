package plan

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/agops/agops/internal/model"
)

// safeSysctls are the sysctls Kubernetes allows without kubelet configuration.
var safeSysctls = map[string]bool{
	"kernel.shm_rmid_forced": true, "net.ipv4.ip_local_port_range": true, "net.ipv4.tcp_syncookies": true,
	"net.ipv4.ping_group_range": true, "net.ipv4.ip_unprivileged_port_start": true,
	"net.ipv4.ip_local_reserved_ports": true, "net.ipv4.tcp_keepalive_time": true, "net.ipv4.tcp_fin_timeout": true,
	"net.ipv4.tcp_keepalive_intvl": true, "net.ipv4.tcp_keepalive_probes": true, "net.ipv4.tcp_rmem": true,
	"net.ipv4.tcp_wmem": true,
}

// ruleSecurity maps user, capabilities, read_only, privileged, security_opt, sysctls and host namespaces, and sets
// the hardened defaults (seccomp RuntimeDefault, no privilege escalation) where the service allows them.
func (pl *planner) ruleSecurity() {
	for _, n := range pl.order {
		c := pl.primary[n]
		if c == nil {
			continue
		}
		s := pl.svcs[n]
		w := pl.workloadOf(n)
		if pl.isAgopsWorker(n) {
			pl.workerSecurity(n, s, c)
		} else {
			pl.containerSecurity(n, s, c, w)
		}
		pl.hostNamespaces(n, s, w)
		pl.sysctls(n, s, w)
	}
}

// containerSecurity maps the container's user, capabilities, read_only, privileged and security_opt, and adds the
// hardened defaults.
func (pl *planner) containerSecurity(n string, s types.ServiceConfig, c *model.Container, w *model.Workload) {
	pl.user(n, s, c, w)
	sec := &c.Security
	sec.CapAdd, sec.CapDrop = normalizeCaps(s.CapAdd), normalizeCaps(s.CapDrop)
	if len(s.CapAdd)+len(s.CapDrop) > 0 {
		pl.record(n, "cap_add/cap_drop", model.Mapped, fmt.Sprintf("capabilities add %v drop %v", sec.CapAdd, sec.CapDrop), "")
	}
	if s.ReadOnly {
		sec.ReadOnlyRootFilesystem = true
		pl.record(n, "read_only", model.Mapped, "readOnlyRootFilesystem", "")
	}
	if s.Privileged {
		sec.Privileged = true
		pl.security(n, "privileged", model.NeedsInput, "privileged container: full access to the node", "remove privileged: true, or confirm the service needs it")
	}
	pl.securityOpts(n, s, sec)
	if sec.Seccomp == "" && !sec.Privileged {
		sec.Seccomp = "RuntimeDefault"
		pl.record(n, "default:seccomp", model.Approximated, "seccomp RuntimeDefault added (Docker applies its default profile too)", "")
	}
	if sec.AllowPrivilegeEscalation == nil && !sec.Privileged && !hasCap(sec.CapAdd, "SYS_ADMIN") {
		sec.AllowPrivilegeEscalation = boolPtr(false)
		pl.record(n, "default:allowPrivilegeEscalation", model.Approximated, "allowPrivilegeEscalation false added: setuid binaries cannot gain privileges",
			"if the service needs setuid (sudo, ping on old images), add security_opt: [no-new-privileges:false]")
	}
}

func normalizeCaps(caps []string) []string {
	var out []string
	for _, c := range caps {
		out = append(out, strings.TrimPrefix(strings.ToUpper(c), "CAP_"))
	}
	return out
}

func hasCap(caps []string, c string) bool {
	for _, x := range caps {
		if x == c || x == "ALL" {
			return true
		}
	}
	return false
}

func (pl *planner) user(n string, s types.ServiceConfig, c *model.Container, w *model.Workload) {
	u := s.User
	key := "user"
	if h := pl.hints[n].User; h != "" {
		u, key = h, "x-agops.user"
	}
	if u != "" {
		uid, gid, ok := numericUser(u)
		if ok {
			c.Security.RunAsUser = uid
			c.Security.RunAsGroup = gid
			pl.record(n, key, model.Mapped, "runAsUser/runAsGroup from "+u, "")
		} else {
			pl.record(n, key, model.NeedsInput, fmt.Sprintf("user %q is a name; Kubernetes needs numeric ids (the image's /etc/passwd is not read)", u),
				`x-agops: {user: "UID:GID"}`)
		}
	}
	for _, g := range s.GroupAdd {
		if id, err := strconv.ParseInt(g, 10, 64); err == nil {
			w.Pod.SupplementalGroups = append(w.Pod.SupplementalGroups, id)
			pl.record(n, "group_add", model.Mapped, "supplementalGroups "+g, "")
		} else {
			pl.record(n, "group_add", model.NeedsInput, "group "+g+" is a name; supplementalGroups need numeric ids", "use the numeric gid in group_add")
		}
	}
}

// numericUser parses "uid", "uid:gid"; names are not resolvable.
func numericUser(u string) (*int64, *int64, bool) {
	us, gs, hasGroup := strings.Cut(u, ":")
	uid, err := strconv.ParseInt(us, 10, 64)
	if err != nil || uid < 0 {
		return nil, nil, false
	}
	if !hasGroup {
		return &uid, nil, true
	}
	gid, err := strconv.ParseInt(gs, 10, 64)
	if err != nil || gid < 0 {
		return nil, nil, false
	}
	return &uid, &gid, true
}

func (pl *planner) securityOpts(n string, s types.ServiceConfig, sec *model.Security) {
	for _, opt := range s.SecurityOpt {
		k, v, _ := strings.Cut(opt, ":")
		if !strings.Contains(opt, ":") {
			k, v, _ = strings.Cut(opt, "=")
		}
		switch {
		case k == "no-new-privileges":
			allow := v == "false"
			sec.AllowPrivilegeEscalation = &allow
			pl.record(n, "security_opt", model.Mapped, fmt.Sprintf("no-new-privileges: allowPrivilegeEscalation %v", allow), "")
		case k == "seccomp" && v == "unconfined":
			sec.Seccomp = "Unconfined"
			pl.security(n, "security_opt", model.NeedsInput, "seccomp unconfined: every system call allowed", "remove seccomp:unconfined unless the service needs it")
		case k == "seccomp":
			sec.Seccomp = "RuntimeDefault"
			pl.record(n, "security_opt", model.NeedsInput, "custom seccomp profile "+v+" must be installed on every node as a Localhost profile; RuntimeDefault used meanwhile",
				"copy the profile to /var/lib/kubelet/seccomp/ on each node")
		case k == "apparmor" && v == "unconfined":
			sec.AppArmor = "Unconfined"
			pl.security(n, "security_opt", model.NeedsInput, "AppArmor unconfined", "remove apparmor:unconfined unless needed")
		case k == "apparmor":
			sec.AppArmor = "Localhost:" + v
			pl.record(n, "security_opt", model.Approximated, "AppArmor profile "+v+" must be loaded on every node", "")
		case k == "label" && strings.HasPrefix(v, "type:"):
			sec.SELinuxType = strings.TrimPrefix(v, "type:")
			pl.record(n, "security_opt", model.Mapped, "SELinux type "+sec.SELinuxType, "")
		case k == "label" && strings.HasPrefix(v, "level:"):
			sec.SELinuxLevel = strings.TrimPrefix(v, "level:")
			pl.record(n, "security_opt", model.Mapped, "SELinux level "+sec.SELinuxLevel, "")
		default:
			pl.record(n, "security_opt", model.Dropped, "security option "+opt+" has no Kubernetes equivalent", "")
		}
	}
}

func (pl *planner) hostNamespaces(n string, s types.ServiceConfig, w *model.Workload) {
	switch {
	case s.NetworkMode == "host":
		w.Pod.HostNetwork = true
		pl.security(n, "network_mode", model.NeedsInput, "host networking: the pod uses the node's network stack and ports", "remove network_mode: host and publish ports instead")
	case s.NetworkMode == "none":
		pl.record(n, "network_mode", model.Approximated, "network_mode none: the pod still gets a network; a deny-all NetworkPolicy isolates it", "")
	case strings.HasPrefix(s.NetworkMode, "container:"):
		pl.record(n, "network_mode", model.NeedsInput, s.NetworkMode+" refers to a container outside the project", "use network_mode: service:NAME")
	case s.NetworkMode != "" && !strings.HasPrefix(s.NetworkMode, "service:"):
		pl.record(n, "network_mode", model.Mapped, s.NetworkMode+": pods share the cluster network", "")
	}
	if s.Pid == "host" {
		w.Pod.HostPID = true
		pl.security(n, "pid", model.NeedsInput, "pid: host: the pod sees every process of the node", "remove pid: host unless the service monitors the node")
	} else if strings.HasPrefix(s.Pid, "service:") {
		w.Pod.ShareProcessNamespace = true
		pl.record(n, "pid", model.Approximated, "process namespace shared inside the pod", "")
	}
	switch {
	case s.Ipc == "host":
		w.Pod.HostIPC = true
		pl.security(n, "ipc", model.NeedsInput, "ipc: host shares the node's IPC namespace", "remove ipc: host")
	case s.Ipc != "":
		pl.record(n, "ipc", model.Approximated, "containers of a pod share IPC; "+s.Ipc+" is not needed", "")
	}
	if s.UserNSMode != "" {
		pl.record(n, "userns_mode", model.Dropped, "user namespace mode "+s.UserNSMode+" is a node setting on Kubernetes", "")
	}
}

func (pl *planner) sysctls(n string, s types.ServiceConfig, w *model.Workload) {
	for _, k := range sortedKeys(s.Sysctls) {
		if safeSysctls[k] {
			w.Pod.Sysctls = append(w.Pod.Sysctls, model.KeyValue{Name: k, Value: s.Sysctls[k]})
			pl.record(n, "sysctls."+k, model.Mapped, "pod sysctl", "")
			continue
		}
		pl.record(n, "sysctls."+k, model.NeedsInput, "sysctl "+k+" is not in Kubernetes' safe set; pods asking for it are rejected unless the kubelet allows it",
			"allow it with the kubelet's --allowed-unsafe-sysctls, then set it by hand, or drop it")
	}
}
