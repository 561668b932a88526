package check

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// IgnoreAnnotation on an object lists, comma-separated, the IDs of rules whose findings on that object are dropped.
// Findings about a namespace (default-deny-missing, pod-security-label-missing) are dropped through the annotation
// on the Namespace object.
const IgnoreAnnotation = "agops.dev/check-ignore"

// Ref names one object.
type Ref struct {
	Kind      string `json:"kind"`
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name"`
}

// String is "Kind namespace/name", or "Kind name" for cluster-scoped objects.
func (r Ref) String() string {
	if r.Namespace == "" {
		return r.Kind + " " + r.Name
	}
	return r.Kind + " " + r.Namespace + "/" + r.Name
}

func refOf(u *unstructured.Unstructured) Ref {
	return Ref{Kind: u.GetKind(), Namespace: u.GetNamespace(), Name: u.GetName()}
}

// Finding is one problem on one object. Message is one line that names the object (and the container or key);
// Fix is one line saying what to change, in Compose terms where there is one. Neither ever holds a secret value.
type Finding struct {
	Rule      string   `json:"rule"`
	Severity  Severity `json:"severity"`
	Object    Ref      `json:"object"`
	Container string   `json:"container,omitempty"`
	Message   string   `json:"message"`
	Fix       string   `json:"fix"`
}

// newFinding fills severity and fix from the catalogue; the message is the object, then detail.
func newFinding(rule string, obj Ref, detail string) Finding {
	r, _ := Lookup(rule)
	return Finding{Rule: rule, Severity: r.Severity, Object: obj, Message: obj.String() + " " + detail, Fix: r.Fix}
}

// containerFinding is a finding on one container of a workload.
func containerFinding(rule string, w *workload, c container, detail string) Finding {
	f := newFinding(rule, w.ref, c.label()+" "+detail)
	f.Container = c.Name
	return f
}

// Option configures Run.
type Option func(*config) error

type config struct {
	skip map[string]bool
}

// Skip turns rules off for every object. An unknown ID is an error of Run.
func Skip(ids ...string) Option {
	return func(c *config) error {
		var unknown []string
		for _, id := range ids {
			if _, ok := Lookup(id); !ok {
				unknown = append(unknown, id)
				continue
			}
			c.skip[id] = true
		}
		if len(unknown) > 0 {
			return fmt.Errorf("unknown rule %s", strings.Join(unknown, ", "))
		}
		return nil
	}
}

// checks are run in this order; the order of findings does not depend on it.
var checks = []func(*inventory) []Finding{
	checkImages, checkResources, checkProbes, checkContainerSecurity, checkPodSecurity,
	checkConfigMaps, checkEnv, checkNamespaces, checkPolicyBothWays, checkDisruption, checkSpread, checkSharedClaims,
	checkServices, checkReferences, checkAPIVersions, checkIgnoreAnnotations,
}

// Run checks objs (a rendered overlay or any YAML stream) and returns the findings, sorted by object, container,
// rule and message. An object of a checked kind that cannot be read as its typed form makes the error, which names
// every such object; the findings then cover the other objects.
func Run(objs []*unstructured.Unstructured, opts ...Option) ([]Finding, error) {
	c := &config{skip: map[string]bool{}}
	for _, o := range opts {
		if err := o(c); err != nil {
			return nil, err
		}
	}
	inv, decodeErrs := index(objs)
	var out []Finding
	for _, check := range checks {
		for _, f := range check(inv) {
			if !c.skip[f.Rule] && !inv.ignored(f) {
				out = append(out, f)
			}
		}
	}
	return sortFindings(out), errors.Join(decodeErrs...)
}

// sortFindings orders findings and drops exact duplicates (a workload naming one Secret twice).
func sortFindings(fs []Finding) []Finding {
	slices.SortFunc(fs, func(a, b Finding) int {
		return cmp.Or(
			cmp.Compare(a.Object.Namespace, b.Object.Namespace), cmp.Compare(a.Object.Kind, b.Object.Kind),
			cmp.Compare(a.Object.Name, b.Object.Name), cmp.Compare(a.Container, b.Container),
			cmp.Compare(a.Rule, b.Rule), cmp.Compare(a.Message, b.Message), cmp.Compare(a.Fix, b.Fix))
	})
	return slices.Compact(fs)
}

// ignoreList reads the annotation: IDs separated by commas, blanks around them ignored.
func ignoreList(u *unstructured.Unstructured) []string {
	v, ok := u.GetAnnotations()[IgnoreAnnotation]
	if !ok {
		return nil
	}
	var ids []string
	for _, id := range strings.Split(v, ",") {
		if id = strings.TrimSpace(id); id != "" {
			ids = append(ids, id)
		}
	}
	return ids
}

// checkIgnoreAnnotations reports annotation IDs that name no rule: a typo would silently suppress nothing.
func checkIgnoreAnnotations(inv *inventory) []Finding {
	var out []Finding
	for _, u := range inv.raw {
		for _, id := range ignoreList(u) {
			if _, ok := Lookup(id); !ok {
				out = append(out, newFinding(ruleUnknownIgnore, refOf(u), fmt.Sprintf("has %s naming %q, which is no rule", IgnoreAnnotation, id)))
			}
		}
	}
	return out
}
