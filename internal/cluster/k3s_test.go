package cluster

import (
	"bytes"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// criticalKeys are k3s's "critical configuration values" (they must match on every server, or a server cannot
// join) that agops sets, plus the settings agops keeps identical so that nodes behave alike.
var criticalKeys = []string{
	"cluster-cidr", "service-cidr", "cluster-dns", "cluster-domain", "disable", "flannel-backend", "egress-selector-mode",
	"secrets-encryption", "tls-san", "token-file",
}

// TestK3sCriticalKeysIdentical: the shared part of every server's config.yaml is byte-identical, holds every
// critical key, and no critical key appears in a server's own part.
func TestK3sCriticalKeysIdentical(t *testing.T) {
	t.Parallel()
	for name, f := range goldenCases() {
		if f.Distro != "k3s" {
			continue
		}
		s := mustSpec(t, f)
		var first []byte
		for i, n := range s.Nodes {
			shared, own := splitConfig(t, config(t, s, i))
			if first == nil {
				first = shared
			} else if !bytes.Equal(first, shared) {
				t.Errorf("%s: %s's shared settings differ from %s's:\n%s\nvs\n%s", name, n.Name, s.Nodes[0].Name, shared, first)
			}
			sharedMap, ownMap := parseMap(t, shared), parseMap(t, own)
			for _, k := range criticalKeys {
				if _, ok := sharedMap[k]; !ok {
					t.Errorf("%s: critical key %s missing from the shared settings", name, k)
				}
				if _, ok := ownMap[k]; ok {
					t.Errorf("%s: critical key %s set per node on %s", name, k, n.Name)
				}
			}
			if f.Airgap && (sharedMap["embedded-registry"] != true || sharedMap["disable-default-registry-endpoint"] != true) {
				t.Errorf("%s: air-gapped config lacks the embedded registry or still falls back: %v", name, sharedMap)
			}
		}
	}
}

// splitConfig cuts a config.yaml at the node marker, and checks the whole file parses as one YAML map.
func splitConfig(t *testing.T, cfg []byte) (shared, own []byte) {
	t.Helper()
	parseMap(t, cfg)
	_, rest, ok := bytes.Cut(cfg, []byte(sharedMarker))
	if !ok {
		t.Fatalf("no shared marker in:\n%s", cfg)
	}
	shared, own, ok = bytes.Cut(rest, []byte(nodeMarker))
	if !ok {
		t.Fatalf("no node marker in:\n%s", cfg)
	}
	return shared, own
}

func config(t *testing.T, s Spec, i int) []byte {
	t.Helper()
	cfg, err := s.k3sConfig(i)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func registriesYAML(t *testing.T, s Spec) []byte {
	t.Helper()
	data, err := s.k3sRegistries()
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func parseMap(t *testing.T, data []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := yaml.UnmarshalStrict(data, &m); err != nil {
		t.Fatalf("not a YAML map: %v\n%s", err, data)
	}
	return m
}

func TestK3sJoinOrderAndAccelerators(t *testing.T) {
	t.Parallel()
	s := mustSpec(t, goldenCases()["k3s-3node-airgap-mirror"])
	for i, n := range s.Nodes {
		_, own := splitConfig(t, config(t, s, i))
		m := parseMap(t, own)
		if i == 0 && (m["cluster-init"] != true || m["server"] != nil) {
			t.Errorf("%s: first server must initialise, not join: %v", n.Name, m)
		}
		if i > 0 && (m["server"] != "https://10.20.0.10:6443" || m["cluster-init"] != nil) {
			t.Errorf("%s: must join through the VIP: %v", n.Name, m)
		}
		want := map[string]string{"node-1": "nvidia.com/gpu", "node-2": "amd.com/gpu", "node-3": "vendor.example/npu"}[n.Name]
		if !strings.Contains(string(own), want+"=present:NoSchedule") || !strings.Contains(string(own), AcceleratorLabel+"=") {
			t.Errorf("%s: no label or %s taint:\n%s", n.Name, want, own)
		}
	}
}

func TestK3sRegistries(t *testing.T) {
	t.Parallel()
	var r registries
	s := mustSpec(t, goldenCases()["k3s-3node-airgap-mirror"])
	if err := yaml.UnmarshalStrict(registriesYAML(t, s), &r); err != nil {
		t.Fatal(err)
	}
	for _, reg := range mirroredRegistries {
		m := r.Mirrors[reg]
		if len(m.Endpoint) != 1 || m.Endpoint[0] != "https://registry.lab:5000" || m.Rewrite["^(.*)$"] != "mirror/$1" {
			t.Errorf("mirror of %s = %+v, want registry.lab:5000 with prefix mirror/", reg, m)
		}
	}
	if m := r.Mirrors["registry.lab:5000"]; m.Rewrite != nil {
		t.Errorf("the mirror's own images must not be rewritten: %+v", m)
	}
	airgapOnly := mustSpec(t, Flags{Distro: "k3s", VIP: "10.0.0.100", Nodes: []string{"a=10.0.0.1", "b=10.0.0.2", "c=10.0.0.3"}, Airgap: true})
	r = registries{}
	if err := yaml.UnmarshalStrict(registriesYAML(t, airgapOnly), &r); err != nil {
		t.Fatal(err)
	}
	if _, ok := r.Mirrors["docker.io"]; !ok || len(r.Mirrors["docker.io"].Endpoint) != 0 {
		t.Errorf("air-gapped without a mirror: want docker.io listed without endpoints (embedded mirror), got %+v", r)
	}
	if none := mustSpec(t, valid()); registriesYAML(t, none) != nil {
		t.Error("registries.yaml written without a mirror or --airgap")
	}
}
