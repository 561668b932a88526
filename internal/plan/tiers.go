package plan

import (
	"fmt"
	"net"
	"sort"
	"strings"

	"github.com/agops/agops/internal/model"
)

// ruleTiers puts every service into one tier namespace. In order of precedence: --tier, x-agops.tier, x-agops.role,
// the table of database/cache/queue images (data), ports published outside the host (web), the tables of proxy and
// frontend images (web) and of model, vector and workflow images (ai-lab); anything else is the lab's own code
// (ai-lab). Services that share a pod or a named volume must share a namespace: the more protected tier wins.
func (pl *planner) ruleTiers() {
	explicit := map[string]bool{}
	for _, n := range pl.order {
		t, why, forced := pl.tierOf(n)
		pl.tier[n] = t
		pl.tierWhy[n] = why
		explicit[n] = forced
	}
	// A service joining another's pod lives where its owner does.
	for _, n := range pl.order {
		if owner, ok := pl.owner[n]; ok && pl.tier[n] != pl.tier[owner] {
			pl.tierWhy[n] = fmt.Sprintf("shares the pod of %s (network_mode: service:)", owner)
			pl.tier[n] = pl.tier[owner]
		}
	}
	pl.unifyVolumeTiers(explicit)
	for _, n := range pl.order {
		pl.record(n, "tier", model.Mapped, fmt.Sprintf("tier %s, namespace %s: %s", pl.tier[n], pl.nsOf(n), pl.tierWhy[n]),
			"")
	}
	for t, names := range pl.opts.tierFlags() {
		for _, n := range names {
			if _, ok := pl.svcs[n]; !ok {
				pl.fail("--tier %s=%s: no service %q in the project (or not in the selected profiles)", n, t, n)
			}
		}
	}
}

// tierFlags groups the --tier overrides by tier, for error messages.
func (o Options) tierFlags() map[model.Tier][]string {
	out := map[model.Tier][]string{}
	for _, n := range sortedKeys(o.Tiers) {
		out[o.Tiers[n]] = append(out[o.Tiers[n]], n)
	}
	return out
}

// tierOf decides a service's tier and says why; forced is true for --tier and x-agops.tier.
func (pl *planner) tierOf(n string) (t model.Tier, why string, forced bool) {
	s := pl.svcs[n]
	if t, ok := pl.opts.Tiers[n]; ok {
		return t, "set with --tier", true
	}
	h := pl.hints[n]
	if h.Tier != "" {
		return model.Tier(h.Tier), "set with x-agops.tier", true
	}
	if t, ok := roleTiers[h.Role]; ok {
		return t, fmt.Sprintf("x-agops.role %s", h.Role), false
	}
	base := imageBase(s.Image)
	if dataImages[base] {
		return model.TierData, fmt.Sprintf("image %s is a database, cache or queue", base), false
	}
	if p, ok := publishedPort(pl, n); ok {
		return model.TierWeb, fmt.Sprintf("publishes port %s outside the host", p), false
	}
	if webImages[base] {
		return model.TierWeb, fmt.Sprintf("image %s is a proxy or frontend", base), false
	}
	if aiImages[base] || strings.Contains(s.Image, "temporalio/") || strings.Contains(strings.ToLower(s.Image), "mcp") {
		return model.TierAILab, fmt.Sprintf("image %s serves models, vectors, tools or workflows", base), false
	}
	return model.TierAILab, "the lab's own code: services that are not edge or data belong to the AI lab (override with x-agops.tier)", false
}

// publishedPort returns the first port a service publishes on a non-loopback host address.
func publishedPort(pl *planner, n string) (string, bool) {
	for _, p := range pl.svcs[n].Ports {
		if p.Published == "" {
			continue
		}
		if ip := net.ParseIP(p.HostIP); ip != nil && ip.IsLoopback() {
			continue
		}
		return fmt.Sprintf("%s:%d", p.Published, p.Target), true
	}
	return "", false
}

// tierRank orders tiers by how much they protect: a shared volume pulls its users into the most protected one.
var tierRank = map[model.Tier]int{model.TierWeb: 0, model.TierAILab: 1, model.TierData: 2}

// unifyVolumeTiers keeps the services that mount the same named volume in one namespace (a PersistentVolumeClaim
// belongs to one namespace). An explicit tier wins over an inferred one; otherwise the more protected tier wins.
func (pl *planner) unifyVolumeTiers(explicit map[string]bool) {
	users := map[string][]string{}
	for _, n := range pl.order {
		for _, v := range pl.svcs[n].Volumes {
			if v.Type == "volume" && v.Source != "" {
				users[v.Source] = appendUnique(users[v.Source], n)
			}
		}
	}
	for _, vol := range sortedKeys(users) {
		group := users[vol]
		if len(group) < 2 {
			continue
		}
		best := group[0]
		for _, n := range group[1:] {
			switch {
			case explicit[n] && !explicit[best]:
				best = n
			case explicit[n] == explicit[best] && tierRank[pl.tier[n]] > tierRank[pl.tier[best]]:
				best = n
			}
		}
		for _, n := range group {
			if pl.tier[n] == pl.tier[best] {
				continue
			}
			if explicit[n] {
				pl.record(n, "tier", model.NeedsInput,
					fmt.Sprintf("volume %s is shared with %s in tier %s, but this service is set to tier %s; a volume lives in one namespace", vol, best, pl.tier[best], pl.tier[n]),
					"give both services the same x-agops.tier")
			}
			pl.tierWhy[n] = fmt.Sprintf("shares volume %s with %s (a PersistentVolumeClaim lives in one namespace)", vol, best)
			pl.tier[n] = pl.tier[best]
			for _, m := range pl.order {
				if pl.owner[m] == n {
					pl.tier[m] = pl.tier[best]
				}
			}
		}
	}
}

func appendUnique(list []string, s string) []string {
	for _, have := range list {
		if have == s {
			return list
		}
	}
	return append(list, s)
}

// nsOf is the namespace of a service's tier.
func (pl *planner) nsOf(n string) string {
	if o, ok := pl.owner[n]; ok {
		n = o
	}
	return tierNamespace(pl.p.Name, pl.tier[n])
}

// tierNamespace is <project>-<tier>, the project part shortened to keep within 63 characters.
func tierNamespace(project string, t model.Tier) string {
	p := namespaceName(project)
	if max := 63 - len(t) - 1; len(p) > max {
		p = strings.TrimRight(p[:max], "-")
	}
	return p + "-" + string(t)
}

// namespaces lists the tier namespaces in use, in tier order.
func (pl *planner) namespaces() []model.Namespace {
	used := map[model.Tier]bool{}
	for _, n := range pl.primaryServices() {
		used[pl.tier[n]] = true
	}
	var out []model.Namespace
	for _, t := range model.Tiers {
		if used[t] {
			out = append(out, model.Namespace{Name: tierNamespace(pl.p.Name, t), Tier: t})
		}
	}
	return out
}

// ParseTier reads a tier name.
func ParseTier(s string) (model.Tier, error) {
	for _, t := range model.Tiers {
		if string(t) == s {
			return t, nil
		}
	}
	names := make([]string, len(model.Tiers))
	for i, t := range model.Tiers {
		names[i] = string(t)
	}
	sort.Strings(names)
	return "", fmt.Errorf("unknown tier %q (one of %s)", s, strings.Join(names, ", "))
}

// roleTiers maps x-agops.role values to tiers.
var roleTiers = map[string]model.Tier{
	"agent-worker": model.TierAILab, "agent": model.TierAILab, "tool-server": model.TierAILab, "mcp-server": model.TierAILab,
	"llm-server": model.TierAILab, "embedding-server": model.TierAILab, "vector-db": model.TierAILab,
	"workflow-engine": model.TierAILab, "gateway": model.TierAILab,
	"frontend": model.TierWeb, "proxy": model.TierWeb, "edge": model.TierWeb,
	"database": model.TierData, "cache": model.TierData, "queue": model.TierData, "object-store": model.TierData,
}

// dataImages are databases, caches, queues and object stores, by imageBase.
var dataImages = set(
	"postgres", "postgresql", "postgis", "pgvector", "timescaledb", "pgbouncer", "mysql", "mariadb", "percona",
	"percona-server", "redis", "valkey", "redis-stack", "redis-stack-server", "keydb", "dragonfly", "mongo", "mongodb",
	"memcached", "rabbitmq", "nats", "kafka", "cp-kafka", "redpanda", "zookeeper", "cp-zookeeper", "etcd", "minio",
	"clickhouse-server", "influxdb", "neo4j", "cassandra", "scylla", "mssql-server", "couchdb", "cockroach",
	"elasticsearch", "opensearch", "surrealdb", "arangodb", "questdb", "seaweedfs",
)

// webImages are reverse proxies and chat frontends.
var webImages = set(
	"nginx", "nginx-unprivileged", "openresty", "httpd", "apache", "caddy", "traefik", "haproxy", "envoy",
	"nginx-proxy", "nginx-proxy-manager", "open-webui", "lobe-chat", "librechat",
)

// aiImages serve models, embeddings, vectors, tools and workflows.
var aiImages = set(
	"ollama", "vllm-openai", "vllm", "text-embeddings-inference", "text-generation-inference", "localai",
	"llama.cpp", "llama-cpp-python", "tabbyapi", "qdrant", "weaviate", "milvus", "chroma", "auto-setup", "temporal",
	"n8n", "langflow", "flowise", "litellm", "mcp-proxy",
)

func set(names ...string) map[string]bool {
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[n] = true
	}
	return m
}
