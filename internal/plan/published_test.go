package plan_test

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/agops/agops/internal/model"
	"github.com/agops/agops/internal/plan"
)

// labProject is the red team's project: web publishes 3000 on the frontend network, agent-worker is on the backend
// network only, so Compose gave the two no path.
func labProject() project {
	return project{"name": "lab", "services": map[string]any{
		"web":          map[string]any{"image": "example/web:1", "ports": []string{"3000:3000"}, "networks": []string{"frontend"}},
		"agent-worker": map[string]any{"image": "example/agent:1", "networks": []string{"backend"}},
	}, "networks": map[string]any{"frontend": map[string]any{}, "backend": map[string]any{}}}
}

// publishedRule is the ingress rule of web's policy that names its published port.
func publishedRule(t *testing.T, m *model.Project) model.TrafficRule {
	t.Helper()
	pol := policy(t, m, workload(t, m, "web").Namespace, "web")
	for _, r := range pol.Ingress {
		if slices.Contains(r.Ports, model.PolicyPort{Port: 3000, Protocol: model.TCP}) {
			return r
		}
	}
	t.Fatalf("web's policy has no rule for its published port: %+v", pol.Ingress)
	return model.TrafficRule{}
}

func describePeer(p model.Peer) string {
	if p.CIDR != "" {
		return p.CIDR + " except " + strings.Join(p.Except, " ")
	}
	var kv []string
	for _, k := range slices.Sorted(maps.Keys(p.Labels)) {
		kv = append(kv, k+"="+p.Labels[k])
	}
	return fmt.Sprintf("pods %s:%s", p.Namespace, strings.Join(kv, ","))
}

func TestPublishedPortSources(t *testing.T) {
	t.Parallel()
	svclb := "pods kube-system:svccontroller.k3s.cattle.io/svcname=web-public,svccontroller.k3s.cattle.io/svcnamespace=lab-web"
	cases := []struct {
		name     string
		set      func(*plan.Options)
		want     []string // the rule's peers
		security string   // a security decision's reason must hold this; none when empty
	}{
		{"valid-k3s-default", func(*plan.Options) {}, []string{svclb}, ""},
		{"valid-lb-pods", func(o *plan.Options) {
			o.LBPods = []string{"ingress-nginx:app.kubernetes.io/name=ingress-nginx", "metallb-system"}
		}, []string{svclb, "pods ingress-nginx:app.kubernetes.io/name=ingress-nginx", "pods metallb-system:"}, ""},
		{"valid-client-addresses-less-cluster-ranges", func(o *plan.Options) { o.LBSources = []string{"0.0.0.0/0"} },
			[]string{svclb, "0.0.0.0/0 except 10.42.0.0/16 10.43.0.0/16"}, ""},
		{"valid-node-cidr", func(o *plan.Options) { o.NodeCIDRs = []string{"192.168.1.0/24"} },
			[]string{svclb, "192.168.1.0/24 except "}, ""},
		{"valid-other-cluster-ranges", func(o *plan.Options) {
			o.PodCIDR, o.ServiceCIDR, o.NodeCIDRs = "10.244.0.0/16", "10.96.0.0/12", []string{"10.0.0.0/8"}
		}, []string{svclb, "10.0.0.0/8 except 10.244.0.0/16 10.96.0.0/12"}, ""},
		{"valid-source-inside-pod-cidr", func(o *plan.Options) { o.NodeCIDRs = []string{"10.42.0.0/32"} },
			[]string{svclb, "10.42.0.0/32 except "}, "source range 10.42.0.0/32 lies inside the pod CIDR"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			o := plan.DefaultOptions()
			tc.set(&o)
			m := planOf(t, labProject(), nil, o)
			var got []string
			for _, p := range publishedRule(t, m).Peers {
				got = append(got, describePeer(p))
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("web's published port admits\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(tc.want, "\n  "))
			}
			var security []string
			for _, d := range decisionsFor(m, "", "ports") {
				if d.Security {
					security = append(security, d.Reason)
				}
			}
			if (tc.security == "") != (len(security) == 0) || !strings.Contains(strings.Join(security, "\n"), tc.security) {
				t.Errorf("security decisions %q, want one holding %q", security, tc.security)
			}
		})
	}
}

// TestPublishedPortDecisions checks that the report says what a published port admits and what to set for another
// load balancer, and that a project publishing nothing gets no such decision.
func TestPublishedPortDecisions(t *testing.T) {
	t.Parallel()
	m := planOf(t, labProject(), nil, plan.DefaultOptions())
	ds := decisionsFor(m, "", "ports")
	if len(ds) != 1 || !strings.Contains(ds[0].Reason, "k3s ServiceLB's pods") || !strings.Contains(ds[0].Hint, "--lb-source") {
		t.Errorf("project ports decisions %+v, want one naming ServiceLB with a hint for other load balancers", ds)
	}
	if n := decisionsFor(m, "web", "networks"); len(n) != 1 || !strings.Contains(n[0].Reason, "3000/TCP from the load balancer") {
		t.Errorf("web networks decision %+v, want it to name the load balancer as the source of 3000/TCP", n)
	}
	quiet := labProject()
	delete(quiet["services"].(map[string]any)["web"].(map[string]any), "ports")
	if ds := decisionsFor(planOf(t, quiet, nil, plan.DefaultOptions()), "", "ports"); len(ds) != 0 {
		t.Errorf("a project that publishes nothing got %+v", ds)
	}
}

func TestPublishedOptionsRefused(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		set  func(*plan.Options)
		want []string
	}{
		{"invalid-lb-pods-namespace", func(o *plan.Options) { o.LBPods = []string{"Ingress_NGINX"} }, []string{"--lb-pods Ingress_NGINX", "not a DNS label"}},
		{"invalid-lb-pods-selector", func(o *plan.Options) { o.LBPods = []string{"ingress:app"} }, []string{"--lb-pods ingress:app", "NAMESPACE:KEY=VALUE"}},
		{"invalid-lb-pods-label", func(o *plan.Options) { o.LBPods = []string{"ingress:app=a b"} }, []string{`"app=a b" is not a valid label`}},
		{"invalid-lb-pods-empty-namespace", func(o *plan.Options) { o.LBPods = []string{":app=x"} }, []string{"not a DNS label"}},
		{"invalid-lb-source", func(o *plan.Options) { o.LBSources = []string{"203.0.113.7"} }, []string{"--lb-source 203.0.113.7", "want a CIDR"}},
		{"invalid-node-cidr-host-bits", func(o *plan.Options) { o.NodeCIDRs = []string{"192.168.1.7/24"} }, []string{"--node-cidr 192.168.1.7/24"}},
		{"invalid-all-reported", func(o *plan.Options) { o.LBSources, o.NodeCIDRs = []string{"x"}, []string{"y"} }, []string{"--lb-source x", "--node-cidr y"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			o := plan.DefaultOptions()
			tc.set(&o)
			_, err := plan.Plan(load(t, write(t, labProject(), nil)), o)
			for _, w := range tc.want {
				if err == nil || !strings.Contains(err.Error(), w) {
					t.Errorf("Plan error %v, want it to hold %q", err, w)
				}
			}
		})
	}
}

func TestParseLBPods(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in, ns string
		labels map[string]string
		ok     bool
	}{
		{"kube-system", "kube-system", nil, true},
		{"ingress:app.kubernetes.io/name=ingress-nginx,component=controller", "ingress",
			map[string]string{"app.kubernetes.io/name": "ingress-nginx", "component": "controller"}, true},
		{"ns:k=", "ns", map[string]string{"k": ""}, true},
		{"ns:", "", nil, false},
		{"ns:/k=v", "", nil, false},
		{"ns:-k=v", "", nil, false},
		{"ns:k=v-", "", nil, false},
		{"", "", nil, false},
	} {
		ns, labels, err := plan.ParseLBPods(tc.in)
		if (err == nil) != tc.ok || ns != tc.ns || !maps.Equal(labels, tc.labels) {
			t.Errorf("ParseLBPods(%q) = %q, %v, %v", tc.in, ns, labels, err)
		}
	}
}

// TestEgressAllowExceptsClusterRanges: an --egress-allow range that holds the cluster's ranges must not let the pod
// open every pod of the cluster (network plugins match pod addresses by ipBlock).
func TestEgressAllowExceptsClusterRanges(t *testing.T) {
	t.Parallel()
	o := plan.DefaultOptions()
	o.EgressAllow = []string{"0.0.0.0/0:443", "203.0.113.0/24"}
	m := planOf(t, labProject(), nil, o)
	pol := policy(t, m, workload(t, m, "agent-worker").Namespace, "agent-worker")
	got := map[string][]string{}
	for _, r := range pol.Egress {
		for _, p := range r.Peers {
			if p.CIDR != "" {
				got[p.CIDR] = p.Except
			}
		}
	}
	if ex := got["0.0.0.0/0"]; !slices.Equal(ex, []string{"10.42.0.0/16", "10.43.0.0/16"}) {
		t.Errorf("egress to 0.0.0.0/0 excepts %v, want the pod and Service CIDRs", ex)
	}
	if ex, ok := got["203.0.113.0/24"]; !ok || len(ex) != 0 {
		t.Errorf("egress to 203.0.113.0/24 excepts %v (present %v), want nothing to except", ex, ok)
	}
}
