package k8s

import (
	"fmt"
	"strconv"
	"strings"

	admissionv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/agops/agops/internal/model"
)

// admission renders an AdmissionGuard as two ValidatingAdmissionPolicies (pods; NetworkPolicies) and their bindings
// to the guarded namespace.
func (r *renderer) admission(g model.AdmissionGuard) []Object {
	fail := admissionv1.Fail
	bind := func(policy string) Object {
		return &admissionv1.ValidatingAdmissionPolicyBinding{
			TypeMeta:   metav1.TypeMeta{APIVersion: "admissionregistration.k8s.io/v1", Kind: "ValidatingAdmissionPolicyBinding"},
			ObjectMeta: r.meta("", policy, nil),
			Spec: admissionv1.ValidatingAdmissionPolicyBindingSpec{
				PolicyName:        policy,
				ValidationActions: []admissionv1.ValidationAction{admissionv1.Deny},
				MatchResources: &admissionv1.MatchResources{NamespaceSelector: &metav1.LabelSelector{
					MatchLabels: map[string]string{labelNamespaceName: g.Namespace},
				}},
			},
		}
	}
	rule := func(group, resource string) admissionv1.NamedRuleWithOperations {
		return admissionv1.NamedRuleWithOperations{RuleWithOperations: admissionv1.RuleWithOperations{
			Operations: []admissionv1.OperationType{admissionv1.Create, admissionv1.Update},
			Rule:       admissionv1.Rule{APIGroups: []string{group}, APIVersions: []string{"v1"}, Resources: []string{resource}},
		}}
	}
	pods := &admissionv1.ValidatingAdmissionPolicy{
		TypeMeta:   metav1.TypeMeta{APIVersion: "admissionregistration.k8s.io/v1", Kind: "ValidatingAdmissionPolicy"},
		ObjectMeta: r.meta("", g.Name+"-pods", nil),
		Spec: admissionv1.ValidatingAdmissionPolicySpec{
			FailurePolicy:    &fail,
			MatchConstraints: &admissionv1.MatchResources{ResourceRules: []admissionv1.NamedRuleWithOperations{rule("", "pods")}},
			Variables: []admissionv1.Variable{
				{Name: "exempt", Expression: r.exemptExpression(g)},
				{Name: "containers", Expression: "object.spec.containers + (has(object.spec.initContainers) ? object.spec.initContainers : [])"},
			},
			Validations: []admissionv1.Validation{
				{Expression: "variables.exempt || variables.containers.all(c, !has(c.securityContext) || !has(c.securityContext.privileged) || !c.securityContext.privileged)",
					Message: "privileged containers are not allowed in " + g.Namespace},
				{Expression: "variables.exempt || !((has(object.spec.hostNetwork) && object.spec.hostNetwork) || (has(object.spec.hostPID) && object.spec.hostPID) || (has(object.spec.hostIPC) && object.spec.hostIPC))",
					Message: "the host's network, PID and IPC namespaces are not allowed in " + g.Namespace},
				{Expression: "variables.exempt || !has(object.spec.volumes) || object.spec.volumes.all(v, !has(v.hostPath))",
					Message: "hostPath volumes are not allowed in " + g.Namespace},
				{Expression: "variables.exempt || variables.containers.all(c, !has(c.ports) || c.ports.all(p, !has(p.hostPort) || p.hostPort == 0))",
					Message: "host ports are not allowed in " + g.Namespace},
				{Expression: "variables.containers.all(c, " + registryExpression(g) + ")",
					Message: "images must come from " + describeRegistries(g)},
			},
		},
	}
	policies := &admissionv1.ValidatingAdmissionPolicy{
		TypeMeta:   metav1.TypeMeta{APIVersion: "admissionregistration.k8s.io/v1", Kind: "ValidatingAdmissionPolicy"},
		ObjectMeta: r.meta("", g.Name+"-networkpolicies", nil),
		Spec: admissionv1.ValidatingAdmissionPolicySpec{
			FailurePolicy:    &fail,
			MatchConstraints: &admissionv1.MatchResources{ResourceRules: []admissionv1.NamedRuleWithOperations{rule("networking.k8s.io", "networkpolicies")}},
			Validations: []admissionv1.Validation{{
				Expression: fmt.Sprintf("has(object.metadata.labels) && %q in object.metadata.labels && object.metadata.labels[%q] == 'agops'", LabelManagedBy, LabelManagedBy),
				Message:    "NetworkPolicies in " + g.Namespace + " come from agops migrate only: a policy of its own could open a path around the namespace's isolation",
			}},
		},
	}
	return []Object{pods, bind(pods.Name), policies, bind(policies.Name)}
}

// exemptExpression is true for the pods of the project's workloads that need host access.
func (r *renderer) exemptExpression(g model.AdmissionGuard) string {
	if len(g.Exempt) == 0 {
		return "false"
	}
	quoted := make([]string, len(g.Exempt))
	for i, e := range g.Exempt {
		quoted[i] = strconv.Quote(e)
	}
	return fmt.Sprintf("has(object.metadata.labels) && %q in object.metadata.labels && object.metadata.labels[%q] == %q && %q in object.metadata.labels && object.metadata.labels[%q] in [%s]",
		LabelInstance, LabelInstance, r.p.Instance, LabelName, LabelName, strings.Join(quoted, ", "))
}

// registryExpression is true for a container c whose image comes from an allowed registry.
func registryExpression(g model.AdmissionGuard) string {
	var alts []string
	for _, reg := range g.Registries {
		alts = append(alts, fmt.Sprintf("c.image.startsWith(%q)", reg+"/"))
	}
	if g.DockerHub {
		// A short name (postgres:17, qdrant/qdrant:v1) is Docker Hub: no slash, or a first element without a dot or
		// colon that is not localhost.
		alts = append(alts, `c.image.startsWith("docker.io/")`,
			`(!c.image.startsWith("localhost/") && c.image.matches("^([^/]+$|[^/.:]+/)"))`)
	}
	if len(alts) == 0 {
		return "false"
	}
	return strings.Join(alts, " || ")
}

func describeRegistries(g model.AdmissionGuard) string {
	s := strings.Join(g.Registries, ", ")
	if g.DockerHub {
		if s != "" {
			s += " or "
		}
		s += "Docker Hub"
	}
	return s
}
