package airgap

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/agops/agops/internal/model"
	"github.com/agops/agops/internal/pin"
)

// TestResolverPinsToTheBundle: pinning from a bundle names the image digests the bundle holds (for a
// multi-platform index: the chosen platform's image, which is what push makes addressable), offline.
func TestResolverPinsToTheBundle(t *testing.T) {
	t.Parallel()
	host := newRegistry(t)
	app := push(t, host+"/team/app:1.0", randomImage(t, 256, 1, "linux/amd64"))
	_, byPlatform := pushIndex(t, host+"/library/db:16")
	refs := []string{host + "/team/app:1.0", host + "/library/db:16"}
	out := filepath.Join(t.TempDir(), "bundle.tar")
	if _, err := Bundle(context.Background(), refs, out, Options{Platform: "linux/amd64"}); err != nil {
		t.Fatal(err)
	}
	r, err := NewResolver(out)
	if err != nil {
		t.Fatal(err)
	}
	dbDigest, _ := byPlatform["linux/amd64"].Digest()
	m := &model.Project{Workloads: []model.Workload{
		{Service: "app", Pod: model.Pod{Containers: []model.Container{{Image: refs[0]}}}},
		{Service: "db", Pod: model.Pod{Containers: []model.Container{{Image: refs[1]}}}},
	}}
	if err := pin.Pin(context.Background(), m, r); err != nil {
		t.Fatal(err)
	}
	if got := m.Workloads[0].Pod.Containers[0].Image; got != refs[0]+"@"+app.String() {
		t.Errorf("app pinned to %s", got)
	}
	if got := m.Workloads[1].Pod.Containers[0].Image; got != refs[1]+"@"+dbDigest.String() {
		t.Errorf("db pinned to %s, want the linux/amd64 image %s", got, dbDigest)
	}
	if _, err := r.Digest(context.Background(), host+"/team/other:1"); err == nil || !strings.Contains(err.Error(), "not in the bundle") {
		t.Errorf("unknown image: %v", err)
	}
}
