package plan

import (
	"fmt"

	"github.com/agops/agops/internal/model"
)

// ruleAvailability decides the ha overlay: stateless Deployments run at least two replicas spread over nodes with
// a PodDisruptionBudget; single-writer stateful services stay at one; every long-running pod leaves a dead node
// after about 30 seconds instead of five minutes.
func (pl *planner) ruleAvailability() {
	for _, n := range pl.primaryServices() {
		w := pl.work[n]
		w.HAReplicas = w.Replicas
		switch {
		case w.Kind == model.StatefulSet:
			pl.record(n, "ha:replicas", model.Approximated,
				"writes to a volume: stays at 1 replica in ha (a ReadWriteOnce volume has one writer); if its node dies, it restarts elsewhere only once the volume can move",
				"run a replicated database (an operator) for zero-downtime failover")
		case w.Kind == model.Deployment && w.Replicas == 0:
		case w.Kind == model.Deployment && w.UsesAccelerator():
			pl.record(n, "ha:replicas", model.Approximated, fmt.Sprintf("uses an accelerator: stays at %d replica(s) in ha; add replicas when more than one node has one", w.Replicas), "x-agops: {replicas: N}")
		case w.Kind == model.Deployment && w.UsesClaim():
			pl.record(n, "ha:replicas", model.Approximated, fmt.Sprintf("mounts a persistent volume: stays at %d replica(s) in ha", w.Replicas), "")
		case w.Kind == model.Deployment && pl.hints[n].Replicas != nil:
		case w.Kind == model.Deployment && pl.isAgopsWorker(n):
			pl.workerReplicas(n, w)
		case w.Kind == model.Deployment && singleInstance[imageBase(pl.svcs[n].Image)]:
			pl.record(n, "ha:replicas", model.Approximated,
				fmt.Sprintf("%s keeps its state in one process: stays at %d replica(s) in ha (more would be separate, diverging instances)", imageBase(pl.svcs[n].Image), w.Replicas),
				"give it a volume, or run a replicated setup (an operator) for failover")
		case w.Kind == model.Deployment:
			w.HAReplicas = max(w.Replicas, 2)
			pl.record(n, "ha:replicas", model.Mapped,
				fmt.Sprintf("stateless: %d replicas in ha, spread over nodes (maxSkew 1), PodDisruptionBudget maxUnavailable 1", w.HAReplicas), "")
		}
		if w.Kind == model.Deployment || w.Kind == model.StatefulSet {
			pl.record(n, "ha:failover", model.Mapped, "ha tolerates not-ready/unreachable nodes for 30s: pods leave a dead node after about a minute, not five", "")
		}
		w.ServiceAccount = w.Name
		pl.record(n, "default:serviceAccount", model.Mapped, "ServiceAccount "+w.Name+" of its own; no API token mounted in the service's containers", "")
	}
}

// singleInstance are images whose replicas would not share state: databases, caches, brokers, vector stores.
var singleInstance = map[string]bool{
	"postgres": true, "postgresql": true, "postgis": true, "pgvector": true, "timescaledb": true, "mysql": true,
	"mariadb": true, "percona": true, "percona-server": true, "redis": true, "valkey": true, "redis-stack-server": true,
	"keydb": true, "dragonfly": true, "mongo": true, "mongodb": true, "rabbitmq": true, "nats": true, "qdrant": true,
	"milvus": true, "weaviate": true, "chroma": true, "elasticsearch": true, "opensearch": true, "kafka": true,
	"zookeeper": true, "etcd": true, "minio": true, "clickhouse-server": true, "influxdb": true, "neo4j": true,
	"mssql-server": true, "cassandra": true, "couchdb": true, "typesense": true, "meilisearch": true, "ollama": true,
	"memcached": true, "vault": true, "consul": true, "gitea": true, "nextcloud": true, "registry": true,
	"prometheus": true, "grafana": true, "loki": true, "auto-setup": true,
}
