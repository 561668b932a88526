package report

import (
	"fmt"
	"strings"
)

// Site is the move of the project into a site built with agops cluster init: which files go to which machine, and
// in which order to run what. agops migrate --cluster fills it; it never holds a secret value.
type Site struct {
	// Cluster is the cluster folder as given, and Distro its distribution.
	Cluster string `json:"cluster"`
	Distro  string `json:"distro"`
	// Warnings are what would break the move as planned (an image the bundle lacks, an accelerator no node has).
	Warnings []string      `json:"warnings,omitempty"`
	Machines []SiteMachine `json:"machines"`
	Steps    []SiteStep    `json:"steps"`
}

// SiteMachine is one machine and the files it receives.
type SiteMachine struct {
	Name    string `json:"name"`
	Address string `json:"address,omitempty"`
	Role    string `json:"role"`
	// Copy are paths as the user gave them (the bundle, -o, the cluster folder's parts, the Compose files).
	Copy []string `json:"copy,omitempty"`
	// Also is what the machine needs that no agops command wrote (the distribution's release files, boot media).
	Also string `json:"also,omitempty"`
}

// Phases of a SiteStep.
const (
	PhaseOutside = "outside"
	PhaseInside  = "inside"
)

// SiteStep is one thing to do on one machine; steps are in the order to do them.
type SiteStep struct {
	Phase string `json:"phase"`
	On    string `json:"on"`
	// In is the folder the commands run in, when it matters.
	In string `json:"in,omitempty"`
	// Do is what to do in words, when it is not a command.
	Do string `json:"do,omitempty"`
	// Run are the commands, in order.
	Run []string `json:"run,omitempty"`
	// Then is what to see before going on.
	Then string `json:"then,omitempty"`
}

// markdown writes the site plan section of report.md.
func (s *Site) markdown(b *strings.Builder) {
	fmt.Fprintf(b, "## Site plan\n\nHow this project moves into the %s cluster of `%s`: which files go to which machine, then every step in order. "+
		"Outside is a machine with internet (this one); inside, nothing reaches the internet.\n\n", s.Distro, s.Cluster)
	if len(s.Warnings) > 0 {
		b.WriteString("**Fix before you go:**\n\n")
		for _, w := range s.Warnings {
			b.WriteString("- " + w + "\n")
		}
		b.WriteString("\n")
	}
	b.WriteString("| machine | address | role | copy onto it | also needs |\n|---|---|---|---|---|\n")
	for _, m := range s.Machines {
		copies := make([]string, len(m.Copy))
		for i, c := range m.Copy {
			copies[i] = "`" + c + "`"
		}
		fmt.Fprintf(b, "| %s | %s | %s | %s | %s |\n", m.Name, m.Address, cell(m.Role), cell(strings.Join(copies, ", ")), cell(m.Also))
	}
	b.WriteString("\n")
	phase := ""
	for i, st := range s.Steps {
		if st.Phase != phase {
			phase = st.Phase
			fmt.Fprintf(b, "**%s the site**\n\n", map[string]string{PhaseOutside: "Outside", PhaseInside: "Inside"}[phase])
		}
		var parts []string
		if st.Do != "" {
			parts = append(parts, st.Do)
		}
		for _, r := range st.Run {
			parts = append(parts, "`"+r+"`")
		}
		where := st.On
		if st.In != "" {
			where += ", in `" + st.In + "`"
		}
		fmt.Fprintf(b, "%d. On %s: %s", i+1, where, strings.Join(parts, "; "))
		if st.Then != "" {
			b.WriteString(" — then: " + st.Then)
		}
		if !strings.HasSuffix(b.String(), ".") {
			b.WriteString(".")
		}
		b.WriteString("\n")
		if i+1 < len(s.Steps) && s.Steps[i+1].Phase != phase {
			b.WriteString("\n")
		}
	}
	b.WriteString("\n")
}
