package cluster

import (
	"bytes"
	"reflect"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// TestTalosRoundTrip reads every written Talos file back strictly (an unknown field fails) into the same types and
// compares it with what was generated.
func TestTalosRoundTrip(t *testing.T) {
	t.Parallel()
	s := mustSpec(t, goldenCases()["talos-3node-gpu"])
	tree, err := Generate(s, "")
	if err != nil {
		t.Fatal(err)
	}
	docs := bytes.Split(tree["shared-patch.yaml"].Data, []byte("\n---\n"))
	if len(docs) != 2 {
		t.Fatalf("shared-patch.yaml has %d documents, want the patch and the IMAGECACHE volume", len(docs))
	}
	roundTrip(t, "shared-patch.yaml", docs[0], s.talosShared())
	roundTrip(t, "shared-patch.yaml#2", docs[1], s.talosImageCacheVolume())
	for i, n := range s.Nodes {
		roundTrip(t, n.Name+"/patch.yaml", tree[n.Name+"/patch.yaml"].Data, s.talosNode(i))
	}
	sc := talosSchematic{Customization: talosCustomization{SystemExtensions: talosSystemExtensions{OfficialExtensions: talosExtensions(NVIDIA)}}}
	roundTrip(t, "gpu-1/schematic.yaml", tree["gpu-1/schematic.yaml"].Data, sc)
	if _, ok := tree["cpu-1/schematic.yaml"]; ok {
		t.Error("a node without an accelerator got a schematic")
	}
}

func roundTrip[T any](t *testing.T, name string, data []byte, want T) {
	t.Helper()
	var got T
	if err := yaml.UnmarshalStrict(data, &got); err != nil {
		t.Fatalf("%s does not read back strictly: %v\n%s", name, err, data)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s read back as\n%+v\nwant\n%+v", name, got, want)
	}
}

func TestTalosStrictRefusesUnknownFields(t *testing.T) {
	t.Parallel()
	var c talosConfig
	if err := yaml.UnmarshalStrict([]byte("machine:\n  network:\n    hostnme: a\n"), &c); err == nil {
		t.Error("a misspelt field was accepted")
	}
}

func TestTalosFields(t *testing.T) {
	t.Parallel()
	s := mustSpec(t, goldenCases()["talos-3node-gpu"])
	shared := s.talosShared()
	if !shared.Cluster.AllowSchedulingOnControlPlanes || shared.Machine.Features.ImageCache == nil || !shared.Machine.Features.ImageCache.LocalEnabled {
		t.Errorf("shared patch: %+v", shared)
	}
	for reg, m := range shared.Machine.Registries.Mirrors {
		if !m.SkipFallback || m.Endpoints[0] != "https://registry.lab:5000" {
			t.Errorf("mirror %s: %+v, want registry.lab:5000 without fallback", reg, m)
		}
	}
	if sans := strings.Join(shared.Cluster.APIServer.CertSANs, ","); !strings.HasPrefix(sans, "192.168.10.10,") {
		t.Errorf("certSANs %s: want the VIP first", sans)
	}
	gpu := s.talosNode(0).Machine
	if gpu.Network.Interfaces[0].VIP.IP != "192.168.10.10" || gpu.NodeTaints["nvidia.com/gpu"] != "present:NoSchedule" || len(gpu.Kernel.Modules) != 4 {
		t.Errorf("gpu-1 patch: %+v", gpu)
	}
	if cpu := s.talosNode(1).Machine; cpu.Kernel != nil || cpu.NodeTaints != nil {
		t.Errorf("cpu-1 patch has accelerator settings: %+v", cpu)
	}
	prefixed := mustSpec(t, Flags{Distro: "talos", VIP: "10.0.0.100", Nodes: []string{"a=10.0.0.1", "b=10.0.0.2", "c=10.0.0.3"}, RegistryMirror: "reg.lab/mirror"})
	if m := prefixed.talosRegistries().Mirrors["docker.io"]; m.Endpoints[0] != "https://reg.lab/v2/mirror" || !m.OverridePath || m.SkipFallback {
		t.Errorf("prefixed mirror: %+v", m)
	}
}
