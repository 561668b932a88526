package rehearse

import (
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/agops/agops/internal/kube"
	"github.com/agops/agops/internal/plan"
)

const referencing = `
apiVersion: apps/v1
kind: Deployment
metadata: {name: app, namespace: shop}
spec:
  selector: {matchLabels: {app: app}}
  template:
    metadata: {labels: {app: app}}
    spec:
      containers:
      - name: app
        image: example/app:1
        envFrom: [{secretRef: {name: app-env}}, {secretRef: {name: maybe, optional: true}}]
        env: [{name: PW, valueFrom: {secretKeyRef: {name: db-password, key: password}}}]
      volumes:
      - {name: s, secret: {secretName: db-password, items: [{key: password, path: pw}]}}
      - {name: admin, secret: {secretName: agops-gateway-admin}}
      - {name: given, secret: {secretName: defined}}
---
apiVersion: v1
kind: Secret
metadata: {name: defined, namespace: shop}
stringData: {k: v}
`

func TestPlaceholderSecretsCoverWhatPodsRead(t *testing.T) {
	t.Parallel()
	objs, err := kube.Decode([]byte(referencing))
	if err != nil {
		t.Fatal(err)
	}
	secrets, err := placeholderSecrets(objs)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][]string{}
	for _, s := range secrets {
		var keys []string
		for k, v := range s.StringData {
			keys = append(keys, k)
			if len(v) < 16 {
				t.Errorf("%s/%s %s = %q: want a random placeholder", s.Namespace, s.Name, k, v)
			}
		}
		slices.Sort(keys)
		got[s.Namespace+"/"+s.Name] = keys
	}
	want := map[string][]string{
		"shop/app-env":                    nil,
		"shop/db-password":                {"password"},
		"shop/" + plan.GatewayAdminSecret: {"approvers", "peer-token"},
	}
	if len(got) != len(want) {
		t.Fatalf("placeholders %v, want %v (optional and defined Secrets left out)", got, want)
	}
	for name, keys := range want {
		if k, ok := got[name]; !ok || !slices.Equal(k, keys) {
			t.Errorf("%s: keys %v, want %v", name, k, keys)
		}
	}
	for _, s := range secrets {
		if s.Name == plan.GatewayAdminSecret && !strings.HasSuffix(s.StringData["approvers"], " rehearsal\n") {
			t.Errorf("approvers %q: want a TOKEN IDENTITY line", s.StringData["approvers"])
		}
	}
}

func TestTrafficPoliciesAdmitOnlyTheClient(t *testing.T) {
	t.Parallel()
	target := map[string]string{"app": "api"}
	ps := trafficPolicies(target, intstr.FromString("http"), 80)
	if len(ps) != 2 {
		t.Fatalf("%d policies", len(ps))
	}
	in, out := ps[0], ps[1]
	if in.Spec.PodSelector.MatchLabels["app"] != "api" || len(in.Spec.Egress) != 0 || len(in.Spec.Ingress) != 1 ||
		in.Spec.Ingress[0].From[0].PodSelector.MatchLabels[trafficLabel] != "traffic" || in.Spec.Ingress[0].Ports[0].Port.StrVal != "http" {
		t.Errorf("ingress policy %+v: want the target's pods taking the client's connections on its port", in.Spec)
	}
	if out.Spec.PodSelector.MatchLabels[trafficLabel] != "traffic" || len(out.Spec.Ingress) != 0 ||
		out.Spec.Egress[0].To[0].PodSelector.MatchLabels["app"] != "api" {
		t.Errorf("egress policy %+v: want only the client allowed out, to the target", out.Spec)
	}
	for _, p := range ps {
		if p.Labels["app.kubernetes.io/managed-by"] != "agops" {
			t.Errorf("%s: not labelled as agops's own; the project's guard refuses it", p.Name)
		}
	}
}
