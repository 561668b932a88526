package check

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

// Report is what agops check prints: the findings of Run and any further sections a caller adds, such as the
// reachability matrix. A section that finds problems adds them to Findings too (with its own rule IDs), so that
// Exceeds and the summary count them.
type Report struct {
	Findings []Finding
	Sections []Section
}

// Section is an extra part of a report. Name is its heading in text and its key under "sections" in JSON; names
// must be unique within a report.
type Section struct {
	Name string
	Text string // printed under the heading, as is
	Data any    // marshalled under sections.<Name>
}

// Renderer is anything with a text and a JSON form, such as the reachability matrix of internal/check/reach.
type Renderer interface {
	Text(w io.Writer) error
	JSON() ([]byte, error)
}

// SectionOf renders v in both forms into a section named name.
func SectionOf(name string, v Renderer) (Section, error) {
	var b bytes.Buffer
	if err := v.Text(&b); err != nil {
		return Section{}, fmt.Errorf("section %s: %w", name, err)
	}
	data, err := v.JSON()
	if err != nil {
		return Section{}, fmt.Errorf("section %s: %w", name, err)
	}
	return Section{Name: name, Text: b.String(), Data: json.RawMessage(data)}, nil
}

// Summary counts findings by severity.
type Summary struct {
	Errors   int `json:"error"`
	Warnings int `json:"warning"`
	Info     int `json:"info"`
}

// Summary counts the report's findings.
func (r Report) Summary() Summary {
	var s Summary
	for _, f := range r.Findings {
		switch f.Severity {
		case Error:
			s.Errors++
		case Warning:
			s.Warnings++
		case Info:
			s.Info++
		}
	}
	return s
}

// String is "1 error, 2 warnings, 0 info".
func (s Summary) String() string {
	plural := func(n int, word string) string {
		if n == 1 {
			return fmt.Sprintf("%d %s", n, word)
		}
		return fmt.Sprintf("%d %ss", n, word)
	}
	return plural(s.Errors, "error") + ", " + plural(s.Warnings, "warning") + ", " + fmt.Sprintf("%d info", s.Info)
}

// Exceeds tells whether any finding is at least as severe as failOn: the exit code of --fail-on.
func (r Report) Exceeds(failOn Severity) bool {
	for _, f := range r.Findings {
		if f.Severity >= failOn {
			return true
		}
	}
	return false
}

// Text writes one line per finding (severity, rule, message) with its fix on the next line, then each section
// under its name, then the summary.
func (r Report) Text(w io.Writer) error {
	var b bytes.Buffer
	width := 0
	for _, f := range r.Findings {
		width = max(width, len(f.Rule))
	}
	for _, f := range r.Findings {
		fmt.Fprintf(&b, "%-7s  %-*s  %s\n", f.Severity, width, f.Rule, f.Message)
		fmt.Fprintf(&b, "%-7s  %-*s  fix: %s\n", "", width, "", f.Fix)
	}
	for _, s := range r.Sections {
		if b.Len() > 0 {
			b.WriteString("\n")
		}
		b.WriteString(s.Name + "\n")
		if s.Text != "" {
			b.WriteString(strings.TrimRight(s.Text, "\n") + "\n")
		}
	}
	if b.Len() > 0 {
		b.WriteString("\n")
	}
	if len(r.Findings) == 0 {
		b.WriteString("no findings\n")
	} else {
		b.WriteString(r.Summary().String() + "\n")
	}
	_, err := w.Write(b.Bytes())
	return err
}

// jsonReport is the JSON shape documented on Report.JSON.
type jsonReport struct {
	Version  int                        `json:"version"`
	Summary  Summary                    `json:"summary"`
	Findings []Finding                  `json:"findings"`
	Sections map[string]json.RawMessage `json:"sections,omitempty"`
}

// JSON renders the report as indented JSON with a trailing newline, in this shape (version 1):
//
//	{
//	  "version": 1,
//	  "summary": {"error": 1, "warning": 2, "info": 0},
//	  "findings": [{"rule": "...", "severity": "error|warning|info",
//	                "object": {"kind": "...", "namespace": "...", "name": "..."},
//	                "container": "...", "message": "...", "fix": "..."}],
//	  "sections": {"<name>": <data>}
//	}
//
// findings is always an array; namespace and container are left out when empty, sections when there are none.
// Fields are only ever added; a change to existing ones raises version. Findings come in Run's order.
func (r Report) JSON() ([]byte, error) {
	out := jsonReport{Version: 1, Summary: r.Summary(), Findings: r.Findings}
	if out.Findings == nil {
		out.Findings = []Finding{}
	}
	for _, s := range r.Sections {
		if out.Sections == nil {
			out.Sections = map[string]json.RawMessage{}
		}
		if _, dup := out.Sections[s.Name]; dup {
			return nil, fmt.Errorf("report has two sections named %q", s.Name)
		}
		data, err := json.Marshal(s.Data)
		if err != nil {
			return nil, fmt.Errorf("section %s: %w", s.Name, err)
		}
		out.Sections[s.Name] = data
	}
	b, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}
