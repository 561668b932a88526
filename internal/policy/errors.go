package policy

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// maxProblems bounds a ValidationError: past it, one last line says how many more there were.
const maxProblems = 100

// Problem is one thing wrong with a policy document.
type Problem struct {
	// Path is the field, e.g. "spec.teams[0].grants[1].when"; empty for the document as a whole.
	Path string
	// Line is the 1-based line in the document, 0 when unknown.
	Line int
	// Message says what is wrong, in one line.
	Message string
}

// String is "line 12: spec.teams[0].name: message".
func (p Problem) String() string {
	var b strings.Builder
	if p.Line > 0 {
		fmt.Fprintf(&b, "line %d: ", p.Line)
	}
	if p.Path != "" {
		b.WriteString(p.Path)
		b.WriteString(": ")
	}
	b.WriteString(p.Message)
	return b.String()
}

// ValidationError lists every problem of a policy document, in document order. Parse and Load return it for any
// document they reject.
type ValidationError struct {
	// File is the document's file name (set by Load).
	File     string
	Problems []Problem
	// Omitted counts the problems left out past the first hundred.
	Omitted int
}

// Error is one line per problem: "policy.yaml:12: spec.teams[0].name: message".
func (e *ValidationError) Error() string {
	lines := make([]string, 0, len(e.Problems)+1)
	for _, p := range e.Problems {
		lines = append(lines, e.line(p))
	}
	if e.Omitted > 0 {
		lines = append(lines, fmt.Sprintf("... and %d more problems", e.Omitted))
	}
	return strings.Join(lines, "\n")
}

func (e *ValidationError) line(p Problem) string {
	switch {
	case e.File == "":
		return p.String()
	case p.Line > 0:
		prefix := fmt.Sprintf("%s:%d: ", e.File, p.Line)
		p.Line = 0
		return prefix + p.String()
	default:
		return e.File + ": " + p.String()
	}
}

// problems collects Problems while a document is decoded and validated.
type problems struct {
	list  []Problem
	lines map[string]int // field path → line, recorded by the decoder
}

func (ps *problems) add(path, format string, args ...any) {
	ps.list = append(ps.list, Problem{Path: path, Line: ps.lineOf(path), Message: fmt.Sprintf(format, args...)})
}

// lineOf is the line of path or of its nearest recorded parent.
func (ps *problems) lineOf(path string) int {
	for path != "" {
		if l, ok := ps.lines[path]; ok {
			return l
		}
		i := strings.LastIndexAny(path, ".[")
		if i < 0 {
			break
		}
		path = path[:i]
	}
	return ps.lines[""]
}

// dropUnder drops the problems from index from on whose path is at or under the path of one of the problems
// before it.
func (ps *problems) dropUnder(from int) {
	before := ps.list[:from]
	kept := slices.DeleteFunc(slices.Clone(ps.list[from:]), func(p Problem) bool {
		return slices.ContainsFunc(before, func(b Problem) bool { return b.Path == "" || within(p.Path, b.Path) })
	})
	ps.list = append(before, kept...)
}

// within reports whether path is parent or inside it: "a.b[0].c" is within "a.b[0]" and "a.b".
func within(path, parent string) bool {
	rest, ok := strings.CutPrefix(path, parent)
	return ok && (rest == "" || rest[0] == '.' || rest[0] == '[')
}

// err is nil without problems, else a *ValidationError in document order.
func (ps *problems) err() error {
	if len(ps.list) == 0 {
		return nil
	}
	sort.SliceStable(ps.list, func(i, j int) bool { return ps.list[i].Line < ps.list[j].Line })
	e := &ValidationError{Problems: ps.list}
	if len(e.Problems) > maxProblems {
		e.Omitted, e.Problems = len(e.Problems)-maxProblems, e.Problems[:maxProblems]
	}
	return e
}

// quote is strconv.Quote of at most 40 runes: error messages echo what was written without flooding the line.
func quote(s string) string {
	if utf8.RuneCountInString(s) <= 40 {
		return strconv.Quote(s)
	}
	r := []rune(s)
	return strconv.Quote(string(r[:40])) + "..."
}
