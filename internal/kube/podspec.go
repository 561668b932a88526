package kube

// podSpecPaths are where each workload kind keeps its pod spec.
var podSpecPaths = map[string][]string{
	"Pod":         {"spec"},
	"Deployment":  {"spec", "template", "spec"},
	"StatefulSet": {"spec", "template", "spec"},
	"DaemonSet":   {"spec", "template", "spec"},
	"ReplicaSet":  {"spec", "template", "spec"},
	"Job":         {"spec", "template", "spec"},
	"CronJob":     {"spec", "jobTemplate", "spec", "template", "spec"},
}

// PodSpecPath is the field path of a kind's pod spec (Pod, Deployment, StatefulSet, DaemonSet, ReplicaSet, Job,
// CronJob), for unstructured.Nested*; ok is false for kinds that make no pods.
func PodSpecPath(kind string) (path []string, ok bool) {
	path, ok = podSpecPaths[kind]
	return append([]string(nil), path...), ok
}
