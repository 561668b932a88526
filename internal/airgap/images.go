package airgap

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/agops/agops/internal/kube"
	"github.com/agops/agops/internal/migrate"
)

// containerFields are the pod spec's lists of containers.
var containerFields = []string{"initContainers", "containers", "ephemeralContainers"}

// Images lists every container, init container and ephemeral container image of every pod template in objs
// (Pods, Deployments, StatefulSets, DaemonSets, ReplicaSets, Jobs, CronJobs), sorted and without duplicates.
func Images(objs []*unstructured.Unstructured) []string {
	var out []string
	for _, u := range objs {
		path, ok := kube.PodSpecPath(u.GetKind())
		if !ok {
			continue
		}
		spec, _, _ := unstructured.NestedMap(u.Object, path...)
		out = append(out, specImages(spec)...)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// specImages are the images of one pod spec.
func specImages(spec map[string]any) []string {
	var out []string
	for _, field := range containerFields {
		list, _, _ := unstructured.NestedSlice(spec, field)
		for _, c := range list {
			m, _ := c.(map[string]any)
			if img, _ := m["image"].(string); img != "" {
				out = append(out, img)
			}
			if ref := modelArtifact(m); ref != "" {
				out = append(out, ref)
			}
		}
	}
	return out
}

// modelArtifact is the model a container pulls the weights of (`agops model pull MODEL`, migrate's init container in
// front of a model server): its OCI artifact is bundled like an image.
func modelArtifact(c map[string]any) string {
	args, _, _ := unstructured.NestedStringSlice(c, "args")
	if len(args) >= 3 && args[0] == "model" && args[1] == "pull" && !strings.HasPrefix(args[2], "-") {
		return args[2]
	}
	return ""
}

// Source says where the images to bundle come from: an agops output folder, or a Compose project migrated in
// memory, plus extra references.
type Source struct {
	// Folder is an agops output folder (its ha overlay is built), a kustomization folder or a YAML file.
	Folder string
	// Compose, when not nil, is migrated in memory (ha overlay); its Format, Overlay, Out and Stdout are ignored.
	Compose *migrate.Options
	// Extra are more references (--image), such as device plugins.
	Extra []string
}

// List returns the sorted, deduplicated images of s.
func List(ctx context.Context, s Source) ([]string, error) {
	if s.Folder != "" && s.Compose != nil {
		return nil, errors.New("images come from an output folder or a Compose project, not both")
	}
	var objs []*unstructured.Unstructured
	var err error
	switch {
	case s.Folder != "":
		objs, err = kube.Load(s.Folder, "ha")
	case s.Compose != nil:
		objs, err = migrated(ctx, *s.Compose)
	}
	if err != nil {
		return nil, err
	}
	out := append(Images(objs), s.Extra...)
	slices.Sort(out)
	return slices.Compact(out), nil
}

// migrated migrates a Compose project in memory and returns its ha overlay's objects.
func migrated(ctx context.Context, o migrate.Options) ([]*unstructured.Unstructured, error) {
	var buf bytes.Buffer
	o.Format, o.Overlay, o.Out, o.Stdout = migrate.FormatYAML, "ha", "", &buf
	if _, err := migrate.Run(ctx, o); err != nil {
		return nil, err
	}
	objs, err := kube.Decode(buf.Bytes())
	if err != nil {
		return nil, fmt.Errorf("reading the migrated manifests: %w", err)
	}
	return objs, nil
}
