package cluster

import (
	"context"
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/agops/agops/internal/kubeclient"
)

// checkRuntimeClasses lists the RuntimeClasses; an NVIDIA node needs RuntimeClass nvidia (handler nvidia).
func checkRuntimeClasses(ctx context.Context, client kubeclient.Interface, cs CheckSpec) Result {
	list, err := client.NodeV1().RuntimeClasses().List(ctx, metav1.ListOptions{})
	if err != nil {
		return Result{Fail, "runtime classes", "listing: " + err.Error()}
	}
	var present []string
	handler := map[string]string{}
	for _, rc := range list.Items {
		present = append(present, rc.Name+" (handler "+rc.Handler+")")
		handler[rc.Name] = rc.Handler
	}
	sort.Strings(present)
	have := "none"
	if len(present) > 0 {
		have = strings.Join(present, ", ")
	}
	for _, k := range cs.Accelerators {
		if k == NVIDIA && handler["nvidia"] != "nvidia" {
			return Result{Fail, "runtime classes", "NVIDIA nodes expected but no RuntimeClass nvidia with handler nvidia; present: " + have}
		}
	}
	return Result{OK, "runtime classes", have}
}

// checkImages looks at every running container's image: with a mirror, each must come from it or be pinned by
// digest. Registry configuration on the nodes is not visible through the API; the last line says so.
func checkImages(ctx context.Context, client kubeclient.Interface, mirror string) []Result {
	pods, err := client.CoreV1().Pods(metav1.NamespaceAll).List(ctx, metav1.ListOptions{FieldSelector: "status.phase=Running"})
	if err != nil {
		return []Result{{Fail, "images", "listing pods: " + err.Error()}}
	}
	prefix := ""
	if mirror != "" {
		prefix = mirrorRef(mirror) + "/"
	}
	total, pinned, fromMirror, bad := countImages(pods.Items, prefix)
	note := Result{Info, "registry mirror", "not visible through the API: each node's registries.yaml (k3s) or machine.registries (Talos), " +
		"and whether containerd may fall back to the public registry; check them on the nodes"}
	detail := fmt.Sprintf("%d running containers: %d pinned by digest", total, pinned)
	if mirror == "" {
		return []Result{{Info, "images", detail + " (pass --registry-mirror to require the mirror or a digest)"}, note}
	}
	detail += fmt.Sprintf(", %d from %s", fromMirror, mirrorRef(mirror))
	if len(bad) > 0 {
		return []Result{{Fail, "images", detail + "; neither: " + strings.Join(limit(bad, 5), ", ")}, note}
	}
	return []Result{{OK, "images", detail}, note}
}

// countImages counts running containers, those pinned by digest, those from the mirror prefix, and lists the
// pod/container=image of the others (when a prefix is given).
func countImages(pods []corev1.Pod, prefix string) (total, pinned, fromMirror int, bad []string) {
	for _, p := range pods {
		for _, c := range append(append([]corev1.Container(nil), p.Spec.InitContainers...), p.Spec.Containers...) {
			total++
			switch {
			case strings.Contains(c.Image, "@sha256:"):
				pinned++
			case prefix != "" && strings.HasPrefix(c.Image, prefix):
				fromMirror++
			case prefix != "":
				bad = append(bad, fmt.Sprintf("%s/%s %s=%s", p.Namespace, p.Name, c.Name, c.Image))
			}
		}
	}
	sort.Strings(bad)
	return total, pinned, fromMirror, bad
}

func limit(s []string, n int) []string {
	if len(s) <= n {
		return s
	}
	return append(s[:n:n], fmt.Sprintf("and %d more", len(s)-n))
}
