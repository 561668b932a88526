package plan_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/agops/agops/internal/model"
	"github.com/agops/agops/internal/plan"
)

// keyRoots returns the top-level Compose keys a decision key covers: "cap_add/cap_drop" covers both,
// "environment.X" and "volumes[0]" cover environment and volumes.
func keyRoots(key string) []string {
	var out []string
	for _, part := range strings.Split(key, "/") {
		if i := strings.IndexAny(part, ".["); i >= 0 {
			part = part[:i]
		}
		out = append(out, part)
	}
	return out
}

// TestPlanEveryKeyDecided: every key a service sets has at least one Decision.
func TestPlanEveryKeyDecided(t *testing.T) {
	t.Parallel()
	services := map[string]map[string]any{
		"kitchen": {
			"image":       "example/kitchen:1.0",
			"command":     []string{"serve", "--port", "8080"},
			"entrypoint":  []string{"/entry.sh"},
			"environment": map[string]any{"LOG_LEVEL": "debug", "API_TOKEN": "tok-abcdef", "UNSET_VAR": nil},
			"env_file":    []string{"./app.env"},
			"ports":       []string{"8080:8080", "127.0.0.1:9090:9090"},
			"expose":      []string{"7000-7001"},
			"volumes": []any{
				"data:/var/lib/kitchen",
				"./config.ini:/etc/kitchen/config.ini:ro",
				"./uploads:/uploads",
				map[string]any{"type": "tmpfs", "target": "/scratch"},
			},
			"tmpfs":             []string{"/run/kitchen"},
			"shm_size":          "64m",
			"healthcheck":       map[string]any{"test": []string{"CMD", "curl", "-f", "http://localhost:8080/"}, "interval": "10s"},
			"depends_on":        map[string]any{"db": map[string]any{"condition": "service_healthy"}},
			"restart":           "unless-stopped",
			"labels":            map[string]string{"traefik.enable": "true"},
			"annotations":       map[string]string{"a": "b"},
			"logging":           map[string]any{"driver": "json-file"},
			"ulimits":           map[string]any{"nofile": 65535},
			"user":              "1000:1000",
			"group_add":         []string{"2000"},
			"cap_add":           []string{"NET_ADMIN"},
			"cap_drop":          []string{"ALL"},
			"read_only":         true,
			"working_dir":       "/srv",
			"hostname":          "kitchen-host",
			"domainname":        "example.org",
			"extra_hosts":       []string{"metadata=169.254.169.254"},
			"dns":               []string{"1.1.1.1"},
			"dns_search":        []string{"example.org"},
			"dns_opt":           []string{"ndots:2"},
			"sysctls":           map[string]string{"net.ipv4.tcp_syncookies": "1", "net.core.somaxconn": "1024"},
			"stop_grace_period": "20s",
			"stop_signal":       "SIGINT",
			"init":              true,
			"security_opt":      []string{"no-new-privileges:true"},
			"networks":          []string{"front"},
			"deploy": map[string]any{
				"update_config": map[string]any{"parallelism": 1},
				"labels":        map[string]string{"x": "y"},
				"placement":     map[string]any{"constraints": []string{"node.labels.zone==a"}},
				"resources":     map[string]any{"reservations": map[string]any{"memory": "64m"}},
			},
			"platform":            "linux/amd64",
			"pull_policy":         "always",
			"secrets":             []string{"db_password"},
			"configs":             []string{"kitchen_conf"},
			"container_name":      "the-kitchen",
			"mem_limit":           "256m",
			"cpus":                0.5,
			"cpu_shares":          512,
			"pids_limit":          100,
			"oom_score_adj":       100,
			"stdin_open":          true,
			"tty":                 true,
			"pid":                 "host",
			"ipc":                 "shareable",
			"devices":             []string{"/dev/fuse:/dev/fuse"},
			"links":               []string{"db:database"},
			"external_links":      []string{"legacy"},
			"mac_address":         "02:42:ac:11:00:02",
			"post_start":          []any{map[string]any{"command": []string{"echo", "started"}}},
			"pre_stop":            []any{map[string]any{"command": []string{"echo", "stopping"}}},
			"x-team":              "kitchen",
			"runtime":             "runc",
			"device_cgroup_rules": []string{"c 1:3 mr"},
		},
		"db": {
			"image":       "postgres:16",
			"environment": []string{"POSTGRES_PASSWORD=example_pw"},
			"volumes":     []string{"pg:/var/lib/postgresql/data"},
			"healthcheck": map[string]any{"test": "pg_isready -U postgres", "start_period": "30s"},
			"scale":       1,
		},
		"migrate": {
			"build":      map[string]any{"context": "./migrate"},
			"restart":    "no",
			"depends_on": []string{"db"},
		},
	}
	p := project{
		"name":     "kitchen-sink",
		"services": services,
		"volumes":  map[string]any{"data": map[string]any{}, "pg": map[string]any{}, "unused": map[string]any{}},
		"networks": map[string]any{"front": map[string]any{}},
		"secrets":  map[string]any{"db_password": map[string]any{"file": "./db_password.txt"}},
		"configs":  map[string]any{"kitchen_conf": map[string]any{"content": "a=1\n"}},
	}
	files := map[string]string{
		"app.env":            "FROM_ENV_FILE=1\n",
		"config.ini":         "[kitchen]\n",
		"db_password.txt":    "s3cret-from-file\n",
		"migrate/Dockerfile": "FROM scratch\n",
		"uploads/.keep":      "",
	}
	m := planOf(t, p, files, plan.DefaultOptions())

	covered := map[string]map[string]bool{}
	for _, d := range m.Decisions {
		if covered[d.Service] == nil {
			covered[d.Service] = map[string]bool{}
		}
		for _, r := range keyRoots(d.Key) {
			covered[d.Service][r] = true
		}
	}
	for _, svc := range sortedKeys(services) {
		for _, key := range sortedKeys(services[svc]) {
			if !covered[svc][key] {
				t.Errorf("service %s: key %s has no Decision", svc, key)
			}
		}
	}
	for _, key := range []string{"volumes", "networks"} {
		if !covered[""][key] {
			t.Errorf("project key %s has no Decision", key)
		}
	}
	for _, d := range m.Decisions {
		if d.Outcome != model.Mapped && d.Outcome != model.Approximated && d.Outcome != model.Dropped && d.Outcome != model.NeedsInput {
			t.Errorf("decision %+v has an unknown outcome", d)
		}
		if d.Reason == "" {
			t.Errorf("decision %s/%s has no reason", d.Service, d.Key)
		}
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// TestPlanResourceKeysNotDropped: cpus, mem_limit and mem_reservation are carried over into the container's
// resources, so their decisions must not say they were dropped.
func TestPlanResourceKeysNotDropped(t *testing.T) {
	t.Parallel()
	p := project{"services": map[string]any{
		"api": map[string]any{"image": "example/api", "cpus": 0.5, "mem_limit": "256m", "mem_reservation": "128m"},
	}}
	m := planOf(t, p, nil, plan.DefaultOptions())
	c := workload(t, m, "api").Pod.Containers[0]
	if got := c.Resources.Limits["cpu"]; got != "500m" {
		t.Errorf("cpu limit = %q, want 500m", got)
	}
	if got := c.Resources.Limits["memory"]; got != "256Mi" {
		t.Errorf("memory limit = %q, want 256Mi", got)
	}
	if got := c.Resources.Requests["memory"]; got != "128Mi" {
		t.Errorf("memory request = %q, want 128Mi", got)
	}
	for _, key := range []string{"cpus", "mem_limit", "mem_reservation"} {
		for _, d := range decisionsFor(m, "api", key) {
			if d.Outcome == model.Dropped {
				t.Errorf("decision for %s is %s (%q), but the value is carried over", key, d.Outcome, d.Reason)
			}
		}
	}
}
