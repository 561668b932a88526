package reach

import (
	"strings"
	"testing"
)

// world is the cluster every semantics case adds its policies to.
var world = namespace("front", "tier=front") + namespace("back", "tier=back") +
	deployment("front", "web", "app=web", "http:8080/TCP") +
	deployment("front", "admin", "app=admin,role=ops", "") +
	deployment("back", "api", "app=api", "http:8000/TCP,metrics:9090/TCP") +
	deployment("back", "db", "app=db", "pg:5432/TCP") +
	deployment("back", "worker", "app=worker", "") +
	deployment("back", "fakeweb", "app=web", "") + // app=web, but in the wrong namespace
	deployment("other", "lone", "app=lone", "dns:53/UDP,web:80/TCP") // a namespace without a Namespace object

// check is one expected verdict; reason, when set, must appear in the Reason's text.
type check struct {
	src, dst string
	port     int32
	proto    string
	want     bool
	reason   string
}

const dns = "kube-system/kube-dns"

// twoWay is a policy isolating both directions whose rules admit pods it selects; oneWay is the same split into one
// policy per direction.
const (
	twoWay = `
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: both, namespace: back}
spec:
  podSelector: {matchExpressions: [{key: app, operator: In, values: [api, db, worker]}]}
  policyTypes: [Ingress, Egress]
  ingress:
  - from: [{podSelector: {matchLabels: {app: worker}}}]
    ports: [{port: 8000}]
  egress:
  - to: [{podSelector: {matchLabels: {app: db}}}]
`
	oneWay = `
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: both-ingress, namespace: back}
spec:
  podSelector: {matchExpressions: [{key: app, operator: In, values: [api, db, worker]}]}
  policyTypes: [Ingress]
  ingress:
  - from: [{podSelector: {matchLabels: {app: worker}}}]
    ports: [{port: 8000}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: both-egress, namespace: back}
spec:
  podSelector: {matchExpressions: [{key: app, operator: In, values: [api, db, worker]}]}
  policyTypes: [Egress]
  egress:
  - to: [{podSelector: {matchLabels: {app: db}}}]
`
)

func TestAllowedSemantics(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		policies string
		opts     Options
		checks   []check
	}{
		{name: "valid-no-policies", checks: []check{
			{"front/web", "back/api", 8000, "TCP", true, "egress: not isolated; ingress: not isolated"},
			{"back/api", "external", 443, "TCP", true, ""},
			{"external", "back/db", 5432, "TCP", true, ""},
			{"back/db", "back/db", 9999, "UDP", true, ""},
		}},
		{name: "valid-default-deny-ingress-and-egress", policies: `
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny-all, namespace: back}
spec:
  podSelector: {}
  policyTypes: [Ingress, Egress]
`, checks: []check{
			{"front/web", "back/api", 8000, "TCP", false, "ingress: denied, isolated by back/deny-all and no rule admits it"},
			{"back/api", "back/db", 5432, "TCP", false, "egress: denied, isolated by back/deny-all"},
			{"back/api", "external", 443, "TCP", false, ""},
			{"back/api", dns, 53, "UDP", false, ""},
			{"external", "back/api", 8000, "TCP", false, ""},
			{"front/web", "external", 443, "TCP", true, ""},
			{"front/web", "front/admin", 1, "SCTP", true, ""},
		}},
		{name: "valid-dns-egress-to-kube-dns-only", policies: `
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: dns-only, namespace: back}
spec:
  podSelector: {}
  policyTypes: [Egress]
  egress:
  - to:
    - namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: kube-system}}
      podSelector: {matchLabels: {k8s-app: kube-dns}}
    ports: [{port: 53, protocol: UDP}, {port: 53, protocol: TCP}]
`, checks: []check{
			{"back/api", dns, 53, "UDP", true, "egress: allowed by back/dns-only egress[0]"},
			{"back/api", dns, 53, "TCP", true, ""},
			{"back/api", dns, 54, "UDP", false, ""},
			{"back/api", "back/db", 5432, "TCP", false, ""},
			{"back/api", "other/lone", 53, "UDP", false, ""},
			{"back/api", "external", 53, "UDP", false, ""},
			{"front/web", dns, 53, "UDP", true, ""},
			{"front/web", "back/api", 8000, "TCP", true, ""}, // egress only: ingress stays open
		}},
		{name: "valid-cross-namespace-namespace-and-pod-selector", policies: `
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: api-from-web, namespace: back}
spec:
  podSelector: {matchLabels: {app: api}}
  ingress:
  - from:
    - namespaceSelector: {matchLabels: {tier: front}}
      podSelector: {matchLabels: {app: web}}
    ports: [{port: 8000}]
`, checks: []check{
			{"front/web", "back/api", 8000, "TCP", true, "back/api-from-web ingress[0]"},
			{"front/web", "back/api", 9090, "TCP", false, ""},
			{"front/web", "back/api", 8000, "UDP", false, ""},
			{"front/admin", "back/api", 8000, "TCP", false, ""},  // right namespace, wrong pod
			{"back/fakeweb", "back/api", 8000, "TCP", false, ""}, // right pod labels, wrong namespace
			{"external", "back/api", 8000, "TCP", false, ""},
			{"front/web", "back/db", 5432, "TCP", true, ""}, // db is not selected
		}},
		{name: "valid-pod-selector-alone-means-the-policy-namespace", policies: `
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: api-from-web-label, namespace: back}
spec:
  podSelector: {matchLabels: {app: api}}
  ingress:
  - from: [{podSelector: {matchLabels: {app: web}}}]
`, checks: []check{
			{"back/fakeweb", "back/api", 8000, "TCP", true, ""},
			{"front/web", "back/api", 8000, "TCP", false, ""},
		}},
		{name: "valid-separate-peers-are-ored", policies: `
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: api-from-some, namespace: back}
spec:
  podSelector: {matchLabels: {app: api}}
  ingress:
  - from:
    - namespaceSelector: {matchLabels: {tier: front}}
    - podSelector: {matchLabels: {app: worker}}
`, checks: []check{
			{"front/admin", "back/api", 8000, "TCP", true, ""},
			{"front/web", "back/api", 12345, "UDP", true, ""},
			{"back/worker", "back/api", 9090, "TCP", true, ""},
			{"back/db", "back/api", 8000, "TCP", false, ""},
			{"other/lone", "back/api", 8000, "TCP", false, ""},
		}},
		{name: "valid-named-ports-resolve-against-the-destination", policies: `
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: api-http, namespace: back}
spec:
  podSelector: {matchLabels: {app: api}}
  ingress:
  - ports: [{port: http}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web-out-http, namespace: front}
spec:
  podSelector: {matchLabels: {app: web}}
  policyTypes: [Egress]
  egress:
  - to: [{namespaceSelector: {}}]
    ports: [{port: http}, {port: dns, protocol: TCP}]
`, checks: []check{
			{"front/web", "back/api", 8000, "TCP", true, "front/web-out-http egress[0]"},
			{"front/web", "back/api", 9090, "TCP", false, ""},
			{"front/web", "back/api", 8080, "TCP", false, ""}, // 8080 is web's http, not api's
			{"front/web", "front/web", 8080, "TCP", true, ""},
			{"front/web", "back/db", 5432, "TCP", false, ""},
			{"front/web", dns, 53, "TCP", false, ""}, // kube-dns's "dns" is 53/UDP
			{"front/web", dns, 53, "UDP", false, ""}, // ... and the rule asks for TCP
			{"front/web", "external", 8080, "TCP", false, ""},
			{"external", "back/api", 8000, "TCP", true, ""},
			{"external", "back/api", 9090, "TCP", false, ""},
		}},
		{name: "valid-end-port-ranges", policies: `
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: db-range, namespace: back}
spec:
  podSelector: {matchLabels: {app: db}}
  ingress:
  - ports: [{port: 5000, endPort: 6000}]
`, checks: []check{
			{"back/api", "back/db", 5432, "TCP", true, ""},
			{"back/api", "back/db", 5000, "TCP", true, ""},
			{"back/api", "back/db", 6000, "TCP", true, ""},
			{"back/api", "back/db", 6001, "TCP", false, ""},
			{"back/api", "back/db", 4999, "TCP", false, ""},
			{"back/api", "back/db", 5432, "UDP", false, ""},
		}},
		{name: "valid-protocol-without-port-is-every-port", policies: `
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: udp, namespace: other}
spec:
  podSelector: {}
  ingress:
  - ports: [{protocol: UDP}]
`, checks: []check{
			{"back/api", "other/lone", 53, "UDP", true, ""},
			{"back/api", "other/lone", 40000, "UDP", true, ""},
			{"back/api", "other/lone", 80, "TCP", false, ""},
			{"back/api", "other/lone", 80, "", false, ""}, // the protocol defaults to TCP
		}},
		{name: "valid-ip-block-except", policies: `
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: out, namespace: back}
spec:
  podSelector: {matchLabels: {app: api}}
  policyTypes: [Egress]
  egress:
  - to: [{ipBlock: {cidr: 203.0.113.0/24, except: [203.0.113.0/28]}}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: everything, namespace: back}
spec:
  podSelector: {matchLabels: {app: worker}}
  policyTypes: [Egress]
  egress:
  - to: [{ipBlock: {cidr: 0.0.0.0/0}}]
`, checks: []check{
			{"back/api", "external", 443, "TCP", false, ""}, // 203.0.113.10 is excepted
			{"back/worker", "external", 443, "TCP", true, "back/everything egress[0]"},
			{"back/worker", "back/db", 5432, "TCP", true, "back/everything egress[0]"}, // 0.0.0.0/0 holds the pods' addresses
			{"back/worker", dns, 53, "UDP", true, ""},
		}},
		{name: "valid-ip-block-except-other-address", opts: Options{ExternalIP: "203.0.113.20"}, policies: `
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: out, namespace: back}
spec:
  podSelector: {matchLabels: {app: api}}
  policyTypes: [Egress]
  egress:
  - to: [{ipBlock: {cidr: 203.0.113.0/24, except: [203.0.113.0/28]}}]
    ports: [{port: 443}]
`, checks: []check{
			{"back/api", "external", 443, "TCP", true, ""},
			{"back/api", "external", 80, "TCP", false, ""},
		}},
		{name: "valid-ip-block-ingress", policies: `
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: in, namespace: front}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress:
  - from: [{ipBlock: {cidr: 0.0.0.0/0, except: [10.0.0.0/8]}}]
    ports: [{port: http}]
`, checks: []check{
			{"external", "front/web", 8080, "TCP", true, ""},
			{"external", "front/web", 8081, "TCP", false, ""},
			{"front/admin", "front/web", 8080, "TCP", false, ""},
		}},
		{name: "valid-empty-policy-types-with-ingress-rules-is-ingress-only", policies: `
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: api-in, namespace: back}
spec:
  podSelector: {matchLabels: {app: api}}
  ingress:
  - from: [{podSelector: {matchLabels: {app: worker}}}]
`, checks: []check{
			{"back/worker", "back/api", 8000, "TCP", true, ""},
			{"back/db", "back/api", 8000, "TCP", false, ""},
			{"back/api", "external", 443, "TCP", true, "egress: not isolated"},
		}},
		{name: "valid-empty-policy-types-with-only-egress-rules-is-ingress-and-egress", policies: `
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: api-out, namespace: back}
spec:
  podSelector: {matchLabels: {app: api}}
  egress:
  - to: [{podSelector: {matchLabels: {app: db}}}]
`, checks: []check{
			{"back/api", "back/db", 5432, "TCP", true, ""},
			{"back/api", "external", 443, "TCP", false, ""},
			{"front/web", "back/api", 8000, "TCP", false, "ingress: denied, isolated by back/api-out"},
			{"back/db", "back/api", 8000, "TCP", false, ""},
		}},
		{name: "valid-empty-policy-types-with-empty-egress-list-is-ingress-only", policies: `
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: api-closed, namespace: back}
spec:
  podSelector: {matchLabels: {app: api}}
  egress: []
`, checks: []check{
			{"back/api", "external", 443, "TCP", true, ""},
			{"front/web", "back/api", 8000, "TCP", false, ""},
		}},
		{name: "valid-rules-of-an-undeclared-type-are-ignored", policies: `
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: api-egress-only, namespace: back}
spec:
  podSelector: {matchLabels: {app: api}}
  policyTypes: [Egress]
  ingress:
  - from: [{podSelector: {matchLabels: {app: worker}}}]
  egress:
  - {}
`, checks: []check{
			{"back/db", "back/api", 8000, "TCP", true, "ingress: not isolated"},
			{"back/api", "external", 1, "SCTP", true, "back/api-egress-only egress[0]"},
		}},
		{name: "valid-empty-rule-admits-everything-and-policies-add-up", policies: `
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: a-deny, namespace: back}
spec:
  podSelector: {}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: b-db-all, namespace: back}
spec:
  podSelector: {matchLabels: {app: db}}
  ingress: [{}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: c-api-metrics, namespace: back}
spec:
  podSelector: {matchLabels: {app: api}}
  ingress: [{ports: [{port: 9090}]}]
`, checks: []check{
			{"external", "back/db", 7, "UDP", true, "back/b-db-all ingress[0]"},
			{"external", "back/api", 9090, "TCP", true, ""},
			{"external", "back/api", 8000, "TCP", false, "isolated by back/a-deny, back/c-api-metrics"},
			{"front/web", "back/worker", 1, "TCP", false, ""},
		}},
		{name: "valid-not-in-matches-a-missing-key", policies: `
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: not-ops, namespace: front}
spec:
  podSelector: {matchExpressions: [{key: role, operator: NotIn, values: [ops]}]}
  ingress: []
`, checks: []check{
			{"front/admin", "front/web", 8080, "TCP", false, ""}, // web has no role label: NotIn selects it
			{"front/web", "front/admin", 1, "TCP", true, ""},     // admin has role=ops
		}},
		{name: "valid-match-expressions", policies: `
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: exprs, namespace: back}
spec:
  podSelector: {matchExpressions: [{key: app, operator: In, values: [api, db]}]}
  ingress:
  - from:
    - namespaceSelector: {matchExpressions: [{key: tier, operator: Exists}]}
      podSelector: {matchExpressions: [{key: role, operator: DoesNotExist}]}
`, checks: []check{
			{"front/web", "back/api", 8000, "TCP", true, ""},
			{"front/admin", "back/api", 8000, "TCP", false, ""}, // has role
			{"other/lone", "back/db", 5432, "TCP", false, ""},   // namespace "other" has no tier label
			{"other/lone", "back/worker", 1, "TCP", true, ""},   // worker is not selected
		}},
		{name: "valid-metadata-name-label-and-unknown-namespaces", policies: `
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: from-other, namespace: back}
spec:
  podSelector: {matchLabels: {app: db}}
  ingress:
  - from: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: other}}}]
`, checks: []check{
			{"other/lone", "back/db", 5432, "TCP", true, ""},
			{"front/web", "back/db", 5432, "TCP", false, ""},
		}},
		{name: "valid-policies-stay-in-their-namespace", policies: `
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny, namespace: front}
spec:
  podSelector: {matchLabels: {app: api}}
  policyTypes: [Ingress, Egress]
`, checks: []check{
			{"front/web", "back/api", 8000, "TCP", true, ""},
			{"back/api", "front/web", 8080, "TCP", true, ""},
		}},
		// kube-router runs every policy that selects a pod on all its traffic: a policy isolating both directions
		// applies its egress rules to traffic into the pods it selects from pods it selects, and its ingress rules to
		// traffic out of them.
		{name: "valid-api-semantics-of-a-two-way-policy", policies: twoWay, checks: []check{
			{"back/api", "back/db", 5432, "TCP", false, "ingress: denied, isolated by back/both"},
			{"back/worker", "back/api", 8000, "TCP", false, "egress: denied, isolated by back/both"},
			{"back/db", "back/db", 5432, "TCP", false, ""},
		}},
		{name: "valid-kube-router-two-way-policy-crosses-over", opts: Options{Enforcer: EnforcerKubeRouter}, policies: twoWay, checks: []check{
			{"back/api", "back/db", 5432, "TCP", true, "ingress: allowed by back/both egress[0] (kube-router: the policy selects both ends)"},
			{"back/db", "back/db", 5432, "TCP", true, ""},
			{"back/worker", "back/api", 8000, "TCP", true, "egress: allowed by back/both ingress[0] (kube-router"},
			{"back/worker", "back/api", 9090, "TCP", false, ""}, // the ingress rule's port still counts
			{"back/db", "back/api", 8000, "TCP", false, ""},     // db is neither admitted in nor out
			{"front/web", "back/db", 5432, "TCP", false, ""},    // web is not selected: no crossing
		}},
		{name: "valid-kube-router-one-direction-per-policy", opts: Options{Enforcer: EnforcerKubeRouter}, policies: oneWay, checks: []check{
			{"back/api", "back/db", 5432, "TCP", false, "ingress: denied, isolated by back/both-ingress"},
			{"back/worker", "back/api", 8000, "TCP", false, "egress: denied, isolated by back/both-egress"},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := mustCluster(t, world+"---\n"+tc.policies, tc.opts)
			for _, ck := range tc.checks {
				src, dst := peerByID(t, c, ck.src), peerByID(t, c, ck.dst)
				got, why := c.Allowed(src, dst, ck.port, ck.proto)
				if got != ck.want {
					t.Errorf("%s -> %s %d/%s: allowed %v, want %v (%s)", ck.src, ck.dst, ck.port, ck.proto, got, ck.want, why)
				}
				if ck.reason != "" && !strings.Contains(why.String(), ck.reason) {
					t.Errorf("%s -> %s %d/%s: reason %q lacks %q", ck.src, ck.dst, ck.port, ck.proto, why, ck.reason)
				}
			}
		})
	}
}
