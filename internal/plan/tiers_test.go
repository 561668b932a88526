package plan_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/agops/agops/internal/model"
	"github.com/agops/agops/internal/plan"
)

func TestPlanTiers(t *testing.T) {
	t.Parallel()
	p := project{"name": "lab", "services": map[string]any{
		"proxy":   map[string]any{"image": "nginx:1.27"},
		"site":    map[string]any{"image": "example/site:1", "ports": []string{"8080:80"}},
		"admin":   map[string]any{"image": "example/admin:1", "ports": []string{"127.0.0.1:9000:9000"}},
		"db":      map[string]any{"image": "postgres:17", "ports": []string{"5432:5432"}},
		"llm":     map[string]any{"image": "ollama/ollama:0.6.2"},
		"app":     map[string]any{"image": "example/app:1"},
		"worker":  map[string]any{"image": "example/worker:1", "x-agops": map[string]any{"role": "agent-worker"}},
		"cacheui": map[string]any{"image": "example/cacheui:1", "x-agops": map[string]any{"tier": "data"}},
		"flagged": map[string]any{"image": "redis:7"},
		// shares a volume with db: pulled into the data tier
		"backup":  map[string]any{"image": "example/backup:1", "volumes": []string{"pgdata:/backup"}},
		"sidecar": map[string]any{"image": "example/sidecar:1", "network_mode": "service:backup"},
	}, "volumes": map[string]any{"pgdata": map[string]any{}}}
	p["services"].(map[string]any)["db"].(map[string]any)["volumes"] = []string{"pgdata:/var/lib/postgresql/data"}
	o := plan.DefaultOptions()
	o.Tiers = map[string]model.Tier{"flagged": model.TierWeb}
	m := planOf(t, p, nil, o)
	want := map[string]model.Tier{
		"proxy": model.TierWeb, "site": model.TierWeb, "admin": model.TierAILab, "db": model.TierData,
		"llm": model.TierAILab, "app": model.TierAILab, "worker": model.TierAILab, "cacheui": model.TierData,
		"flagged": model.TierWeb, "backup": model.TierData,
	}
	for svc, tier := range want {
		w := workload(t, m, svc)
		if w.Tier != tier || w.Namespace != "lab-"+string(tier) {
			t.Errorf("%s: tier %s namespace %s, want %s in lab-%s", svc, w.Tier, w.Namespace, tier, tier)
		}
		if ds := decisionsFor(m, svc, "tier"); len(ds) == 0 {
			t.Errorf("%s: no tier decision", svc)
		}
	}
	if ds := decisionsFor(m, "sidecar", "tier"); len(ds) != 1 || !strings.Contains(ds[0].Reason, "tier data") {
		t.Errorf("sidecar tier decisions %+v, want it in its owner's tier data", ds)
	}
	if ds := decisionsFor(m, "backup", "tier"); len(ds) != 1 || !strings.Contains(ds[0].Reason, "shares volume pgdata") {
		t.Errorf("backup tier decisions %+v, want the shared volume named", ds)
	}
	var names []string
	for _, ns := range m.Namespaces {
		names = append(names, ns.Name)
	}
	if !slices.Equal(names, []string{"lab-web", "lab-ai-lab", "lab-data"}) {
		t.Errorf("namespaces %v, want lab-web, lab-ai-lab, lab-data", names)
	}
	for _, c := range m.Claims {
		if c.Name == "pgdata" && c.Namespace != "lab-data" {
			t.Errorf("claim pgdata in %s, want lab-data", c.Namespace)
		}
	}
}

func TestPlanTierErrors(t *testing.T) {
	t.Parallel()
	p := project{"services": map[string]any{"app": map[string]any{"image": "example/app:1"}}}
	o := plan.DefaultOptions()
	o.Tiers = map[string]model.Tier{"nope": model.TierWeb}
	if _, err := plan.Plan(load(t, write(t, p, nil)), o); err == nil || !strings.Contains(err.Error(), `no service "nope"`) {
		t.Errorf("--tier for an unknown service: err = %v", err)
	}
	bad := project{"services": map[string]any{"app": map[string]any{"image": "example/app:1", "x-agops": map[string]any{"tier": "dmz"}}}}
	if _, err := plan.Plan(load(t, write(t, bad, nil)), plan.DefaultOptions()); err == nil || !strings.Contains(err.Error(), "x-agops.tier") {
		t.Errorf("x-agops.tier dmz: err = %v", err)
	}
	if _, err := plan.ParseTier("dmz"); err == nil {
		t.Error("ParseTier(dmz) succeeded")
	}
	// Two services that share a volume but are pinned to different tiers: a person must decide.
	conflict := project{"services": map[string]any{
		"a": map[string]any{"image": "example/a:1", "volumes": []string{"shared:/a"}, "x-agops": map[string]any{"tier": "web"}},
		"b": map[string]any{"image": "example/b:1", "volumes": []string{"shared:/b"}, "x-agops": map[string]any{"tier": "data"}},
	}, "volumes": map[string]any{"shared": map[string]any{}}}
	m := planOf(t, conflict, nil, plan.DefaultOptions())
	found := false
	for _, d := range decisionsFor(m, "a", "tier") {
		found = found || d.Outcome == model.NeedsInput
	}
	if !found || workload(t, m, "a").Namespace != workload(t, m, "b").Namespace {
		t.Errorf("a and b share a volume with conflicting tiers: want needs-input and one namespace, got %+v", decisionsFor(m, "a", "tier"))
	}
}

// policy finds a NetworkPolicy, or the two halves a workload's policy is split into (see splitDirections), merged.
func policy(t *testing.T, m *model.Project, ns, name string) model.NetworkPolicy {
	t.Helper()
	var merged model.NetworkPolicy
	found := false
	for _, p := range m.Policies {
		if p.Namespace != ns {
			continue
		}
		switch p.Name {
		case name:
			return p
		case name + "-ingress":
			found, merged.PolicyIngress, merged.Ingress = true, true, p.Ingress
		case name + "-egress":
			found, merged.PolicyEgress, merged.Egress = true, true, p.Egress
		default:
			continue
		}
		merged.Namespace, merged.Name, merged.Workload = ns, name, p.Workload
		merged.Why, _, _ = strings.Cut(p.Why, " (")
	}
	if !found {
		t.Fatalf("no NetworkPolicy %s/%s", ns, name)
	}
	return merged
}

// networkRule returns the ports of the first rule that admits the members of a Compose network, and whether one does.
func networkRule(rules []model.TrafficRule, network string) ([]model.PolicyPort, bool) {
	for _, r := range rules {
		for _, peer := range r.Peers {
			if peer.Network == network {
				return r.Ports, true
			}
		}
	}
	return nil, false
}

func hasOutside(rules []model.TrafficRule) bool {
	for _, r := range rules {
		for _, p := range r.Peers {
			if p.CIDR == "0.0.0.0/0" {
				return true
			}
		}
	}
	return false
}

func TestPlanNetworkPolicies(t *testing.T) {
	t.Parallel()
	p := project{"name": "lab", "services": map[string]any{
		"web": map[string]any{"image": "nginx:1.27", "ports": []string{"80:80"}, "networks": []string{"front"}},
		"api": map[string]any{"image": "example/api:1", "expose": []string{"8000"}, "networks": []string{"front", "back"},
			"environment": map[string]string{"DB": "postgres://db:5432/app"}},
		"db":    map[string]any{"image": "postgres:17", "networks": []string{"back"}},
		"llm":   map[string]any{"image": "ollama/ollama:0.6.2", "networks": []string{"models"}},
		"other": map[string]any{"image": "example/other:1"},
	}, "networks": map[string]any{
		"front": map[string]any{}, "back": map[string]any{"internal": true}, "models": map[string]any{},
	}}
	m := planOf(t, p, nil, plan.DefaultOptions())
	for _, ns := range []string{"lab-web", "lab-ai-lab", "lab-data"} {
		deny := policy(t, m, ns, "agops-default-deny")
		if deny.Workload != "" || !deny.PolicyIngress || !deny.PolicyEgress || len(deny.Ingress)+len(deny.Egress) != 0 {
			t.Errorf("%s: default deny = %+v", ns, deny)
		}
		dns := policy(t, m, ns, "agops-allow-dns")
		if len(dns.Egress) != 1 || dns.Egress[0].Peers[0].Namespace != "kube-system" || len(dns.Egress[0].Ports) != 2 {
			t.Errorf("%s: dns policy = %+v", ns, dns)
		}
	}
	// Each direction of a workload's policy is a policy of its own, so that kube-router (k3s), which runs a pod's
	// policies on its traffic both ways, enforces what the API's semantics say.
	for _, p := range m.Policies {
		if p.PolicyIngress && p.PolicyEgress && len(p.Ingress)+len(p.Egress) > 0 {
			t.Errorf("policy %s/%s isolates both directions and has rules: %+v", p.Namespace, p.Name, p)
		}
	}
	for _, name := range []string{"web-ingress", "web-egress"} {
		half := policy(t, m, "lab-web", name)
		if half.Workload != "web" || half.PolicyIngress != (name == "web-ingress") || half.PolicyEgress != (name == "web-egress") {
			t.Errorf("policy %s = %+v, want one direction of web's", name, half)
		}
	}
	tcp := func(p int32) []model.PolicyPort { return []model.PolicyPort{{Port: p, Protocol: model.TCP}} }
	web := policy(t, m, "lab-web", "web")
	if ports, ok := networkRule(web.Ingress, "front"); !ok || !slices.Equal(ports, tcp(80)) {
		t.Errorf("web admits network front on %v (%v), want 80/TCP", ports, ok)
	}
	if ports, ok := networkRule(web.Egress, "front"); !ok || len(ports) != 0 {
		t.Errorf("web opens network front on %v (%v), want any port (the peers' ingress narrows it)", ports, ok)
	}
	if _, ok := networkRule(web.Egress, "back"); ok {
		t.Error("web may open network back, which it is not on")
	}
	if !hasOutside(web.Egress) {
		t.Errorf("web is on a non-internal network but may not reach outside: egress %+v", web.Egress)
	}
	if hasOutside(web.Ingress) {
		t.Errorf("web admits 0.0.0.0/0, every pod of the cluster included, to its published port: %+v", web.Ingress)
	}
	api := policy(t, m, "lab-ai-lab", "api")
	if ports, ok := networkRule(api.Ingress, "back"); !ok || !slices.Equal(ports, tcp(8000)) {
		t.Errorf("api admits network back on %v, want 8000/TCP", ports)
	}
	if hasOutside(api.Ingress) {
		t.Error("api publishes nothing but accepts outside traffic")
	}
	db := policy(t, m, "lab-data", "db")
	if ports, ok := networkRule(db.Ingress, "back"); !ok || !slices.Equal(ports, tcp(5432)) || len(db.Ingress) != 1 {
		t.Errorf("db ingress = %+v, want only network back on 5432/TCP", db.Ingress)
	}
	if hasOutside(db.Egress) {
		t.Error("db is only on an internal network but may reach outside")
	}
	llm := policy(t, m, "lab-ai-lab", "llm")
	if len(llm.Ingress) != 0 || len(llm.Egress) != 1 || !hasOutside(llm.Egress) {
		t.Errorf("llm shares its network with no one: want no ingress and egress only outside, got %+v", llm)
	}
	for svc, want := range map[string][]string{"web": {"front"}, "api": {"back", "front"}, "db": {"back"}, "llm": nil, "other": nil} {
		if got := workload(t, m, svc).Networks; !slices.Equal(got, want) {
			t.Errorf("%s pod network labels %v, want %v", svc, got, want)
		}
	}
	// Names cross tiers through links in the caller's namespace, only where a network path exists.
	links := map[string]string{}
	for _, l := range m.Links {
		links[l.Namespace+"/"+l.Name] = l.Host
	}
	want := map[string]string{
		"lab-web/api":    "api.lab-ai-lab.svc.cluster.local",
		"lab-ai-lab/web": "web.lab-web.svc.cluster.local",
		"lab-ai-lab/db":  "db.lab-data.svc.cluster.local",
		"lab-data/api":   "api.lab-ai-lab.svc.cluster.local",
	}
	for k, v := range want {
		if links[k] != v {
			t.Errorf("link %s = %q, want %q", k, links[k], v)
		}
	}
	if len(links) != len(want) {
		t.Errorf("links %v, want exactly %v", links, want)
	}
}

func TestPlanEgressAllow(t *testing.T) {
	t.Parallel()
	p := project{"services": map[string]any{"agent": map[string]any{"image": "example/agent:1"}}}
	o := plan.DefaultOptions()
	o.EgressAllow = []string{"203.0.113.0/24:443", "198.51.100.7/32"}
	m := planOf(t, p, nil, o)
	pol := policy(t, m, workload(t, m, "agent").Namespace, "agent")
	var got []string
	for _, r := range pol.Egress {
		for _, peer := range r.Peers {
			if peer.CIDR != "" && len(r.Ports) <= 1 && !strings.HasPrefix(peer.CIDR, "10.") && !strings.HasPrefix(peer.CIDR, "172.16") && !strings.HasPrefix(peer.CIDR, "192.168") {
				s := peer.CIDR
				if len(r.Ports) == 1 {
					s = fmt.Sprintf("%s:%d", s, r.Ports[0].Port)
				}
				got = append(got, s)
			}
		}
	}
	if hasOutside(pol.Egress) {
		t.Errorf("--egress-allow given, but egress to 0.0.0.0/0 remains: %+v", pol.Egress)
	}
	if !slices.Contains(got, "203.0.113.0/24:443") || !slices.Contains(got, "198.51.100.7/32") {
		t.Errorf("egress to outside = %v, want 203.0.113.0/24 on 443 and 198.51.100.7/32", got)
	}
	for _, tc := range []struct {
		in   string
		cidr string
		port int32
		ok   bool
	}{
		{"10.0.0.0/8", "10.0.0.0/8", 0, true},
		{"203.0.113.0/24:443", "203.0.113.0/24", 443, true},
		{"2001:db8::/32", "2001:db8::/32", 0, true},
		{"2001:db8::/32:8443", "2001:db8::/32", 8443, true},
		{"203.0.113.0/24:0", "", 0, false},
		{"example.com", "", 0, false},
		{"10.0.0.1", "", 0, false},
	} {
		cidr, port, err := plan.ParseEgressAllow(tc.in)
		if (err == nil) != tc.ok || cidr != tc.cidr || port != tc.port {
			t.Errorf("ParseEgressAllow(%q) = %q, %d, %v", tc.in, cidr, port, err)
		}
	}
}

func TestPlanPodSecurity(t *testing.T) {
	t.Parallel()
	p := project{"name": "ps", "services": map[string]any{
		"nonroot": map[string]any{"image": "example/a:1", "user": "1000:1000", "x-agops": map[string]any{"tier": "web"}},
		"root":    map[string]any{"image": "example/b:1", "x-agops": map[string]any{"tier": "ai-lab"}},
		"chown":   map[string]any{"image": "example/c:1", "user": "1000", "cap_add": []string{"CHOWN"}, "x-agops": map[string]any{"tier": "ai-lab"}},
		"netadm":  map[string]any{"image": "example/d:1", "cap_add": []string{"NET_ADMIN"}, "x-agops": map[string]any{"tier": "data"}},
	}}
	m := planOf(t, p, nil, plan.DefaultOptions())
	levels := map[string]string{}
	for _, ns := range m.Namespaces {
		levels[ns.Name] = ns.PodSecurity.Enforce
		if ns.PodSecurity.Warn != "restricted" || ns.PodSecurity.Audit != "restricted" {
			t.Errorf("%s: warn %q audit %q, want restricted", ns.Name, ns.PodSecurity.Warn, ns.PodSecurity.Audit)
		}
	}
	want := map[string]string{"ps-web": "restricted", "ps-ai-lab": "baseline", "ps-data": "privileged"}
	for ns, l := range want {
		if levels[ns] != l {
			t.Errorf("%s enforces %q, want %q", ns, levels[ns], l)
		}
	}
	sec := workload(t, m, "nonroot").Pod.Containers[0].Security
	if sec.RunAsNonRoot == nil || !*sec.RunAsNonRoot || !slices.Equal(sec.CapDrop, []string{"ALL"}) {
		t.Errorf("nonroot security = %+v, want runAsNonRoot and all capabilities dropped", sec)
	}
	for svc, words := range map[string][]string{
		"root":   {"default user", `user: "1000:1000"`},
		"chown":  {"adds capability CHOWN"},
		"netadm": {"adds capability NET_ADMIN", "privileged level"},
	} {
		ds := decisionsFor(m, svc, "pod-security")
		if len(ds) != 1 {
			t.Fatalf("%s: pod-security decisions %+v", svc, ds)
		}
		for _, w := range words {
			if !strings.Contains(ds[0].Reason, w) && !strings.Contains(ds[0].Hint, w) {
				t.Errorf("%s: pod-security %q lacks %q", svc, ds[0].Reason, w)
			}
		}
	}
	// --posture restricted drops the capabilities of root containers too.
	o := plan.DefaultOptions()
	o.Posture = plan.PostureRestricted
	m = planOf(t, p, nil, o)
	if got := workload(t, m, "root").Pod.Containers[0].Security.CapDrop; !slices.Equal(got, []string{"ALL"}) {
		t.Errorf("--posture restricted: root drops %v, want ALL", got)
	}
	if got := workload(t, m, "netadm").Pod.Containers[0].Security.CapAdd; !slices.Equal(got, []string{"NET_ADMIN"}) {
		t.Errorf("--posture restricted removed an added capability: %v", got)
	}
}

func TestPlanQuotas(t *testing.T) {
	t.Parallel()
	p := project{"name": "q", "services": map[string]any{
		// 2 replicas (ha 2) + 1 surge = 3 pods of 500m / 1Gi.
		"api": map[string]any{"image": "example/api:1", "x-agops": map[string]any{"tier": "ai-lab"},
			"deploy": map[string]any{"replicas": 2, "resources": map[string]any{"reservations": map[string]any{"cpus": "0.5", "memory": "1G"}}}},
		// one GPU, StatefulSet (volume) without surge: 1 pod.
		"llm": map[string]any{"image": "example/llm:1", "x-agops": map[string]any{"tier": "ai-lab", "kind": "StatefulSet"},
			"volumes": []string{"models:/models"},
			"deploy": map[string]any{"resources": map[string]any{
				"limits":       map[string]any{"cpus": "2", "memory": "4G"},
				"reservations": map[string]any{"devices": []any{map[string]any{"driver": "nvidia", "count": 1, "capabilities": []string{"gpu"}}}},
			}}},
	}, "volumes": map[string]any{"models": map[string]any{"x-agops": map[string]any{"size": "40Gi"}}}}
	m := planOf(t, p, nil, plan.DefaultOptions())
	if len(m.Namespaces) != 1 {
		t.Fatalf("namespaces %+v", m.Namespaces)
	}
	q := m.Namespaces[0].Quota
	// cpu: 3 x 500m + 1 x 2000m = 3500m, x 1.25 = 4375m. memory (Compose's G is GiB): 3 x 1Gi + 4Gi = 7Gi, x 1.25 =
	// 8960Mi. pods: 4 x 1.25 = 5. GPUs: exactly 1. storage: 40Gi x 1.25 = 50Gi; claims: ceil(1.25) = 2.
	want := map[string]string{
		"requests.cpu": "4375m", "requests.memory": "8960Mi", "pods": "5", "requests.nvidia.com/gpu": "1",
		"requests.storage": "50Gi", "persistentvolumeclaims": "2", "services.nodeports": "0", "services.loadbalancers": "0",
	}
	for k, v := range want {
		if q[k] != v {
			t.Errorf("quota %s = %q, want %q (all: %v)", k, q[k], v, q)
		}
	}
	if m.Namespaces[0].DefaultRequests["cpu"] == "" || m.Namespaces[0].DefaultRequests["memory"] == "" {
		t.Errorf("LimitRange defaults %v", m.Namespaces[0].DefaultRequests)
	}
}

// TestPlanQuotaExternalClaim: a claim made outside agops counts, and storage stays uncapped since its size is unknown.
func TestPlanQuotaExternalClaim(t *testing.T) {
	t.Parallel()
	p := project{"name": "x", "services": map[string]any{
		"app": map[string]any{"image": "example/app:1", "volumes": []string{"backups:/b", "data:/d"}},
	}, "volumes": map[string]any{"backups": map[string]any{"external": true}, "data": map[string]any{}}}
	m := planOf(t, p, nil, plan.DefaultOptions())
	q := m.Namespaces[0].Quota
	if q["persistentvolumeclaims"] != "3" || q["requests.storage"] != "" {
		t.Errorf("quota %v: want 2 claims x 1.25 -> 3 and no storage cap", q)
	}
}

func TestPlanAdmissionGuard(t *testing.T) {
	t.Parallel()
	p := project{"name": "g", "services": map[string]any{
		"agent":  map[string]any{"image": "ghcr.io/example/agent:1", "x-agops": map[string]any{"tier": "ai-lab"}},
		"llm":    map[string]any{"image": "ollama/ollama:0.6.2"},
		"probe":  map[string]any{"image": "registry.example.com:5000/probe:1", "network_mode": "host", "x-agops": map[string]any{"tier": "ai-lab"}},
		"db":     map[string]any{"image": "quay.io/example/db:1", "x-agops": map[string]any{"tier": "data"}},
		"plain":  map[string]any{"image": "localhost/plain:1", "x-agops": map[string]any{"tier": "web"}},
		"hubful": map[string]any{"image": "docker.io/library/redis:7", "x-agops": map[string]any{"tier": "data"}},
	}}
	o := plan.DefaultOptions()
	o.AllowedRegistries = []string{"mirror.internal"}
	m := planOf(t, p, nil, o)
	if len(m.Guards) != 1 {
		t.Fatalf("guards %+v, want one for g-ai-lab", m.Guards)
	}
	g := m.Guards[0]
	want := []string{"ghcr.io", "localhost", "mirror.internal", "quay.io", "registry.example.com:5000"}
	if g.Namespace != "g-ai-lab" || !slices.Equal(g.Registries, want) || !g.DockerHub {
		t.Errorf("guard %+v, want namespace g-ai-lab, registries %v and Docker Hub", g, want)
	}
	if !slices.Equal(g.Exempt, []string{"probe"}) {
		t.Errorf("exempt %v, want the host-network probe only", g.Exempt)
	}
	if ds := decisionsFor(m, "probe", "admission"); len(ds) != 1 || !ds[0].Security {
		t.Errorf("probe admission decisions %+v, want one security decision", ds)
	}
	// No ai-lab tier, no guard.
	none := planOf(t, project{"services": map[string]any{"db": map[string]any{"image": "postgres:17"}}}, nil, plan.DefaultOptions())
	if len(none.Guards) != 0 {
		t.Errorf("a project without an ai-lab tier got guards %+v", none.Guards)
	}
}
