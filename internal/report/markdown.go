package report

import (
	"fmt"
	"strings"

	"github.com/agops/agops/internal/model"
)

// Markdown renders report.md: verdict, security findings, what needs input, the Secrets to create, a summary
// table, then every Compose key of every service with its outcome.
func (r Report) Markdown() []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "# Migration report: %s\n\n", r.Project)
	fmt.Fprintf(&b, "**Verdict: %s.** %d mapped, %d approximated, %d dropped, %d need input.\n\n",
		r.Verdict, r.Summary.Mapped, r.Summary.Approximated, r.Summary.Dropped, r.Summary.NeedsInput)
	b.WriteString("Outcomes: **mapped** — Kubernetes does what Compose did; **approximated** — close, the reason says what differs; " +
		"**dropped** — not carried over, the reason says why; **needs input** — a person must decide (`--strict` fails on these).\n\n")
	if len(r.Namespaces) > 0 {
		b.WriteString("## Namespaces\n\n| namespace | tier | Pod Security enforced | services |\n|---|---|---|---|\n")
		for _, ns := range r.Namespaces {
			fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", ns.Name, ns.Tier, ns.PodSecurity, cell(strings.Join(ns.Services, ", ")))
		}
		b.WriteString("\n")
	}
	if len(r.Security) > 0 {
		b.WriteString("## Security findings\n\n")
		decisionTable(&b, r.Security, true)
	}
	if len(r.Needs) > 0 {
		b.WriteString("## Needs input\n\n")
		decisionTable(&b, r.Needs, true)
	}
	if len(r.Secrets) > 0 {
		b.WriteString("## Secrets to create\n\n")
		b.WriteString("The manifests reference these Secrets; their values are not in this folder. Create each before applying:\n\n")
		b.WriteString("| Secret | namespace | keys | from | create with |\n|---|---|---|---|---|\n")
		for _, s := range r.Secrets {
			fmt.Fprintf(&b, "| %s | %s | %s | %s | `%s` |\n", s.Name, s.Namespace, cell(strings.Join(s.Keys, ", ")), cell(strings.Join(s.Sources, "; ")), cell(s.Create))
		}
		b.WriteString("\n")
	}
	if r.Site != nil {
		r.Site.markdown(&b)
	}
	b.WriteString("## Services\n\n| service | workload | namespace | kind | replicas (single-node / ha) | ports | mapped | approximated | dropped | needs input |\n|---|---|---|---|---|---|---|---|---|---|\n")
	for _, s := range r.Services {
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %d / %d | %s | %d | %d | %d | %d |\n", s.Service, s.Workload, s.Namespace, s.Kind, s.Replicas, s.HAReplicas,
			strings.Join(s.Ports, " "), s.Counts.Mapped, s.Counts.Approximated, s.Counts.Dropped, s.Counts.NeedsInput)
	}
	b.WriteString("\n")
	if len(r.ProjectKeys) > 0 {
		b.WriteString("## Project-level keys\n\n")
		decisionTable(&b, r.ProjectKeys, false)
	}
	for _, s := range r.Services {
		fmt.Fprintf(&b, "## %s\n\n", s.Service)
		decisionTable(&b, s.Decisions, false)
	}
	return []byte(b.String())
}

func decisionTable(b *strings.Builder, ds []model.Decision, withService bool) {
	if withService {
		b.WriteString("| service | key | outcome | reason | hint |\n|---|---|---|---|---|\n")
	} else {
		b.WriteString("| key | outcome | reason | hint |\n|---|---|---|---|\n")
	}
	for _, d := range ds {
		hint := ""
		if d.Hint != "" {
			hint = "`" + cell(d.Hint) + "`"
		}
		if withService {
			svc := d.Service
			if svc == "" {
				svc = "(project)"
			}
			fmt.Fprintf(b, "| %s | %s | %s | %s | %s |\n", cell(svc), cell(d.Key), d.Outcome, cell(d.Reason), hint)
		} else {
			fmt.Fprintf(b, "| %s | %s | %s | %s |\n", cell(d.Key), d.Outcome, cell(d.Reason), hint)
		}
	}
	b.WriteString("\n")
}

// cell keeps a value inside one table cell.
func cell(s string) string {
	if !strings.ContainsAny(s, "|\n") {
		return s
	}
	return cellReplacer.Replace(s)
}

var cellReplacer = strings.NewReplacer("|", `\|`, "\n", " ")
