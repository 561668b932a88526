package rehearse

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/agops/agops/internal/kube"
	"github.com/agops/agops/internal/kubeclient"
	"github.com/agops/agops/internal/plan"
)

// migrate writes no secret values (they stay in the user's files); on a cluster the user creates those Secrets. A
// rehearsal on nodes that run containers cannot start pods that mount or import a Secret that does not exist, so it
// creates each missing Secret the manifests reference with random placeholder values under the keys they use. No
// value of the user's reaches the test bed.

// knownKeys are the keys of Secrets agops itself asks for, which are mounted whole (so the manifests name no key).
var knownKeys = map[string][]string{plan.GatewayAdminSecret: {"approvers", "peer-token"}}

// placeholderSecrets lists the Secrets objs reference and do not define, with the keys they read.
func placeholderSecrets(objs []*unstructured.Unstructured) ([]*corev1.Secret, error) {
	defined := map[string]bool{}
	keys := map[[2]string][]string{}
	var order [][2]string
	use := func(ns, name string, key ...string) {
		id := [2]string{ns, name}
		if _, ok := keys[id]; !ok {
			order = append(order, id)
			keys[id] = []string{}
		}
		for _, k := range key {
			if k != "" && !slices.Contains(keys[id], k) {
				keys[id] = append(keys[id], k)
			}
		}
	}
	for _, u := range objs {
		if u.GetKind() == "Secret" {
			defined[u.GetNamespace()+"/"+u.GetName()] = true
			continue
		}
		spec, ok, err := podSpecOf(u)
		if err != nil {
			return nil, err
		}
		if !ok {
			continue
		}
		ns := u.GetNamespace()
		for _, v := range spec.Volumes {
			if s := v.Secret; s != nil && (s.Optional == nil || !*s.Optional) {
				use(ns, s.SecretName)
				for _, it := range s.Items {
					use(ns, s.SecretName, it.Key)
				}
			}
			if p := v.Projected; p != nil {
				for _, src := range p.Sources {
					if s := src.Secret; s != nil && (s.Optional == nil || !*s.Optional) {
						use(ns, s.Name)
						for _, it := range s.Items {
							use(ns, s.Name, it.Key)
						}
					}
				}
			}
		}
		for _, c := range append(append([]corev1.Container{}, spec.InitContainers...), spec.Containers...) {
			for _, e := range c.EnvFrom {
				if s := e.SecretRef; s != nil && (s.Optional == nil || !*s.Optional) {
					use(ns, s.Name)
				}
			}
			for _, e := range c.Env {
				if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
					if s := e.ValueFrom.SecretKeyRef; s.Optional == nil || !*s.Optional {
						use(ns, s.Name, s.Key)
					}
				}
			}
		}
	}
	var out []*corev1.Secret
	for _, id := range order {
		if defined[id[0]+"/"+id[1]] {
			continue
		}
		s := &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: id[1], Namespace: id[0],
				Labels: map[string]string{"agops.dev/rehearse": "placeholder"}},
			StringData: map[string]string{},
		}
		for _, k := range append(keys[id], knownKeys[id[1]]...) {
			v, err := placeholder()
			if err != nil {
				return nil, err
			}
			if id[1] == plan.GatewayAdminSecret && k == "approvers" {
				v = "approver-" + v + " rehearsal\n" // lines of "TOKEN IDENTITY"
			}
			s.StringData[k] = v
		}
		out = append(out, s)
	}
	return out, nil
}

func placeholder() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}

// podSpecOf reads the pod template of a workload, or a Pod's spec.
func podSpecOf(u *unstructured.Unstructured) (corev1.PodSpec, bool, error) {
	path, ok := kube.PodSpecPath(u.GetKind())
	if !ok {
		return corev1.PodSpec{}, false, nil
	}
	m, found, err := unstructured.NestedMap(u.Object, path...)
	if err != nil || !found {
		return corev1.PodSpec{}, false, err
	}
	var spec corev1.PodSpec
	if err := fromUnstructured(&unstructured.Unstructured{Object: m}, &spec); err != nil {
		return corev1.PodSpec{}, false, fmt.Errorf("%s %s: %w", u.GetKind(), u.GetName(), err)
	}
	return spec, true, nil
}

// createPlaceholders creates the missing Secrets (their namespaces exist once objs are applied).
func createPlaceholders(ctx context.Context, cs kubeclient.Interface, secrets []*corev1.Secret) error {
	for _, s := range secrets {
		if _, err := cs.CoreV1().Secrets(s.Namespace).Create(ctx, s, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("creating placeholder Secret %s/%s: %w", s.Namespace, s.Name, err)
		}
	}
	return nil
}

// CreatePlaceholderSecrets creates, with random values, every Secret objs reference and do not define (what a
// rehearsal on real nodes does before the pods can start), and returns how many it created.
func CreatePlaceholderSecrets(ctx context.Context, cs kubeclient.Interface, objs []*unstructured.Unstructured) (int, error) {
	secrets, err := placeholderSecrets(objs)
	if err != nil {
		return 0, err
	}
	return len(secrets), createPlaceholders(ctx, cs, secrets)
}
