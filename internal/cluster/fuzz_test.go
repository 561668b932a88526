package cluster

import (
	"strings"
	"testing"
)

// FuzzParseNode: never panics; what it accepts names a valid address and round-trips through NAME=IP.
func FuzzParseNode(f *testing.F) {
	for _, s := range []string{"gpu-1=192.168.1.11", "a=fd00::1", "=1.2.3.4", "a=", "a=b=c", "a=::ffff:10.0.0.1", "a=fe80::1%eth0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseNode(s)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "--node ") {
				t.Errorf("error %q does not name the flag", err)
			}
			return
		}
		if !n.Addr.IsValid() || n.Addr.Zone() != "" || n.Name == "" || strings.Contains(n.Name, "=") {
			t.Errorf("ParseNode(%q) = %+v", s, n)
		}
		again, err := ParseNode(n.Name + "=" + n.Addr.String())
		if err != nil || again != n {
			t.Errorf("round trip of %q: %+v, %v", s, again, err)
		}
	})
}

// FuzzParseAccelerator: never panics; what it accepts is one of the three kinds, for a non-empty node.
func FuzzParseAccelerator(f *testing.F) {
	for _, s := range []string{"gpu-1=nvidia", "b=amd", "c=npu", "d=tpu", "=nvidia", "x", "a=nvidia=1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		name, kind, err := ParseAccelerator(s)
		if err != nil {
			return
		}
		if name == "" || (kind != NVIDIA && kind != AMD && kind != NPU) || name+"="+string(kind) != s {
			t.Errorf("ParseAccelerator(%q) = %q, %q", s, name, kind)
		}
	})
}

// FuzzParse: the whole flag set never panics, and a Spec it accepts always generates.
func FuzzParse(f *testing.F) {
	f.Add("k3s", "a=10.0.0.1,b=10.0.0.2,c=10.0.0.3", "10.0.0.100", "a=nvidia", "reg.lab/m", false)
	f.Add("talos", "a=10.0.0.1", "10.0.0.100", "", "", true)
	f.Fuzz(func(t *testing.T, distro, nodes, vip, accel, mirror string, airgap bool) {
		fl := Flags{Distro: distro, VIP: vip, RegistryMirror: mirror, Airgap: airgap, Single: !strings.Contains(nodes, ",")}
		fl.Nodes = strings.Split(nodes, ",")
		if accel != "" {
			fl.Accelerators = strings.Split(accel, ",")
		}
		s, err := Parse(fl)
		if err != nil {
			return
		}
		if _, err := Generate(s, testToken); err != nil {
			t.Errorf("Parse accepted %+v but Generate failed: %v", fl, err)
		}
	})
}

// FuzzParseMarker: never panics; what it accepts is a valid Spec that writes the same marker back.
func FuzzParseMarker(f *testing.F) {
	for _, flags := range goldenCases() {
		f.Add(mustSpec(f, flags).marker())
	}
	f.Add([]byte(`{"generator":"agops cluster init","distro":"k3s","nodes":[],"vip":"10.0.0.1","subnet":"10.0.0.0/24","airgap":false}`))
	f.Add([]byte(`{"generator":"other"}`))
	f.Add([]byte(`{} {}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := ParseMarker(data)
		if err != nil {
			return
		}
		again, err := ParseMarker(s.marker())
		if err != nil {
			t.Fatalf("the marker of an accepted spec is refused: %v", err)
		}
		if string(again.marker()) != string(s.marker()) {
			t.Errorf("marker round trip changed:\n%s\n%s", s.marker(), again.marker())
		}
	})
}
