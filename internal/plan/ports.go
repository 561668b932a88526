package plan

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/agops/agops/internal/configscan"
	"github.com/agops/agops/internal/model"
)

// portInfo is one container port of a service and why agops believes it exists.
type portInfo struct {
	port      int32
	proto     model.Protocol
	source    string      // ports, expose, x-agops, a peer reference, or the image table
	published []published // host bindings from ports:
}

type published struct {
	hostIP string
	port   int32
}

// rulePorts collects each service's container ports from ports, expose, x-agops hints, peers' references and the
// table of well-known images, in that order of trust.
func (pl *planner) rulePorts() {
	for _, n := range pl.order {
		pl.declaredPorts(n)
	}
	pl.temporalPorts()
	refs := pl.peerReferences()
	for _, n := range pl.order {
		for _, r := range refs[n] {
			if pl.addPort(n, portInfo{port: r.port, proto: model.TCP, source: "reference from " + r.from}) {
				pl.record(n, "ports", model.Approximated,
					fmt.Sprintf("container port %d inferred from %s (%s); on Compose every port is reachable, on Kubernetes only Service ports are", r.port, r.from, r.what), "")
			}
		}
		if len(pl.ports[n]) == 0 && !pl.runsOnce(n) {
			pl.imagePorts(n)
		}
	}
	// Ports of a service that joins another's pod belong to that pod.
	for _, n := range pl.order {
		if owner, ok := pl.owner[n]; ok {
			for _, p := range pl.ports[n] {
				pl.addPort(owner, p)
			}
		}
	}
}

func (pl *planner) declaredPorts(n string) {
	s := pl.svcs[n]
	for i, p := range s.Ports {
		proto, ok := protocol(p.Protocol)
		if !ok || p.Target == 0 || p.Target > 65535 {
			pl.fail("service %q: ports[%d]: invalid port %d/%s", n, i, p.Target, p.Protocol)
			continue
		}
		info := portInfo{port: int32(p.Target), proto: proto, source: "ports"}
		if p.Published != "" {
			pub, err := parsePublished(p.Published)
			if err != nil {
				pl.fail("service %q: ports[%d]: published %q: %v", n, i, p.Published, err)
				continue
			}
			info.published = []published{{hostIP: p.HostIP, port: pub}}
		}
		pl.addPort(n, info)
	}
	for i, e := range s.Expose {
		for _, ex := range expandExpose(e) {
			port, proto, err := parsePortProto(ex)
			if err != nil {
				pl.fail("service %q: expose[%d]: %v", n, i, err)
				continue
			}
			pl.addPort(n, portInfo{port: port, proto: proto, source: "expose"})
		}
	}
	for _, h := range pl.hints[n].Ports {
		proto, _ := protocol(h.Protocol)
		pl.addPort(n, portInfo{port: h.Port, proto: proto, source: "x-agops"})
	}
	if len(s.Expose) > 0 {
		pl.record(n, "expose", model.Mapped, "exposed ports become ports of the ClusterIP Service", "")
	}
}

// addPort adds a port unless the service has it already (published bindings are merged); it reports whether the
// port is new.
func (pl *planner) addPort(n string, p portInfo) bool {
	for i, have := range pl.ports[n] {
		if have.port == p.port && have.proto == p.proto {
			pl.ports[n][i].published = append(pl.ports[n][i].published, p.published...)
			return false
		}
	}
	pl.ports[n] = append(pl.ports[n], p)
	sort.SliceStable(pl.ports[n], func(i, j int) bool {
		a, b := pl.ports[n][i], pl.ports[n][j]
		return a.port < b.port || a.port == b.port && a.proto < b.proto
	})
	return true
}

func protocol(s string) (model.Protocol, bool) {
	switch strings.ToLower(s) {
	case "", "tcp":
		return model.TCP, true
	case "udp":
		return model.UDP, true
	case "sctp":
		return model.SCTP, true
	}
	return "", false
}

func parsePublished(s string) (int32, error) {
	first, _, _ := strings.Cut(s, "-")
	n, err := strconv.Atoi(first)
	if err != nil || n < 1 || n > 65535 {
		return 0, fmt.Errorf("not a port between 1 and 65535")
	}
	return int32(n), nil
}

// expandExpose expands "8000-8002/tcp" into its ports; ranges are capped to keep output bounded.
func expandExpose(e string) []string {
	num, proto, hasProto := strings.Cut(e, "/")
	lo, hi, isRange := strings.Cut(num, "-")
	if !isRange {
		return []string{e}
	}
	a, err1 := strconv.Atoi(lo)
	b, err2 := strconv.Atoi(hi)
	if err1 != nil || err2 != nil || b < a || b-a > 1000 {
		return []string{e}
	}
	var out []string
	for p := a; p <= b; p++ {
		s := strconv.Itoa(p)
		if hasProto {
			s += "/" + proto
		}
		out = append(out, s)
	}
	return out
}

func parsePortProto(s string) (int32, model.Protocol, error) {
	num, proto, _ := strings.Cut(s, "/")
	n, err := strconv.Atoi(num)
	if err != nil || n < 1 || n > 65535 {
		return 0, "", fmt.Errorf("invalid port %q: must be 1-65535", s)
	}
	p, ok := protocol(proto)
	if !ok {
		return 0, "", fmt.Errorf("invalid port %q: unknown protocol", s)
	}
	return int32(n), p, nil
}

// reference is a peer's use of host:port.
type reference struct {
	port int32
	from string // the referring service
	what string // e.g. "environment DATABASE_URL"
}

// peerReferences scans every service's environment, entrypoint and command for host:port uses of other
// services' names.
func (pl *planner) peerReferences() map[string][]reference {
	hosts := pl.hostIndex()
	out := map[string][]reference{}
	add := func(target string, r reference) {
		if target != "" && target != r.from {
			out[target] = append(out[target], r)
		}
	}
	for _, n := range pl.order {
		s := pl.svcs[n]
		env := s.Environment.ToMapping() // unset variables (nil) name no address
		for _, k := range sortedKeys(env) {
			v := env[k]
			for _, hp := range configscan.Find(v) {
				add(hosts[hp.Host], reference{port: hp.Port, from: n, what: "environment " + k})
			}
			if port := configscan.SiblingPort(env, k, v); port > 0 {
				add(hosts[v], reference{port: port, from: n, what: "environment " + k})
			}
		}
		for _, arg := range append(append([]string{}, s.Entrypoint...), s.Command...) {
			for _, hp := range configscan.Find(arg) {
				add(hosts[hp.Host], reference{port: hp.Port, from: n, what: "command"})
			}
		}
	}
	return out
}

// hostIndex maps every name peers may use (service name, Kubernetes name, aliases) to the compose service.
func (pl *planner) hostIndex() map[string]string {
	idx := map[string]string{}
	for _, n := range pl.order {
		for _, a := range pl.aliases[n] {
			idx[a] = n
		}
	}
	for _, n := range pl.order {
		idx[pl.names[n]] = n
		idx[n] = n
	}
	return idx
}

// imagePorts fills the ports of a portless service from the table of well-known images.
func (pl *planner) imagePorts(n string) {
	image := pl.svcs[n].Image
	ports, ok := wellKnownPorts[imageBase(image)]
	if !ok {
		return
	}
	for _, p := range ports {
		pl.addPort(n, portInfo{port: p, proto: model.TCP, source: "image " + imageBase(image)})
	}
	pl.record(n, "ports", model.Approximated,
		fmt.Sprintf("no ports declared; %s listens on %s by default, so peers reach it there", imageBase(image), joinPorts(ports)),
		"if the image listens elsewhere, declare it: x-agops: {ports: [PORT]}")
}

// imageBase is the last path element of an image reference without tag or digest: "bitnami/redis:7" -> "redis".
func imageBase(image string) string {
	image, _, _ = strings.Cut(image, "@")
	if i := strings.LastIndex(image, "/"); i >= 0 {
		image = image[i+1:]
	}
	image, _, _ = strings.Cut(image, ":")
	return strings.ToLower(image)
}

func joinPorts(ps []int32) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = strconv.Itoa(int(p))
	}
	return strings.Join(s, ", ")
}

// wellKnownPorts lists the default listening ports of common images, keyed by imageBase.
var wellKnownPorts = map[string][]int32{
	"postgres": {5432}, "postgresql": {5432}, "postgis": {5432}, "pgvector": {5432}, "timescaledb": {5432},
	"mysql": {3306}, "mariadb": {3306}, "percona": {3306}, "percona-server": {3306},
	"redis": {6379}, "valkey": {6379}, "redis-stack-server": {6379}, "keydb": {6379}, "dragonfly": {6379},
	"mongo": {27017}, "mongodb": {27017}, "memcached": {11211}, "rabbitmq": {5672}, "nats": {4222},
	"qdrant": {6333, 6334}, "ollama": {11434}, "milvus": {19530}, "weaviate": {8080}, "chroma": {8000},
	"elasticsearch": {9200}, "opensearch": {9200}, "kafka": {9092}, "zookeeper": {2181}, "etcd": {2379},
	"minio": {9000}, "clickhouse-server": {8123, 9000}, "influxdb": {8086}, "neo4j": {7474, 7687},
	"auto-setup": {7233}, "nginx": {80}, "httpd": {80}, "caddy": {80, 443},
	"grafana": {3000}, "prometheus": {9090}, "cassandra": {9042}, "vllm-openai": {8000},
	"text-embeddings-inference": {80}, "localai": {8080}, "open-webui": {8080}, "n8n": {5678}, "adminer": {8080},
	"loki": {3100}, "jaeger": {16686}, "mssql-server": {1433}, "couchdb": {5984}, "typesense": {8108},
	"meilisearch": {7700}, "pgbouncer": {6432}, "mailhog": {1025, 8025}, "registry": {5000}, "gitea": {3000},
	"wordpress": {80}, "phpmyadmin": {80}, "nextcloud": {80}, "traefik": {80}, "haproxy": {80}, "tomcat": {8080},
	"jenkins": {8080}, "sonarqube": {9000}, "keycloak": {8080}, "vault": {8200}, "consul": {8500},
}

// runsOnce tells whether a service is a one-shot task; such services listen on nothing peers use.
func (pl *planner) runsOnce(n string) bool {
	w := pl.workloadOf(n)
	return w != nil && w.Kind == model.Job
}
