package check

import (
	"slices"
	"strings"
	"testing"
)

// ruleCase changes the fixture so that rule fires (invalid-*) or does not (valid-*).
type ruleCase struct {
	name   string
	rule   string
	change func(f *fixture)
}

func (c ruleCase) wantFire() bool { return strings.HasPrefix(c.name, "invalid-") }

func allCases() []ruleCase {
	return slices.Concat(imageCases, resourceCases, securityCases, secretCases, namespaceCases, relationCases, referenceCases)
}

// TestFixtureIsClean keeps the fixture meaningful: with nothing changed, no rule fires.
func TestFixtureIsClean(t *testing.T) {
	t.Parallel()
	fs, err := Run(newFixture().objects(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fs {
		t.Errorf("clean fixture: %s %s", f.Rule, f.Message)
	}
}

func TestRules(t *testing.T) {
	t.Parallel()
	for _, c := range allCases() {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			if _, ok := Lookup(c.rule); !ok {
				t.Fatalf("case names unknown rule %q", c.rule)
			}
			if !strings.HasPrefix(c.name, "valid-") && !c.wantFire() {
				t.Fatalf("case name must start with valid- or invalid-")
			}
			f := newFixture()
			if c.change != nil {
				c.change(f)
			}
			fs, err := Run(f.objects(t))
			if err != nil {
				t.Fatal(err)
			}
			var hits []Finding
			for _, x := range fs {
				if x.Rule == c.rule {
					hits = append(hits, x)
				}
			}
			switch {
			case c.wantFire() && len(hits) == 0:
				t.Errorf("%s did not fire; findings: %v", c.rule, rulesOf(fs))
			case !c.wantFire() && len(hits) > 0:
				t.Errorf("%s fired: %s", c.rule, hits[0].Message)
			}
			for _, h := range hits {
				checkFindingShape(t, h)
			}
		})
	}
}

// checkFindingShape: one line each, the message names the object, the severity is the rule's.
func checkFindingShape(t *testing.T, f Finding) {
	t.Helper()
	r, _ := Lookup(f.Rule)
	if f.Severity != r.Severity {
		t.Errorf("%s: severity %s, rule says %s", f.Rule, f.Severity, r.Severity)
	}
	if !strings.HasPrefix(f.Message, f.Object.String()+" ") {
		t.Errorf("%s: message %q does not start with the object %q", f.Rule, f.Message, f.Object)
	}
	if f.Container != "" && !strings.Contains(f.Message, "container "+f.Container+" ") {
		t.Errorf("%s: message %q does not name container %s", f.Rule, f.Message, f.Container)
	}
	if f.Fix == "" || strings.ContainsAny(f.Message+f.Fix, "\n\r") {
		t.Errorf("%s: want a one-line message and fix, got %q / %q", f.Rule, f.Message, f.Fix)
	}
}

func rulesOf(fs []Finding) []string {
	var out []string
	for _, f := range fs {
		out = append(out, f.Rule)
	}
	return out
}
