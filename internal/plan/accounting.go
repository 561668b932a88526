package plan

import (
	"reflect"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/agops/agops/internal/model"
)

// otherKeys are Compose keys that need no conversion of their own, with what happens to them.
var otherKeys = map[string]struct {
	outcome      model.Outcome
	reason, hint string
}{
	"profiles":            {model.Mapped, "profiles were applied when loading: only selected services are converted", ""},
	"extends":             {model.Mapped, "resolved when loading", ""},
	"container_name":      {model.Mapped, "peers' use of the name resolves through a Service", ""},
	"links":               {model.Mapped, "link names resolve through Services", ""},
	"labels":              {model.Dropped, "container labels configure Docker-side tools (reverse proxies, log shippers); they do not carry over", "configure an Ingress or the tool's Kubernetes integration"},
	"annotations":         {model.Dropped, "container annotations are Docker's; put Kubernetes annotations in an overlay", ""},
	"label_file":          {model.Dropped, "labels are not carried over", ""},
	"logging":             {model.Dropped, "Kubernetes keeps container stdout/stderr; log drivers are replaced by the cluster's log collection", ""},
	"log_driver":          {model.Dropped, "the cluster's log collection replaces log drivers", ""},
	"log_opt":             {model.Dropped, "the cluster's log collection replaces log drivers", ""},
	"ulimits":             {model.Dropped, "Kubernetes has no per-pod ulimits; they come from the container runtime's defaults", "raise LimitNOFILE in the containerd service on each node, or set limits in the entrypoint (ulimit -n)"},
	"init":                {model.Dropped, "Kubernetes runs no init process; zombies are reaped only if the image has one", "use an image with tini, or shareProcessNamespace"},
	"stop_signal":         {model.Dropped, "Kubernetes sends SIGTERM", "make the process handle SIGTERM, or use a preStop hook"},
	"domainname":          {model.Dropped, "pods get cluster DNS names", ""},
	"mac_address":         {model.Dropped, "pods get addresses from the cluster network", ""},
	"external_links":      {model.Dropped, "links to containers outside the project do not exist in the cluster", "point the service at a Service or an ExternalName"},
	"develop":             {model.Dropped, "development file watching is not for clusters", ""},
	"attach":              {model.Dropped, "logs are read with kubectl logs", ""},
	"cgroup":              {model.Dropped, "cgroup namespaces are set by the runtime", ""},
	"cgroup_parent":       {model.Dropped, "the kubelet places pods in cgroups", ""},
	"cpu_count":           {model.Dropped, "Windows-only", ""},
	"cpu_percent":         {model.Dropped, "Windows-only", ""},
	"cpu_period":          {model.Dropped, "CFS tuning is a kubelet setting", "use deploy.resources.limits.cpus"},
	"cpu_quota":           {model.Dropped, "CFS tuning is a kubelet setting", "use deploy.resources.limits.cpus"},
	"cpu_rt_period":       {model.Dropped, "real-time scheduling is not available to pods", ""},
	"cpu_rt_runtime":      {model.Dropped, "real-time scheduling is not available to pods", ""},
	"cpu_shares":          {model.Approximated, "relative CPU weight follows from cpu requests on Kubernetes", "use deploy.resources.reservations.cpus"},
	"cpuset":              {model.Dropped, "CPU pinning is the kubelet's static CPU manager", ""},
	"blkio_config":        {model.Dropped, "block I/O weights are not settable per pod", ""},
	"memswap_limit":       {model.Dropped, "swap is a node setting", ""},
	"mem_swappiness":      {model.Dropped, "swap is a node setting", ""},
	"oom_kill_disable":    {model.Dropped, "the kubelet always may kill on OOM", ""},
	"oom_score_adj":       {model.Dropped, "the kubelet sets OOM scores from the QoS class", ""},
	"pids_limit":          {model.Dropped, "per-pod PID limits are a kubelet setting (podPidsLimit)", ""},
	"storage_opt":         {model.Dropped, "container storage options are the runtime's", ""},
	"isolation":           {model.Dropped, "Windows-only", ""},
	"credential_spec":     {model.Dropped, "Windows-only", ""},
	"device_cgroup_rules": {model.NeedsInput, "device access rules need a device plugin or a privileged pod", "use a device plugin"},
	"uts":                 {model.Dropped, "UTS namespaces are per pod", ""},
	"volume_driver":       {model.Dropped, "storage classes replace volume drivers", ""},
	"use_api_socket":      {model.Dropped, "the Docker API is not available in the cluster", ""},
	"dns_opt":             {model.Approximated, "see dns", ""},
	"dns_search":          {model.Approximated, "see dns", ""},
	"scale":               {model.Mapped, "replicas", ""},
	"restart":             {model.Mapped, "Kubernetes restarts containers that stop", ""},
	"dockerfile":          {model.Approximated, "build the image before deploying", ""},
	"healthcheck":         {model.Mapped, "see probes", ""},
	"network_mode":        {model.Mapped, "pods share the cluster network", ""},
	"depends_on":          {model.Mapped, "see the per-dependency decisions", ""},
}

// ruleOtherKeys and ruleAccounting make sure every key a service sets has at least one Decision: first the keys
// with a fixed outcome, then a catch-all for keys no rule knows.
func (pl *planner) ruleOtherKeys() {
	for _, n := range pl.order {
		pl.deployKeys(n)
		for _, k := range presentKeys(pl.svcs[n]) {
			if o, ok := otherKeys[k]; ok && !pl.covered(n, k) {
				pl.record(n, k, o.outcome, o.reason, o.hint)
			}
		}
	}
}

func (pl *planner) ruleAccounting() {
	for _, n := range pl.order {
		for _, k := range presentKeys(pl.svcs[n]) {
			if !pl.covered(n, k) {
				pl.record(n, k, model.Dropped, "agops has no rule for this key; it is not carried over", "")
			}
		}
		for _, k := range sortedKeys(pl.svcs[n].Extensions) {
			if k != "x-agops" && !pl.covered(n, k) {
				pl.record(n, k, model.Dropped, "extension field, not read by agops", "")
			}
		}
	}
}

// covered tells whether a decision exists for the key (or one of its sub-keys) of the service.
func (pl *planner) covered(n, key string) bool {
	return pl.keyRoots[n][key]
}

// presentKeys lists the Compose keys a service sets, by the yaml names of its non-zero fields.
func presentKeys(s types.ServiceConfig) []string {
	var keys []string
	var walk func(v reflect.Value)
	walk = func(v reflect.Value) {
		t := v.Type()
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			tag := f.Tag.Get("yaml")
			name, opts, _ := strings.Cut(tag, ",")
			if strings.Contains(opts, "inline") && f.Type.Kind() == reflect.Struct {
				walk(v.Field(i))
				continue
			}
			if name == "" || name == "-" || name == "name" || strings.HasPrefix(name, "#") || isEmpty(v.Field(i)) {
				continue
			}
			keys = append(keys, name)
		}
	}
	walk(reflect.ValueOf(s))
	return keys
}

// isEmpty treats zero values and empty maps and lists (which normalization leaves behind) as not set.
func isEmpty(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.Map, reflect.Slice:
		return v.Len() == 0
	}
	return v.IsZero()
}

// deployKeys accounts for the parts of deploy: that no other rule reads.
func (pl *planner) deployKeys(n string) {
	d := pl.svcs[n].Deploy
	if d == nil {
		return
	}
	if d.UpdateConfig != nil {
		pl.record(n, "deploy.update_config", model.Approximated, "Kubernetes rolls updates out with maxSurge/maxUnavailable 25%; Swarm's parallelism and delay are not carried over", "")
	}
	if d.RollbackConfig != nil {
		pl.record(n, "deploy.rollback_config", model.Dropped, "roll back with kubectl rollout undo", "")
	}
	if len(d.Labels) > 0 {
		pl.record(n, "deploy.labels", model.Dropped, "Swarm service labels do not carry over", "")
	}
	if d.EndpointMode != "" {
		pl.record(n, "deploy.endpoint_mode", model.Mapped, "Services balance over pod endpoints", "")
	}
	if d.RestartPolicy != nil && pl.workloadOf(n) != nil && pl.workloadOf(n).Kind != model.Job {
		pl.record(n, "deploy.restart_policy", model.Mapped, "Kubernetes restarts containers that stop", "")
	}
	if !pl.covered(n, "deploy") {
		pl.record(n, "deploy", model.Mapped, "see the decisions on resources and replicas", "")
	}
}

// ruleProjectKeys accounts for top-level volumes, secrets and configs no selected service uses.
func (pl *planner) ruleProjectKeys() {
	for _, name := range sortedKeys(pl.p.Volumes) {
		if _, used := pl.claims[name]; !used {
			pl.record("", "volumes."+name, model.Dropped, "no selected service mounts it", "")
		}
	}
	for _, name := range sortedKeys(pl.p.Secrets) {
		if _, used := pl.secrets["compose:"+name]; !used {
			pl.record("", "secrets."+name, model.Dropped, "no selected service uses it", "")
		}
	}
	for _, name := range sortedKeys(pl.p.Configs) {
		if _, used := pl.configMaps["config:"+name]; !used {
			pl.record("", "configs."+name, model.Dropped, "no selected service uses it", "")
		}
	}
}
