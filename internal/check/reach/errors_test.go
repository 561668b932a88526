package reach

import (
	"strings"
	"testing"
)

func policyYAML(spec string) string {
	return "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: p, namespace: back}\nspec:\n" + spec
}

func TestNewRejectsInvalidInput(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, yaml string
		opts       Options
		want       []string // every one must appear in the error
	}{
		{name: "invalid-cidr", yaml: policyYAML("  podSelector: {}\n  egress: [{to: [{ipBlock: {cidr: 10.0.0.300/8}}]}]\n"),
			want: []string{"NetworkPolicy back/p", "spec.egress[0].to[0].ipBlock.cidr"}},
		{name: "invalid-except-outside-cidr", yaml: policyYAML("  podSelector: {}\n  ingress: [{from: [{ipBlock: {cidr: 10.0.0.0/8, except: [11.0.0.0/16, 10.0.0.0/8]}}]}]\n"),
			want: []string{"spec.ingress[0].from[0].ipBlock.except[0]", "spec.ingress[0].from[0].ipBlock.except[1]", "not a strict subset"}},
		{name: "invalid-selector-operator", yaml: policyYAML("  podSelector: {matchExpressions: [{key: a, operator: Near, values: [b]}]}\n"),
			want: []string{"NetworkPolicy back/p", "spec.podSelector"}},
		{name: "invalid-selector-value", yaml: policyYAML("  podSelector: {}\n  ingress: [{from: [{namespaceSelector: {matchLabels: {a: 'b c'}}}]}]\n"),
			want: []string{"spec.ingress[0].from[0].namespaceSelector"}},
		{name: "invalid-ip-block-with-selector", yaml: policyYAML("  podSelector: {}\n  ingress: [{from: [{ipBlock: {cidr: 0.0.0.0/0}, podSelector: {}}]}]\n"),
			want: []string{"spec.ingress[0].from[0]", "may not be combined"}},
		{name: "invalid-empty-peer", yaml: policyYAML("  podSelector: {}\n  egress: [{to: [{}]}]\n"),
			want: []string{"spec.egress[0].to[0]", "needs a podSelector"}},
		{name: "invalid-end-port-with-name", yaml: policyYAML("  podSelector: {}\n  ingress: [{ports: [{port: http, endPort: 90}]}]\n"),
			want: []string{"spec.ingress[0].ports[0].endPort", "named port"}},
		{name: "invalid-end-port-below-port", yaml: policyYAML("  podSelector: {}\n  ingress: [{ports: [{port: 90, endPort: 80}]}]\n"),
			want: []string{"spec.ingress[0].ports[0]", "invalid port range 90-80"}},
		{name: "invalid-port-name", yaml: policyYAML("  podSelector: {}\n  ingress: [{ports: [{port: \"80\"}]}]\n"),
			want: []string{"spec.ingress[0].ports[0].port"}},
		{name: "invalid-protocol", yaml: policyYAML("  podSelector: {}\n  ingress: [{ports: [{port: 80, protocol: ICMP}]}]\n"),
			want: []string{"spec.ingress[0].ports[0].protocol", "ICMP"}},
		{name: "invalid-policy-type", yaml: policyYAML("  podSelector: {}\n  policyTypes: [Ingres]\n"),
			want: []string{"spec.policyTypes[0]", "Ingres"}},
		{name: "invalid-policy-shape", yaml: policyYAML("  podSelector: []\n"),
			want: []string{"NetworkPolicy back/p"}},
		{name: "invalid-container-port", yaml: deployment("back", "api", "app=api", "http:70000/TCP"),
			want: []string{"Deployment back/api", "70000/TCP"}},
		{name: "invalid-container-protocol", yaml: deployment("back", "api", "app=api", "http:80/ICMP"),
			want: []string{"Deployment back/api", "80/ICMP"}},
		{name: "invalid-workload-without-template", yaml: "apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {name: db}\nspec: {}\n",
			want: []string{"StatefulSet default/db", "no spec.template"}},
		{name: "invalid-cron-job-template", yaml: "apiVersion: batch/v1\nkind: CronJob\nmetadata: {name: c}\nspec: {jobTemplate: {spec: {template: 3}}}\n",
			want: []string{"CronJob default/c", "spec.jobTemplate.spec.template is not an object"}},
		{name: "invalid-duplicate", yaml: deployment("back", "api", "", "") + deployment("back", "api", "", ""),
			want: []string{"Deployment back/api: defined twice"}},
		{name: "invalid-everything-is-reported", yaml: deployment("back", "api", "", "x:0/TCP") + "---\n" + policyYAML("  podSelector: {}\n  policyTypes: [X]\n"),
			want: []string{"Deployment back/api", "NetworkPolicy back/p"}},
		{name: "invalid-service-port", yaml: "apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: a}\nspec: {type: LoadBalancer, ports: [{port: 0}]}\n",
			want: []string{"Service a/web", "spec.ports[0]", "invalid port 0/TCP"}},
		{name: "invalid-service-shape", yaml: "apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec: {ports: 3}\n",
			want: []string{"Service default/web"}},
		{name: "invalid-external-inside-pod-cidr", opts: Options{ExternalIP: "10.42.0.7"},
			want: []string{"external address 10.42.0.7 lies inside the cluster CIDR 10.42.0.0/16"}},
		{name: "invalid-pod-cidr", opts: Options{PodCIDR: "10.42.0.0"}, want: []string{"pod CIDR"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := decode(t, tc.yaml, tc.opts)
			if err == nil {
				t.Fatal("New accepted the input")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

func TestNewModel(t *testing.T) {
	t.Parallel()
	c := mustCluster(t, `
apiVersion: v1
kind: Pod
metadata: {name: bare, labels: {app: bare}}
spec:
  hostNetwork: true
  initContainers: [{name: init, image: x, ports: [{containerPort: 1}]}]
  containers:
  - {name: a, image: x, ports: [{containerPort: 80, name: web}, {containerPort: 53, protocol: UDP}]}
  - {name: b, image: x, ports: [{containerPort: 80, name: web}]}
---
apiVersion: batch/v1
kind: CronJob
metadata: {name: same, namespace: jobs}
spec:
  schedule: "* * * * *"
  jobTemplate: {spec: {template: {metadata: {labels: {app: cron}}, spec: {containers: [{name: c, image: x}]}}}}
---
apiVersion: batch/v1
kind: Job
metadata: {name: same, namespace: jobs}
spec: {template: {metadata: {labels: {app: job}}, spec: {containers: [{name: c, image: x}]}}}
---
apiVersion: example.com/v1
kind: Deployment
metadata: {name: not-a-workload}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: ignored}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: everything, namespace: jobs}
spec:
  podSelector: {}
  ingress: [{from: [{ipBlock: {cidr: 0.0.0.0/0, except: [10.42.0.0/15]}}]}]
  egress: [{to: [{ipBlock: {cidr: 10.0.0.0/8, except: [10.42.0.0/16]}}, {ipBlock: {cidr: 10.42.7.0/24}}]}]
`, Options{})
	var got []string
	for _, p := range c.Peers() {
		got = append(got, strings.Join(strings.Fields(p.String()+" "+p.Kind+portsString(p.Ports)), " "))
	}
	want := []string{
		"default/bare Pod 53/UDP 80/TCP:web",
		"jobs/CronJob/same CronJob",
		"jobs/Job/same Job",
		"kube-system/kube-dns 53/TCP:dns-tcp 53/UDP:dns",
		"external",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("peers:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	warnings := strings.Join(c.Warnings(), "\n")
	for _, w := range []string{
		"Pod default/bare uses the host's network",
		"NetworkPolicy jobs/everything: spec.egress[0].to[1].ipBlock 10.42.7.0/24 covers part of the pod CIDR 10.42.0.0/16",
	} {
		if !strings.Contains(warnings, w) {
			t.Errorf("warnings lack %q:\n%s", w, warnings)
		}
	}
	if n := len(c.Warnings()); n != 2 {
		t.Errorf("%d warnings, want 2 (the excepts of the ingress block and of egress[0].to[0] cover the pod CIDR):\n%s", n, warnings)
	}
	ns := c.namespaceLabels("jobs")
	if ns[nsNameLabel] != "jobs" {
		t.Errorf("namespace jobs has labels %v", ns)
	}
}

func portsString(ps []Port) string {
	var b strings.Builder
	for _, p := range ps {
		b.WriteString(" " + p.String())
		if p.Name != "" {
			b.WriteString(":" + p.Name)
		}
	}
	return b.String()
}
