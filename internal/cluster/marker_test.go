package cluster

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// TestReadRoundTrip: the folder init writes reads back into the Spec it was written from (Registries aside).
func TestReadRoundTrip(t *testing.T) {
	for name, f := range goldenCases() {
		t.Run(name, func(t *testing.T) {
			want := mustSpec(t, f)
			dir := filepath.Join(t.TempDir(), "site")
			if _, err := Init(want, dir); err != nil {
				t.Fatal(err)
			}
			got, err := Read(dir)
			if err != nil {
				t.Fatal(err)
			}
			want.CIDR = want.subnet()
			if !reflect.DeepEqual(got, want) {
				t.Errorf("read back\n%+v\nwant\n%+v", got, want)
			}
		})
	}
}

func TestReadRefuses(t *testing.T) {
	good := string(mustSpec(t, goldenCases()["k3s-3node-gpu"]).marker())
	for name, tc := range map[string]struct{ marker, want string }{
		"unknown field":   {strings.Replace(good, `"airgap"`, `"airgapped"`, 1), `unknown field "airgapped"`},
		"other generator": {strings.Replace(good, "agops cluster init", "kubeadm", 1), `generator "kubeadm"`},
		"two servers":     {strings.Replace(good, `"name": "cpu-2"`, `"name": "cpu-1"`, 1), "cpu-1"},
		"vip is a node":   {strings.Replace(good, `"vip": "192.168.10.10"`, `"vip": "192.168.10.11"`, 1), "192.168.10.11"},
		"trailing data":   {good + "{}", "data after the JSON object"},
		"not json":        {"distro: k3s", "agops-cluster.json"},
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, MarkerFile), []byte(tc.marker), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := Read(dir)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Read: %v; want an error with %q", err, tc.want)
			}
		})
	}
	t.Run("no folder of a node", func(t *testing.T) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, MarkerFile), []byte(good), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := Read(dir); err == nil || !strings.Contains(err.Error(), "node gpu-1 has no folder") {
			t.Errorf("Read: %v", err)
		}
	})
	t.Run("no marker", func(t *testing.T) {
		if _, err := Read(t.TempDir()); err == nil || !strings.Contains(err.Error(), "agops cluster init") {
			t.Errorf("Read: %v", err)
		}
	})
}

// TestDigests: pinned images appear as ref@digest in the manifests, the README stops asking for digests, and the
// pins survive the marker's round trip; a pin for an image the manifests do not use, or a malformed one, is refused.
func TestDigests(t *testing.T) {
	s := mustSpec(t, goldenCases()["k3s-3node-airgap-mirror"])
	digests := map[string]string{}
	for i, img := range s.Images() {
		digests[img] = "sha256:" + strings.Repeat(string("0123456789abcdef"[i]), 64)
	}
	if err := s.SetDigests(digests); err != nil {
		t.Fatal(err)
	}
	if !s.Pinned() {
		t.Fatal("every image has a digest, yet not Pinned")
	}
	dir := filepath.Join(t.TempDir(), "site")
	tree, err := Init(s, dir)
	if err != nil {
		t.Fatal(err)
	}
	for img, d := range digests {
		found := false
		for p, f := range tree {
			if strings.HasPrefix(p, "manifests/") && strings.Contains(string(f.Data), "image: "+img+"@"+d+"\n") {
				found = true
			}
		}
		if !found {
			t.Errorf("no manifest runs %s@%s", img, d)
		}
	}
	if readme := string(tree["README.md"].Data); strings.Contains(readme, "digests are not") {
		t.Errorf("README still asks for digests")
	}
	got, err := Read(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got.Digests, digests) {
		t.Errorf("digests after the round trip: %v", got.Digests)
	}
	for name, bad := range map[string]map[string]string{
		"unused image": {"docker.io/library/busybox:1": digests[KubeVIPImage]},
		"short digest": {KubeVIPImage: "sha256:abc"},
		"no algorithm": {KubeVIPImage: strings.Repeat("a", 64)},
	} {
		if err := s.SetDigests(bad); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
