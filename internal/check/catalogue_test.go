package check

import (
	"go/parser"
	"go/token"
	"regexp"
	"strings"
	"testing"
)

var (
	slug       = regexp.MustCompile(`^[a-z][a-z0-9]*(-[a-z0-9]+)*$`)
	docRuleRow = regexp.MustCompile(`^\s+([a-z0-9-]+)\s+(error|warning|info)\s+(.+)$`)
)

// TestCatalogueDocumented keeps the table in doc.go and Rules() in step: same IDs, severities and titles, in order.
func TestCatalogueDocumented(t *testing.T) {
	t.Parallel()
	f, err := parser.ParseFile(token.NewFileSet(), "doc.go", nil, parser.ParseComments|parser.PackageClauseOnly)
	if err != nil {
		t.Fatal(err)
	}
	doc := f.Doc.Text()
	_, table, ok := strings.Cut(doc, "# Rule catalogue")
	if !ok {
		t.Fatal("doc.go has no # Rule catalogue section")
	}
	var rows []Rule
	for _, line := range strings.Split(table, "\n") {
		if m := docRuleRow.FindStringSubmatch(line); m != nil {
			sev, _ := ParseSeverity(m[2])
			rows = append(rows, Rule{ID: m[1], Severity: sev, Title: m[3]})
		}
	}
	rules := Rules()
	for i := 0; i < max(len(rows), len(rules)); i++ {
		var doc, code Rule
		if i < len(rows) {
			doc = rows[i]
		}
		if i < len(rules) {
			code = rules[i]
			code.Fix = ""
		}
		if doc != code {
			t.Errorf("catalogue row %d: doc.go has %q %s %q, Rules() has %q %s %q", i+1, doc.ID, doc.Severity, doc.Title, code.ID, code.Severity, code.Title)
		}
	}
}

func TestCatalogueWellFormed(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for _, r := range Rules() {
		if !slug.MatchString(r.ID) {
			t.Errorf("rule ID %q is not a lower-case slug", r.ID)
		}
		if seen[r.ID] {
			t.Errorf("rule ID %q twice", r.ID)
		}
		seen[r.ID] = true
		if _, err := r.Severity.MarshalText(); err != nil {
			t.Errorf("%s: %v", r.ID, err)
		}
		if r.Title == "" || r.Fix == "" || strings.ContainsAny(r.Title+r.Fix, "\n") {
			t.Errorf("%s: want a one-line title and fix", r.ID)
		}
	}
}

// TestEveryRuleCovered: each rule has a case that triggers it and one that does not.
func TestEveryRuleCovered(t *testing.T) {
	t.Parallel()
	fires, quiet := map[string]bool{}, map[string]bool{}
	for _, c := range allCases() {
		if c.wantFire() {
			fires[c.rule] = true
		} else {
			quiet[c.rule] = true
		}
	}
	for _, r := range Rules() {
		if !fires[r.ID] {
			t.Errorf("%s: no invalid-* case triggers it", r.ID)
		}
		if !quiet[r.ID] {
			t.Errorf("%s: no valid-* case shows it quiet", r.ID)
		}
	}
}
