package plan

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/agops/agops/internal/model"
	"github.com/agops/agops/internal/policy"
)

// The gateway's fixed settings.
const (
	gatewayBase = "agops-gateway"
	// GatewayAdminSecret holds the gateway's approver tokens (key "approvers": "TOKEN IDENTITY" lines) and the token
	// its replicas share (key "peer-token"); the user creates it (the report says how).
	GatewayAdminSecret = "agops-gateway-admin"
	gatewayPort        = 8080
	gatewayAdminPort   = 9090
	// GatewayAudience is the audience of the ServiceAccount tokens callers present to the gateway.
	GatewayAudience = "agops-gateway"
	// GatewayTokenDir is where callers of a governed tool server find their token (file "token").
	GatewayTokenDir = "/var/run/secrets/agops.dev/gateway"
	gatewayPolicyCM = "agops-gateway-policy"
	// gatewayTokenVolume holds a caller's token for the gateway's audience.
	gatewayTokenVolume = "agops-gateway-token"
)

// agentRoles mark agents in x-agops.role.
var agentRoles = map[string]bool{"agent": true, "agent-worker": true}

// toolRoles mark tool servers in x-agops.role.
var toolRoles = map[string]bool{"tool": true, "tool-server": true, "mcp-server": true}

// ruleGovernance puts the agops gateway between the callers and every tool server (x-agops.role tool, or an image
// named like an MCP server): the tool's Service names now select the gateway, which authenticates each caller by its
// ServiceAccount token, judges each call by the fleet policy, audits it and forwards what is allowed to the tool's
// new <name>-upstream Service; the tool accepts connections from the gateway only. Callers keep their URLs
// (http://mcp-tools:8811/mcp); its declared clients — services that name it in their environment or command, and
// agents (x-agops.role agent or agent-worker) on its networks — get a token for the gateway's audience. The gateway runs as a StatefulSet (each
// replica keeps its own audit log on its own volume) with 2 replicas and a budget in ha.
func (pl *planner) ruleGovernance() {
	if pl.opts.NoGateway {
		return
	}
	byNS := map[string][]string{}
	for _, n := range pl.primaryServices() {
		if pl.isToolServer(n) {
			byNS[pl.nsOf(n)] = append(byNS[pl.nsOf(n)], n)
		}
	}
	for _, ns := range sortedKeys(byNS) {
		pl.gateway(ns, byNS[ns])
	}
}

func (pl *planner) isToolServer(n string) bool {
	role := pl.hints[n].Role
	if role != "" {
		return toolRoles[role]
	}
	return strings.Contains(imageBase(pl.svcs[n].Image), "mcp")
}

// gateway adds one gateway for the tool servers of a namespace.
func (pl *planner) gateway(ns string, tools []string) {
	var governed []string
	for _, t := range tools {
		w := pl.work[t]
		if len(w.Services) == 0 || len(w.Services[0].Ports) == 0 {
			pl.record(t, "x-agops.role", model.NeedsInput, "a tool server without a known port cannot be put behind the gateway", "x-agops: {ports: [PORT]}")
			continue
		}
		governed = append(governed, t)
	}
	if len(governed) == 0 {
		return
	}
	key := pl.unique("name", gatewayBase)
	name := key
	gw := pl.gatewayWorkload(name)
	pl.names[key], pl.tier[key], pl.work[key], pl.primary[key] = name, pl.tier[governed[0]], gw, &gw.Pod.Containers[0]
	pl.gateways[ns] = key
	pl.ports[key] = []portInfo{{port: gatewayPort, proto: model.TCP, source: "agops gateway"}}
	pl.order = append(pl.order, key)
	sort.Strings(pl.order)

	callers := map[string]bool{}
	refs := pl.peerReferences()
	var servers []gatewayServer
	var aggregates []string
	for _, t := range governed {
		w := pl.work[t]
		// The tool's names (its Service and aliases) now select the gateway; the tool keeps one Service of its own.
		for _, s := range w.Services {
			if s.Type != model.ClusterIP {
				continue
			}
			moved := s
			moved.Ports = nil
			for _, p := range s.Ports {
				moved.Ports = append(moved.Ports, model.ServicePort{Name: p.Name, Port: p.Port, TargetPort: gatewayPort, Protocol: p.Protocol})
			}
			gw.Services = append(gw.Services, moved)
		}
		if members, ok := pl.toolkits[t]; ok {
			// Docker's MCP gateway: its names select the agops gateway, which serves it as an aggregate of the
			// catalog servers it ran (governed as tool servers of their own); nothing else of it is deployed.
			var ms []string
			var ports []int32
			for _, m := range members {
				ms = append(ms, pl.names[m])
			}
			for _, p := range w.Services[0].Ports {
				ports = append(ports, p.Port)
			}
			servers = append(servers, gatewayServer{name: w.Name, members: ms,
				hosts: serviceNames(gw.Services, w.Name, pl.aliasesOf(t)), ports: ports})
			pl.retargetWaits(w.Name, name)
			pl.addCallers(callers, refs, t, key, ns)
			aggregates = append(aggregates, t)
			pl.record(t, "x-agops.role", model.Mapped, fmt.Sprintf(
				"aggregate of the agops gateway: its names (%s) select the gateway, which serves the tools of %s as one MCP server",
				strings.Join(serviceNames(gw.Services, w.Name, pl.aliasesOf(t)), ", "), strings.Join(ms, ", ")), "")
			continue
		}
		upstream := pl.unique("service", w.Name+"-upstream")
		primary := w.Services[0]
		primary.Name = upstream
		w.Services = []model.Service{primary}
		var ports []int32
		for _, p := range primary.Ports {
			if p.Protocol == model.TCP || p.Protocol == "" {
				ports = append(ports, p.Port)
			}
		}
		servers = append(servers, gatewayServer{name: w.Name, upstream: fmt.Sprintf("http://%s:%d", upstream, primary.Ports[0].Port),
			hosts: serviceNames(gw.Services, w.Name, pl.aliasesOf(t)), ports: ports})
		pl.retargetWaits(w.Name, upstream)
		pl.onlyFromGateway(t, w, name)
		pl.addCallers(callers, refs, t, key, ns)
		pl.record(t, "x-agops.role", model.Mapped, fmt.Sprintf(
			"tool server: reachable only through the agops gateway; its names (%s) now select the gateway, which forwards allowed calls to Service %s",
			strings.Join(serviceNames(gw.Services, w.Name, pl.aliasesOf(t)), ", "), upstream), "")
	}
	pl.gatewayPolicy(ns, name, gw, governed)
	for _, t := range aggregates {
		pl.dropAggregateWorkload(t)
	}
	for _, c := range sortedKeys(callers) {
		pl.giveGatewayToken(c, name)
		if !pl.isAgopsWorker(c) {
			pl.giveToolProxy(c, name, ns, servers)
		}
	}
	pl.gatewayConfig(gw, servers, callers)
	pl.record(key, "gateway:admin", model.NeedsInput, fmt.Sprintf(
		"the gateway's admin listener authenticates every caller: approvers by the tokens in Secret %s (key approvers, lines of \"TOKEN IDENTITY\"), its replicas by the token they share (key peer-token); create it before the gateway can start",
		GatewayAdminSecret), fmt.Sprintf(
		`printf 'approver-%%s YOUR-NAME\n' "$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')" > approvers && kubectl create secret generic %s -n %s --from-file=approvers=approvers --from-literal=peer-token="$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"; then agops approve --token-file approvers`,
		GatewayAdminSecret, ns))
	pl.record(key, "gateway", model.Mapped, fmt.Sprintf(
		"agops gateway in %s for %s: authenticates callers by ServiceAccount token (TokenReview, audience %s), judges every call by the fleet policy, audits it to a hash-chained log on its own volume; 2 replicas in ha",
		ns, strings.Join(governed, ", "), GatewayAudience), "")
}

// gatewayServer is one governed tool server as the gateway's policy names it.
type gatewayServer struct {
	name, upstream string
	members        []string // an aggregate's servers (then no upstream)
	hosts          []string // the names callers use for it
	ports          []int32  // its Compose ports
}

// addCallers adds the declared clients of tool t to callers: services that name it in their environment or command,
// and agents on its networks (agops workers of the namespace whatever their networks).
func (pl *planner) addCallers(callers map[string]bool, refs map[string][]reference, t, gateway, ns string) {
	for _, r := range refs[t] {
		if o, ok := pl.owner[r.from]; ok {
			r.from = o
		}
		if r.from != t && !pl.isToolServer(r.from) && shares(pl.networksOf(r.from), pl.networksOf(t)) {
			callers[r.from] = true
		}
	}
	for _, m := range pl.primaryServices() {
		// agops workers call through the gateway of their namespace (AGOPS_GATEWAY_URL), whatever their networks.
		onNetwork := shares(pl.networksOf(m), pl.networksOf(t))
		if m != t && m != gateway && agentRoles[pl.hints[m].Role] && (onNetwork || pl.isAgopsWorker(m) && pl.nsOf(m) == ns) {
			callers[m] = true
		}
	}
}

// dropAggregateWorkload removes what the rules made for the container of Docker's MCP gateway t, now served by the
// agops gateway: its workload, its NetworkPolicy, and the decisions about them (its own, from ruleToolkit, stay).
func (pl *planner) dropAggregateWorkload(t string) {
	w := pl.work[t]
	pl.policies = slices.DeleteFunc(pl.policies, func(p model.NetworkPolicy) bool {
		return p.Namespace == pl.nsOf(t) && p.Workload == w.Name
	})
	keep := map[string]bool{"command": true, "image": true, "use_api_socket": true, "environment": true, "env_file": true,
		"secrets": true, "volumes": true, "depends_on": true, "entrypoint": true, "healthcheck": true, "x-agops.role": true,
		"tier": true, "ports": true, "expose": true}
	pl.decisions = slices.DeleteFunc(pl.decisions, func(d model.Decision) bool {
		return d.Service == t && (!keep[d.Key] && !strings.HasPrefix(d.Key, "depends_on.") ||
			d.Key == "image" && strings.HasPrefix(d.Reason, "container image "))
	})
	pl.noWorkload[t] = "served by the agops gateway (aggregate)"
	delete(pl.work, t)
	delete(pl.primary, t)
	pl.order = slices.DeleteFunc(pl.order, func(n string) bool { return n == t })
}

func (pl *planner) aliasesOf(n string) []string { return pl.aliases[n] }

// serviceNames lists the Service names of the gateway that stand for a tool.
func serviceNames(svcs []model.Service, tool string, aliases []string) []string {
	out := []string{tool}
	for _, a := range aliases {
		if k := dns1035(a); !slices.Contains(out, k) {
			for _, s := range svcs {
				if s.Name == k {
					out = append(out, k)
				}
			}
		}
	}
	return out
}

// gatewayWorkload is the gateway's StatefulSet: the agops helper image running `agops gateway`.
func (pl *planner) gatewayWorkload(name string) *model.Workload {
	uid := int64(helperUID)
	peers := pl.unique("service", name+"-peers")
	w := &model.Workload{
		Name: name, Service: name, Kind: model.StatefulSet, Replicas: 1, HAReplicas: 2, ServiceAccount: name,
		APIAccess: true, ClusterRoles: []string{"system:auth-delegator"},
		Services: []model.Service{{Name: name, Type: model.ClusterIP, Ports: []model.ServicePort{
			{Name: "proxy", Port: gatewayPort, TargetPort: gatewayPort, Protocol: model.TCP},
			{Name: "admin", Port: gatewayAdminPort, TargetPort: gatewayAdminPort, Protocol: model.TCP},
		}}, {Name: peers, Type: model.ClusterIP, Headless: true, Ports: []model.ServicePort{
			// The replicas find each other here, to decide an approval on the one that holds it.
			{Name: "admin", Port: gatewayAdminPort, TargetPort: gatewayAdminPort, Protocol: model.TCP},
		}}},
		ClaimTemplates: []model.Claim{{Name: "audit", Volume: "agops gateway audit log", Size: "1Gi", AccessMode: "ReadWriteOnce", StorageClass: pl.opts.StorageClass}},
	}
	w.Pod.RestartPolicy = "Always"
	w.Pod.Volumes = []model.Volume{
		{Name: "policy", ConfigMap: &model.ProjectedItems{Name: gatewayPolicyCM}},
		{Name: "admin", Secret: &model.ProjectedItems{Name: GatewayAdminSecret}},
		{Name: "audit", Claim: "audit"},
		{Name: "kube-api-token", ServiceAccountToken: true},
	}
	probe := func(path string, delay int32) *model.Probe {
		return &model.Probe{HTTPGet: &model.HTTPGet{Path: path, Port: gatewayAdminPort}, InitialDelaySeconds: delay, PeriodSeconds: 10, TimeoutSeconds: 2, FailureThreshold: 3}
	}
	w.Pod.Containers = []model.Container{{
		Name:  "gateway",
		Image: pl.opts.HelperImage,
		Args: []string{"gateway", "--policy", "/etc/agops/policy/policy.yaml", "--listen", fmt.Sprintf(":%d", gatewayPort),
			"--admin-listen", fmt.Sprintf(":%d", gatewayAdminPort), "--audit-log", "/var/lib/agops/audit.jsonl",
			"--approvals", "/var/lib/agops/approvals", "--auth", "tokenreview", "--audience", GatewayAudience,
			"--peers", peers, "--admin-tokens", "/etc/agops/admin/approvers", "--peer-token-file", "/etc/agops/admin/peer-token",
			"--audit-key", "/var/lib/agops/audit.key"},
		Ports:     []model.Port{{Name: "proxy", Port: gatewayPort, Protocol: model.TCP}, {Name: "admin", Port: gatewayAdminPort, Protocol: model.TCP}},
		Readiness: probe("/readyz", 2),
		Liveness:  probe("/healthz", 10),
		Resources: model.Resources{
			Requests: map[string]string{"cpu": "100m", "memory": "64Mi"},
			Limits:   map[string]string{"memory": "256Mi"},
		},
		Security: model.Security{
			RunAsUser: &uid, RunAsGroup: &uid, RunAsNonRoot: boolPtr(true), ReadOnlyRootFilesystem: true,
			AllowPrivilegeEscalation: boolPtr(false), CapDrop: []string{"ALL"}, Seccomp: "RuntimeDefault",
		},
		Mounts: []model.Mount{
			{Volume: "policy", Path: "/etc/agops/policy", ReadOnly: true},
			{Volume: "admin", Path: "/etc/agops/admin", ReadOnly: true},
			{Volume: "audit", Path: "/var/lib/agops"},
			{Volume: "kube-api-token", Path: "/var/run/secrets/kubernetes.io/serviceaccount", ReadOnly: true},
		},
	}}
	gid := int64(helperUID)
	w.Pod.FSGroup = &gid
	return w
}

// retargetWaits points `agops wait service TOOL` at the tool's own Service: the tool's name now selects the gateway.
// The waits rule ran before the gateway existed, so its Decisions are brought along: each names the Service waited on.
func (pl *planner) retargetWaits(tool, upstream string) {
	for _, n := range pl.primaryServices() {
		w := pl.work[n]
		retargeted := false
		for i := range w.Pod.InitContainers {
			args := w.Pod.InitContainers[i].Args
			if len(args) >= 3 && args[0] == "wait" && args[1] == "service" && args[2] == tool {
				args[2], retargeted = upstream, true
			}
		}
		if !retargeted {
			continue
		}
		old := "Service " + tool + " has a ready endpoint"
		for i := range pl.decisions {
			if d := &pl.decisions[i]; d.Service == n && strings.HasPrefix(d.Key, "depends_on.") && strings.Contains(d.Reason, old) {
				d.Reason = strings.Replace(d.Reason, old, "Service "+upstream+" has a ready endpoint (the tool's own Service: its name "+tool+
					" now selects the agops gateway)", 1)
			}
		}
	}
}

// onlyFromGateway replaces the tool's ingress from its Compose networks by ingress from the gateway alone.
func (pl *planner) onlyFromGateway(t string, w *model.Workload, gateway string) {
	for i := range pl.policies {
		p := &pl.policies[i]
		if p.Namespace != pl.nsOf(t) || p.Workload != w.Name {
			continue
		}
		var ingress []model.TrafficRule
		for _, r := range p.Ingress {
			fromNetwork := false
			for _, peer := range r.Peers {
				fromNetwork = fromNetwork || peer.Network != ""
			}
			if fromNetwork {
				r.Peers = []model.Peer{{Workload: gateway}}
			}
			ingress = append(ingress, r)
		}
		p.Ingress = ingress
		p.Why += "; tool server: only the agops gateway may connect"
	}
}

// gatewayPolicy lets callers on the tools' networks reach the gateway's proxy port, and the gateway reach the tools
// and the API server (to review tokens).
func (pl *planner) gatewayPolicy(ns, name string, gw *model.Workload, tools []string) {
	labels := map[string]bool{}
	for _, t := range tools {
		for _, l := range pl.work[t].Networks {
			labels[l] = true
		}
	}
	gw.Networks = sortedKeys(labels)
	p := model.NetworkPolicy{Namespace: ns, Name: name, Workload: name, PolicyIngress: true, PolicyEgress: true,
		Why: "agops gateway: callers on the tool servers' networks in, the tool servers out"}
	var peers []model.Peer
	for _, l := range gw.Networks {
		peers = append(peers, model.Peer{Network: l})
	}
	if len(peers) > 0 {
		p.Ingress = []model.TrafficRule{{Peers: peers, Ports: []model.PolicyPort{{Port: gatewayPort, Protocol: model.TCP}}}}
	}
	// The replicas pass approvals to each other on the admin port.
	self := []model.Peer{{Workload: name}}
	admin := []model.PolicyPort{{Port: gatewayAdminPort, Protocol: model.TCP}}
	p.Ingress = append(p.Ingress, model.TrafficRule{Peers: self, Ports: admin})
	p.Egress = append(p.Egress, model.TrafficRule{Peers: self, Ports: admin})
	for _, t := range tools {
		if _, aggregate := pl.toolkits[t]; aggregate {
			continue // served by the gateway itself
		}
		p.Egress = append(p.Egress, model.TrafficRule{Peers: []model.Peer{{Workload: pl.work[t].Name}}, Ports: pl.policyPorts(t)})
	}
	p.Egress = append(p.Egress, pl.apiServerRules()...)
	pl.policies = append(pl.policies, p)
}

// giveGatewayToken mounts a token for the gateway's audience into a caller's main container.
func (pl *planner) giveGatewayToken(n, gateway string) {
	w, c := pl.work[n], pl.primary[n]
	if w == nil || c == nil {
		return
	}
	if !hasVolume(w, gatewayTokenVolume) {
		w.Pod.Volumes = append(w.Pod.Volumes, model.Volume{Name: gatewayTokenVolume, AudienceToken: GatewayAudience})
	}
	c.Mounts = append(c.Mounts, model.Mount{Volume: gatewayTokenVolume, Path: GatewayTokenDir, ReadOnly: true})
	c.Env = append(c.Env, model.EnvVar{Name: "AGOPS_GATEWAY_TOKEN_FILE", Value: GatewayTokenDir + "/token"})
	if pl.isAgopsWorker(n) {
		pl.record(n, "gateway", model.Mapped, fmt.Sprintf(
			"agops worker calls tool servers through the agops gateway %s with its ServiceAccount token (audience %s), mounted at %s/token (AGOPS_GATEWAY_TOKEN_FILE)",
			gateway, GatewayAudience, GatewayTokenDir), "")
	}
}

// hostForms are the names a Service h of namespace ns is reached by: h, h.ns, h.ns.svc and h.ns.svc.<cluster domain>.
func (pl *planner) hostForms(h, ns string) []string {
	return []string{h, h + "." + ns, h + "." + ns + ".svc", h + "." + ns + ".svc." + pl.opts.ClusterDomain}
}

// The native sidecar that carries a caller's identity to the gateway (agops tool-proxy).
const (
	toolProxyName = "agops-tool-proxy"
	// toolProxyFirstIP is the last byte of the first loopback address the tools' names resolve to in a caller's pod
	// (127.0.0.2; 127.0.0.1 stays the caller's own).
	toolProxyFirstIP = 2
)

// giveToolProxy lets a caller keep calling its tool servers at their Compose URLs with no header of its own: in its
// pod, each governed tool's names resolve (hostAliases) to a loopback address of their own, where a native sidecar,
// agops tool-proxy, forwards every request to the gateway with the pod's ServiceAccount token (audience
// agops-gateway), so that the gateway judges the call as this caller. A request that carries a token already
// passes unchanged. The proxy reaches the gateway by its own Service name, which the aliases leave alone.
func (pl *planner) giveToolProxy(n, gateway, ns string, servers []gatewayServer) {
	// Callers share a network with the tool, so none is on the host network, whose loopback would be the node's.
	w := pl.work[n]
	if w == nil || w.Pod.HostNetwork {
		return
	}
	// The proxy's loopback address and a port the caller itself listens on (on every address, as servers do) cannot
	// both be bound: Linux refuses the second.
	own := map[int32]bool{}
	for _, c := range w.Pod.Containers {
		for _, p := range c.Ports {
			own[p.Port] = own[p.Port] || p.Protocol == model.TCP || p.Protocol == ""
		}
	}
	var listen, hosts []string
	for i, s := range servers {
		if i+toolProxyFirstIP > 254 || len(s.ports) == 0 {
			continue
		}
		ip := fmt.Sprintf("127.0.0.%d", i+toolProxyFirstIP)
		for _, h := range s.hosts {
			for _, name := range pl.hostForms(h, ns) {
				w.Pod.HostAliases = appendHostAlias(w.Pod.HostAliases, ip, name)
			}
			hosts = append(hosts, h)
		}
		for _, p := range s.ports {
			if own[p] {
				pl.record(n, "gateway", model.NeedsInput, fmt.Sprintf(
					"it listens on port %d itself, the port of tool server %s: its pod's proxy cannot listen there too, so its calls to %s:%d carry no token and the gateway refuses them (401)",
					p, s.name, s.hosts[0], p), fmt.Sprintf("send `Authorization: Bearer` with the token in $AGOPS_GATEWAY_TOKEN_FILE to %s:%d, or move one of the two to another port", s.hosts[0], p))
				continue
			}
			listen = append(listen, fmt.Sprintf("%s:%d", ip, p))
		}
	}
	if len(listen) == 0 {
		return
	}
	gatewayURL := fmt.Sprintf("http://%s.%s.svc.%s:%d", gateway, ns, pl.opts.ClusterDomain, gatewayPort)
	args := []string{"tool-proxy", "--gateway", gatewayURL, "--token-file", GatewayTokenDir + "/token"}
	for _, l := range listen {
		args = append(args, "--listen", l)
	}
	proxy := model.Container{
		Name: toolProxyName, Image: pl.opts.HelperImage, Args: args, Sidecar: true,
		// The caller's containers start once the proxy listens.
		Startup: &model.Probe{Exec: []string{"/agops", "tool-proxy", "--probe", listen[0]}, PeriodSeconds: 1, TimeoutSeconds: 3, FailureThreshold: 30},
		Resources: model.Resources{
			Requests: map[string]string{"cpu": "10m", "memory": "16Mi"},
			Limits:   map[string]string{"memory": "64Mi"},
		},
		Security: helperSecurity(),
		Mounts:   []model.Mount{{Volume: gatewayTokenVolume, Path: GatewayTokenDir, ReadOnly: true}},
	}
	w.Pod.InitContainers = append([]model.Container{proxy}, w.Pod.InitContainers...)
	pl.record(n, "gateway", model.Mapped, fmt.Sprintf(
		"calls its tool servers (%s) at their Compose URLs, unchanged: in its pod their names resolve to a sidecar, agops tool-proxy, which forwards every call to the gateway %s with the pod's ServiceAccount token (audience %s); the gateway judges it as %s/%s. A caller that sends a token of its own (mounted at %s/token, AGOPS_GATEWAY_TOKEN_FILE) is passed unchanged",
		strings.Join(hosts, ", "), gateway, GatewayAudience, pl.nsOf(n), w.ServiceAccount, GatewayTokenDir), "")
}

// gatewayConfig gives the gateway its policy — the one given with --policy, or a starter policy that keeps what
// Compose allowed (every caller that shared a network with a tool server may call all its tools) while every call
// is authenticated and audited — and the host names it recognises each tool server by.
func (pl *planner) gatewayConfig(gw *model.Workload, servers []gatewayServer, callers map[string]bool) {
	c := &gw.Pod.Containers[0]
	for _, s := range servers {
		// In the cluster the tool's own name selects the gateway: the upstream is its -upstream Service, whatever
		// URL the policy gives for local runs.
		if len(s.members) == 0 {
			c.Args = append(c.Args, "--upstream", s.name+"="+s.upstream)
		}
		for _, h := range s.hosts {
			for _, name := range pl.hostForms(h, pl.nsOf(gw.Service)) {
				c.Args = append(c.Args, "--host-route", name+"="+s.name)
			}
		}
	}
	text := pl.opts.PolicyYAML
	if len(text) == 0 {
		var b strings.Builder
		fmt.Fprintf(&b, "# Starter fleet policy written by agops migrate: every declared client of a tool server may call all of\n")
		fmt.Fprintf(&b, "# its tools, as on Compose, now authenticated and audited. Narrow it (docs/policy.md) and pass it with\n")
		fmt.Fprintf(&b, "# agops migrate --policy FILE.\n")
		fmt.Fprintf(&b, "apiVersion: agops.dev/v1alpha1\nkind: FleetPolicy\nmetadata:\n  name: %s\nspec:\n  servers:\n", namespaceName(pl.p.Name))
		for _, s := range servers {
			if len(s.members) > 0 {
				fmt.Fprintf(&b, "    - name: %s\n      members: [%s]\n", s.name, strings.Join(s.members, ", "))
				continue
			}
			fmt.Fprintf(&b, "    - name: %s\n      url: %s\n      kind: mcp\n", s.name, s.upstream)
		}
		fmt.Fprintf(&b, "  teams:\n    - name: compose\n      agents:\n")
		for _, n := range sortedKeys(callers) {
			fmt.Fprintf(&b, "        - %s/%s\n", pl.nsOf(n), pl.work[n].ServiceAccount)
		}
		if len(callers) == 0 {
			b.WriteString("        []\n")
		}
		fmt.Fprintf(&b, "      grants:\n")
		for _, s := range servers {
			if len(s.members) > 0 {
				continue // its members are granted
			}
			tools := `"*"`
			if list, ok := pl.toolkitGrant(s.name); ok {
				if list == "" {
					continue // --tools names none of its tools
				}
				tools = list
			}
			fmt.Fprintf(&b, "        - server: %s\n          tools: [%s]\n", s.name, tools)
		}
		text = []byte(b.String())
		pl.record(gw.Service, "gateway:policy", model.Approximated,
			"no --policy given: a starter policy lets every declared client of a tool server call all its tools, as on Compose (now authenticated and audited)",
			"write a fleet policy (docs/policy.md) and run agops migrate --policy FILE")
	} else {
		pl.record(gw.Service, "gateway:policy", model.Mapped, "the fleet policy given with --policy, in ConfigMap "+gatewayPolicyCM, "")
	}
	p, err := policy.Parse(text)
	if err != nil {
		pl.fail("--policy: %v", err)
		return
	}
	known := map[string]bool{}
	for _, s := range p.Servers() {
		known[s.Name] = true
	}
	for _, s := range servers {
		if !known[s.name] {
			pl.record(gw.Service, "gateway:policy", model.NeedsInput,
				fmt.Sprintf("the policy names no server %s: the gateway denies every call to that tool server", s.name),
				fmt.Sprintf("add spec.servers: [{name: %s, url: ...}] and grants for it", s.name))
		}
	}
	for _, n := range sortedKeys(callers) {
		if agent := pl.nsOf(n) + "/" + pl.work[n].ServiceAccount; !slices.Contains(p.Agents(), agent) {
			pl.record(n, "gateway", model.NeedsInput, fmt.Sprintf("the policy does not know agent %s: the gateway denies all its tool calls", agent),
				"add it to a team or spec.agents of the policy")
		}
	}
	pl.configMaps["agops:gateway-policy"] = &model.ConfigMap{Name: gatewayPolicyCM, Data: map[string]string{"policy.yaml": string(text)}}
	pl.guidanceConfigMaps(gw, p)
}

// guidanceConfigMaps publishes each team's behavioral guidance as a ConfigMap agops-guidance-<team>, one key per
// fragment (<name>.v<version>.md), mounted into the gateway (which serves it at /guidance) so that its folder
// changes with the policy.
func (pl *planner) guidanceConfigMaps(gw *model.Workload, p *policy.Policy) {
	teams := map[string][]policy.Fragment{}
	for _, a := range p.Agents() {
		g, ok := p.Guidance(a)
		if !ok || g.Team == "" || len(g.Fragments) == 0 {
			continue
		}
		teams[g.Team] = g.Fragments
	}
	for _, team := range sortedKeys(teams) {
		name := pl.unique("configmap", dns1035("agops-guidance-"+team))
		data := map[string]string{}
		for _, f := range teams[team] {
			data[fmt.Sprintf("%s.v%d.md", dns1035(f.Name), f.Version)] = f.Text
		}
		pl.configMaps["agops:guidance:"+team] = &model.ConfigMap{Name: name, Data: data}
		vol := "guidance-" + dns1035(team)
		gw.Pod.Volumes = append(gw.Pod.Volumes, model.Volume{Name: vol, ConfigMap: &model.ProjectedItems{Name: name}})
		gw.Pod.Containers[0].Mounts = append(gw.Pod.Containers[0].Mounts, model.Mount{Volume: vol, Path: "/etc/agops/guidance/" + dns1035(team), ReadOnly: true})
		pl.record(gw.Service, "gateway:guidance", model.Mapped, fmt.Sprintf("team %s's behavioral guidance is published in ConfigMap %s", team, name), "")
	}
}
