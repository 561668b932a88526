package cluster

import (
	"errors"
	"strings"
	"testing"
)

func valid() Flags {
	return Flags{
		Distro: "k3s", VIP: "192.168.1.10",
		Nodes: []string{"a=192.168.1.11", "b=192.168.1.12", "c=192.168.1.13"},
	}
}

func TestParseInvalid(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		edit func(*Flags)
		want string
	}{
		{"invalid-two-servers", func(f *Flags) { f.Nodes = f.Nodes[:2] },
			"2 servers cannot keep etcd's quorum any better than 1: etcd needs a majority (2 of 2) to write"},
		{"invalid-four-servers", func(f *Flags) { f.Nodes = append(f.Nodes, "d=192.168.1.14") },
			"4 servers cannot keep etcd's quorum any better than 3: etcd needs a majority (3 of 4)"},
		{"invalid-one-without-single", func(f *Flags) { f.Nodes = f.Nodes[:1] }, "pass --single to accept a single node"},
		{"invalid-single-with-three", func(f *Flags) { f.Single = true }, "--single needs exactly one --node, got 3"},
		{"invalid-five-servers", func(f *Flags) { f.Nodes = append(f.Nodes, "d=192.168.1.14", "e=192.168.1.15") }, "5 servers: agops cluster init writes three"},
		{"invalid-duplicate-name", func(f *Flags) { f.Nodes[2] = "a=192.168.1.13" }, `node name "a" is given twice`},
		{"invalid-name-not-dns-label", func(f *Flags) { f.Nodes[2] = "GPU_1=192.168.1.13" }, `name "GPU_1" is not a DNS label`},
		{"invalid-duplicate-address", func(f *Flags) { f.Nodes[2] = "c=192.168.1.12" }, "address 192.168.1.12 is given to both b and c"},
		{"invalid-vip-is-node", func(f *Flags) { f.VIP = "192.168.1.12" }, "--vip 192.168.1.12 is the address of node b"},
		{"invalid-vip-outside-subnet", func(f *Flags) { f.VIP = "192.168.2.10" }, "--vip 192.168.2.10 is outside 192.168.1.0/24, the nodes' subnet"},
		{"invalid-vip-broadcast", func(f *Flags) { f.VIP = "192.168.1.255" }, "network or broadcast address of 192.168.1.0/24"},
		{"invalid-vip-missing", func(f *Flags) { f.VIP = "" }, "--vip is required"},
		{"invalid-vip-not-ip", func(f *Flags) { f.VIP = "vip.lab" }, `--vip "vip.lab": not an IP address`},
		{"invalid-node-outside-subnet", func(f *Flags) { f.Nodes[2] = "c=192.168.7.13" }, "node c (192.168.7.13) is outside 192.168.1.0/24"},
		{"invalid-node-syntax", func(f *Flags) { f.Nodes[2] = "c" }, `--node "c": want NAME=IP`},
		{"invalid-node-address", func(f *Flags) { f.Nodes[2] = "c=300.1.1.1" }, `--node "c=300.1.1.1": "300.1.1.1" is not an IP address`},
		{"invalid-unknown-accelerator", func(f *Flags) { f.Accelerators = []string{"a=tpu"} }, `--accelerator a=tpu: unknown kind "tpu" (want nvidia, amd or npu)`},
		{"invalid-accelerator-undeclared-node", func(f *Flags) { f.Accelerators = []string{"gpu-9=nvidia"} }, `--accelerator gpu-9=nvidia: no node "gpu-9" (declared: a, b, c)`},
		{"invalid-accelerator-twice", func(f *Flags) { f.Accelerators = []string{"a=nvidia", "a=amd"} }, "node a is already nvidia"},
		{"invalid-distro", func(f *Flags) { f.Distro = "rke2" }, `--distro "rke2": want k3s or talos`},
		{"invalid-cidr", func(f *Flags) { f.CIDR = "10.0.0.0" }, `--cidr "10.0.0.0": not a CIDR`},
		{"invalid-mirror", func(f *Flags) { f.RegistryMirror = "ftp://reg lab" }, `--registry-mirror "ftp://reg lab"`},
		{"invalid-npu-resource", func(f *Flags) { f.NPUResource = "npu" }, `--npu-resource "npu": want an extended resource DOMAIN/NAME`},
		{"invalid-interface", func(f *Flags) { f.Interface = "eth0; rm -rf /" }, "not a network interface name"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			f := valid()
			f.Nodes = append([]string(nil), f.Nodes...)
			c.edit(&f)
			_, err := Parse(f)
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("Parse: %v, want a *ValidationError", err)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error:\n%v\nwant a line containing %q", err, c.want)
			}
			for _, line := range ve.Problems {
				if strings.Contains(line, "\n") {
					t.Errorf("problem %q spans lines", line)
				}
			}
		})
	}
}

// TestParseReportsEverythingAtOnce: three problems, three lines.
func TestParseReportsEverythingAtOnce(t *testing.T) {
	t.Parallel()
	f := valid()
	f.Nodes = []string{"a=192.168.1.11", "a=192.168.1.11"}
	f.VIP = "192.168.1.11"
	f.Accelerators = []string{"z=amd"}
	_, err := Parse(f)
	var ve *ValidationError
	if !errors.As(err, &ve) || len(ve.Problems) < 4 {
		t.Fatalf("got %v, want at least four problems (count, name, VIP, accelerator)", err)
	}
}

func TestParseValid(t *testing.T) {
	t.Parallel()
	cases := map[string]Flags{
		"valid-k3s-three":   valid(),
		"valid-talos-gpu":   {Distro: "talos", VIP: "10.0.0.100", Nodes: []string{"a=10.0.0.1", "b=10.0.0.2", "c=10.0.0.3"}, Accelerators: []string{"a=nvidia", "b=amd"}},
		"valid-single":      {Distro: "k3s", VIP: "10.0.0.100", Nodes: []string{"solo=10.0.0.1"}, Single: true},
		"valid-wide-subnet": {Distro: "k3s", VIP: "10.0.3.1", CIDR: "10.0.0.0/22", Nodes: []string{"a=10.0.0.1", "b=10.0.1.2", "c=10.0.2.3"}},
		"valid-ipv6":        {Distro: "k3s", VIP: "fd00:1::10", Nodes: []string{"a=fd00:1::11", "b=fd00:1::12", "c=fd00:1::13"}},
		"valid-mirror-http": {Distro: "k3s", VIP: "10.0.0.100", Nodes: []string{"a=10.0.0.1", "b=10.0.0.2", "c=10.0.0.3"}, RegistryMirror: "http://10.0.0.5:5000/lab"},
	}
	for name, f := range cases {
		s, err := Parse(f)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if _, err := Generate(s, testToken); err != nil {
			t.Errorf("%s: Generate: %v", name, err)
		}
	}
}

func TestSingleNodeInitialisesAlone(t *testing.T) {
	t.Parallel()
	s := mustSpec(t, Flags{Distro: "k3s", VIP: "10.0.0.100", Nodes: []string{"solo=10.0.0.1"}, Single: true})
	tree, err := Generate(s, testToken)
	if err != nil {
		t.Fatal(err)
	}
	cfg := string(tree["solo/config.yaml"].Data)
	if !strings.Contains(cfg, "cluster-init: true") || strings.Contains(cfg, "server: https://") {
		t.Errorf("single server config:\n%s", cfg)
	}
}
