package reach

import (
	"strings"
	"testing"
)

// TestIPBlocksMatchPods checks which ipBlocks admit pods: those that hold some address of the pod CIDR once their
// excepts are removed, as kube-router and Calico match them.
func TestIPBlocksMatchPods(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, block string
		opts        Options
		pods, out   bool   // whether worker may reach db (a pod) and the outside world
		warning     string // a warning the block must raise; none when empty
	}{
		{"valid-everything", "{cidr: 0.0.0.0/0}", Options{}, true, true, ""},
		{"valid-except-pod-cidr", "{cidr: 0.0.0.0/0, except: [10.42.0.0/16]}", Options{}, false, true, ""},
		{"valid-except-wider", "{cidr: 0.0.0.0/0, except: [10.0.0.0/8]}", Options{}, false, true, ""},
		{"valid-pod-cidr-itself", "{cidr: 10.42.0.0/16}", Options{}, true, false, ""},
		{"valid-part-of-pod-cidr", "{cidr: 10.42.3.0/24}", Options{}, true, false, "covers part of the pod CIDR"},
		{"valid-except-part", "{cidr: 0.0.0.0/0, except: [10.42.3.0/24]}", Options{}, true, true, "covers part of the pod CIDR"},
		{"valid-private-except-pods", "{cidr: 10.0.0.0/8, except: [10.42.0.0/16]}", Options{}, false, false, ""},
		{"valid-other-pod-cidr", "{cidr: 0.0.0.0/0, except: [10.42.0.0/16]}", Options{PodCIDR: "10.244.0.0/16"}, true, true, ""},
		{"valid-ipv6-block", "{cidr: '::/0'}", Options{}, false, false, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := mustCluster(t, world+"---\n"+policyYAML("  podSelector: {matchLabels: {app: worker}}\n"+
				"  policyTypes: [Egress]\n  egress: [{to: [{ipBlock: "+tc.block+"}]}]\n"), tc.opts)
			worker := peerByID(t, c, "back/worker")
			for _, ck := range []struct {
				dst  string
				want bool
			}{{"back/db", tc.pods}, {dns, tc.pods}, {"external", tc.out}} {
				if got, why := c.Allowed(worker, peerByID(t, c, ck.dst), 5432, "TCP"); got != ck.want {
					t.Errorf("%s: worker -> %s allowed %v, want %v (%s)", tc.block, ck.dst, got, ck.want, why)
				}
			}
			warnings := strings.Join(c.Warnings(), "\n")
			if tc.warning == "" && warnings != "" || !strings.Contains(warnings, tc.warning) {
				t.Errorf("%s: warnings %q, want %q", tc.block, warnings, tc.warning)
			}
		})
	}
}

// published is a web pod publishing port 3000 through a LoadBalancer Service, an agent in another tier that shares
// no network with it, and the default deny of the web tier; the case adds the ingress rule of the published port.
func published(from string) string {
	return namespace("lab-web", "") + namespace("lab-ai", "") +
		deployment("lab-web", "web", "app=web", "tcp-3000:3000/TCP") +
		deployment("lab-ai", "agent", "app=agent", "") + `---
apiVersion: v1
kind: Service
metadata: {name: web-public, namespace: lab-web}
spec:
  type: LoadBalancer
  selector: {app: web}
  ports: [{name: tcp-80, port: 80, targetPort: 3000}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny, namespace: lab-web}
spec:
  podSelector: {}
  policyTypes: [Ingress, Egress]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web, namespace: lab-web}
spec:
  podSelector: {matchLabels: {app: web}}
  policyTypes: [Ingress]
  ingress: [{from: [` + from + `], ports: [{port: 3000}]}]
`
}

const svclbPeer = `{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: kube-system}}, podSelector: {matchLabels: {svccontroller.k3s.cattle.io/svcname: web-public, svccontroller.k3s.cattle.io/svcnamespace: lab-web}}}`

// TestPublishedPortSources attacks the ingress rule of a published port: the rule agops wrote before (0.0.0.0/0)
// lets the agent open web:3000, the rule it writes now (ServiceLB's pods, outside addresses less the pod CIDR) lets
// only the load balancer through.
func TestPublishedPortSources(t *testing.T) {
	t.Parallel()
	const svclb = "kube-system/svclb-web-public"
	cases := []struct {
		name, from string
		agent      bool // agent -> web:3000
		lb         bool // ServiceLB -> web:3000
		direct     bool // the outside world -> web:3000, without the load balancer
	}{
		{"invalid-everything", "{ipBlock: {cidr: 0.0.0.0/0}}", true, true, true},
		{"valid-servicelb", svclbPeer, false, true, false},
		{"valid-servicelb-and-outside-less-cluster", svclbPeer + ", {ipBlock: {cidr: 0.0.0.0/0, except: [10.42.0.0/16, 10.43.0.0/16]}}", false, true, true},
		{"valid-other-service", strings.Replace(svclbPeer, "svcname: web-public", "svcname: other", 1), false, false, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := mustCluster(t, published(tc.from), Options{})
			web := peerByID(t, c, "lab-web/web")
			for _, ck := range []struct {
				src  string
				want bool
			}{{"lab-ai/agent", tc.agent}, {svclb, tc.lb}, {"external", tc.direct}} {
				if got, why := c.Allowed(peerByID(t, c, ck.src), web, 3000, "TCP"); got != ck.want {
					t.Errorf("%s -> web:3000 allowed %v, want %v (%s)", ck.src, got, ck.want, why)
				}
			}
			if ok, why := c.Allowed(peerByID(t, c, "external"), peerByID(t, c, svclb), 80, "TCP"); !ok {
				t.Errorf("the outside world cannot reach the load balancer: %s", why)
			}
		})
	}
}

// TestServiceLBPeers checks which Services add ServiceLB peers and how they are named.
func TestServiceLBPeers(t *testing.T) {
	t.Parallel()
	svc := func(ns, name, typ, extra string) string {
		return "---\napiVersion: v1\nkind: Service\nmetadata: {name: " + name + ", namespace: " + ns + "}\nspec:\n  type: " + typ +
			"\n  ports: [{port: 80}, {port: 53, protocol: UDP}, {port: 80}]\n" + extra
	}
	cases := []struct {
		name, yaml string
		opts       Options
		want       []string // ServiceLB peers with their ports
	}{
		{"valid-load-balancer", svc("a", "web", "LoadBalancer", ""), Options{},
			[]string{"kube-system/svclb-web 53/UDP:lb-udp-53 80/TCP:lb-tcp-80"}},
		{"valid-cluster-ip", svc("a", "web", "ClusterIP", ""), Options{}, nil},
		{"valid-load-balancer-class", svc("a", "web", "LoadBalancer", "  loadBalancerClass: metallb.io/metallb\n"), Options{}, nil},
		{"valid-no-servicelb", svc("a", "web", "LoadBalancer", ""), Options{NoServiceLB: true}, nil},
		{"valid-same-name-two-namespaces", svc("a", "web", "LoadBalancer", "") + svc("b", "web", "LoadBalancer", ""), Options{},
			[]string{"kube-system/svclb-web.a 53/UDP:lb-udp-53 80/TCP:lb-tcp-80", "kube-system/svclb-web.b 53/UDP:lb-udp-53 80/TCP:lb-tcp-80"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := mustCluster(t, tc.yaml, tc.opts)
			var got []string
			for _, p := range c.Peers() {
				if p.Kind == serviceLBKind {
					got = append(got, p.String()+portsString(p.Ports))
				}
			}
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("ServiceLB peers:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}
