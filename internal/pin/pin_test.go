package pin

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/agops/agops/internal/model"
)

// push puts a random image (or a two-platform index) at host/repo:tag and returns its digest.
func push(t *testing.T, host, repo string, index bool) string {
	t.Helper()
	ref, err := name.ParseReference(fmt.Sprintf("%s/%s", host, repo), name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	var d v1.Hash
	if index {
		idx, err := random.Index(256, 1, 2)
		if err != nil {
			t.Fatal(err)
		}
		if err := remote.WriteIndex(ref, idx); err != nil {
			t.Fatal(err)
		}
		d, _ = idx.Digest()
	} else {
		img, err := random.Image(256, 1)
		if err != nil {
			t.Fatal(err)
		}
		if err := remote.Write(ref, img); err != nil {
			t.Fatal(err)
		}
		d, _ = img.Digest()
	}
	return d.String()
}

func project(images ...string) *model.Project {
	m := &model.Project{HelperImage: images[0]}
	for i, img := range images[1:] {
		m.Workloads = append(m.Workloads, model.Workload{Name: fmt.Sprintf("svc%d", i), Service: fmt.Sprintf("svc%d", i),
			Pod: model.Pod{InitContainers: []model.Container{{Image: images[0]}}, Containers: []model.Container{{Image: img}}}})
	}
	return m
}

func TestPin(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	helper := push(t, host, "agops/agops:v1", false)
	app := push(t, host, "team/app:1.0", false)
	multi := push(t, host, "library/db:16", true)
	m := project(host+"/agops/agops:v1", host+"/team/app:1.0", host+"/library/db:16", host+"/team/app:1.0@"+app)
	if err := Pin(context.Background(), m, Registry{Insecure: true}); err != nil {
		t.Fatal(err)
	}
	want := []string{host + "/team/app:1.0@" + app, host + "/library/db:16@" + multi, host + "/team/app:1.0@" + app}
	for i, w := range m.Workloads {
		if got := w.Pod.Containers[0].Image; got != want[i] {
			t.Errorf("%s: %s, want %s", w.Name, got, want[i])
		}
		if got := w.Pod.InitContainers[0].Image; got != host+"/agops/agops:v1@"+helper {
			t.Errorf("%s init: %s", w.Name, got)
		}
	}
	if m.HelperImage != host+"/agops/agops:v1@"+helper {
		t.Errorf("helper image %s", m.HelperImage)
	}
	if len(m.Decisions) != 3 || !strings.Contains(m.Decisions[0].Reason, "pinned by digest") {
		t.Errorf("decisions %+v", m.Decisions)
	}
}

// TestPinArtifact: the artifact a container copies (a model's weights) is pinned like an image, in its argument too.
func TestPinArtifact(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	helper := push(t, host, "agops/agops:v1", false)
	weights := push(t, host, "ai/tiny:latest", false)
	tiny := host + "/ai/tiny:latest"
	m := &model.Project{HelperImage: host + "/agops/agops:v1"}
	m.Workloads = []model.Workload{{Name: "llm", Service: "llm", Pod: model.Pod{InitContainers: []model.Container{{
		Image: host + "/agops/agops:v1", Args: []string{"model", "pull", tiny, "--dir", "/models"}, Artifact: tiny,
	}}}}}
	if err := Pin(context.Background(), m, Registry{Insecure: true}); err != nil {
		t.Fatal(err)
	}
	c := m.Workloads[0].Pod.InitContainers[0]
	if c.Artifact != tiny+"@"+weights || c.Args[2] != c.Artifact || c.Image != host+"/agops/agops:v1@"+helper {
		t.Errorf("pinned container: image %s, artifact %s, args %q", c.Image, c.Artifact, c.Args)
	}
}

// TestPinReadsImage: a container that reads its own image's entrypoint (agops mcp-bridge --image) reads the pinned
// image's; other arguments equal to the reference are left alone.
func TestPinReadsImage(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	push(t, host, "agops/agops:v1", false)
	server := push(t, host, "mcp/duckduckgo:latest", false)
	ref := host + "/mcp/duckduckgo:latest"
	m := &model.Project{HelperImage: host + "/agops/agops:v1"}
	m.Workloads = []model.Workload{{Name: "ddg", Service: "ddg", Pod: model.Pod{Containers: []model.Container{{
		Image: ref, Command: []string{"/agops-bin/agops", "mcp-bridge", "--image", ref}, Args: []string{"--note", ref},
		ReadsImage: true,
	}}}}}
	if err := Pin(context.Background(), m, Registry{Insecure: true}); err != nil {
		t.Fatal(err)
	}
	c := m.Workloads[0].Pod.Containers[0]
	if c.Image != ref+"@"+server || c.Command[3] != c.Image || c.Args[1] != ref {
		t.Errorf("pinned container: image %s, command %q, args %q", c.Image, c.Command, c.Args)
	}
}

// TestPinErrors: every image that cannot be resolved is reported, and the project is left as it was.
func TestPinErrors(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	app := push(t, host, "team/app:1.0", false)
	other := push(t, host, "team/other:1.0", false)
	m := project(host+"/team/app:1.0", host+"/team/missing:2", host+"/team/app:1.0@"+other, "UPPER/case:x")
	before := project(host+"/team/app:1.0", host+"/team/missing:2", host+"/team/app:1.0@"+other, "UPPER/case:x")
	err := Pin(context.Background(), m, Registry{Insecure: true})
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"team/missing:2", "is pinned to " + other + ", but it resolves to " + app, `"UPPER/case:x"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	if !reflect.DeepEqual(m, before) {
		t.Error("the project changed although pinning failed")
	}
}
