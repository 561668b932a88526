//go:build linux

package testbed

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/agops/agops/internal/image"
)

// Images need no registry on real nodes: an image is written as a tarball under a reference and imported into
// every node's containerd (namespace k8s.io, where the kubelet's images live). Pods use it with imagePullPolicy
// IfNotPresent or Never; a pod whose image is not loaded fails to pull (the nodes reach no registry).

// imageArchive packs a static binary at /<name> as image ref and writes it as a tarball in the cluster's folder.
func (c *Cluster) imageArchive(base, binary, ref string, args []string) (string, error) {
	img, err := image.Pack(binary, image.Spec{Path: "/" + base, Args: args, Title: base, CreatedBy: "agops testbed"})
	if err != nil {
		return "", err
	}
	return c.writeArchive(ref, img)
}

func (c *Cluster) writeArchive(ref string, img v1.Image) (string, error) {
	tag, err := name.NewTag(ref)
	if err != nil {
		return "", fmt.Errorf("image reference %q: %w", ref, err)
	}
	dir := filepath.Join(c.paths.root, "images")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	f, err := os.CreateTemp(dir, "image-*.tar")
	if err != nil {
		return "", err
	}
	f.Close()
	if err := tarball.WriteToFile(f.Name(), tag, img); err != nil {
		return "", fmt.Errorf("writing image %s: %w", ref, err)
	}
	return f.Name(), nil
}

// importArchive loads an image tarball into a node's containerd.
func (c *Cluster) importArchive(ctx context.Context, r *realNode, archive string) error {
	out, err := exec.CommandContext(ctx, "ctr", "--address", r.socket(), "-n", "k8s.io", "images", "import",
		"--no-unpack=false", archive).CombinedOutput()
	if err != nil {
		return fmt.Errorf("importing %s into %s: %w: %s", filepath.Base(archive), r.spec.Name, err,
			strings.TrimSpace(string(out)))
	}
	return nil
}

// LoadImage makes img available as ref on every live real node, as if it had been pulled. It fails on a cluster of
// simulated nodes, which run no images.
func (c *Cluster) LoadImage(ctx context.Context, ref string, img v1.Image) error {
	nodes := c.liveRealNodes()
	if len(nodes) == 0 {
		return errors.New("the cluster has no live real nodes to load images into")
	}
	archive, err := c.writeArchive(ref, img)
	if err != nil {
		return err
	}
	defer os.Remove(archive)
	for _, r := range nodes {
		if err := c.importArchive(ctx, r, archive); err != nil {
			return err
		}
	}
	return nil
}

// LoadBinary packs a static Linux binary as image ref (the binary at /<its file name>, its entrypoint followed by
// args) and loads it into every real node.
func (c *Cluster) LoadBinary(ctx context.Context, ref, binary string, args ...string) error {
	img, err := image.Pack(binary, image.Spec{Path: "/" + filepath.Base(binary), Args: args,
		Title: filepath.Base(binary), CreatedBy: "agops testbed"})
	if err != nil {
		return err
	}
	return c.LoadImage(ctx, ref, img)
}

func (c *Cluster) liveRealNodes() []*realNode {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []*realNode
	for _, spec := range c.nodes {
		if r := c.real[spec.Name]; r != nil && !r.dead {
			out = append(out, r)
		}
	}
	return out
}
