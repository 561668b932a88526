package team

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// maxProblems bounds a ValidationError: past it, one last line says how many more there were.
const maxProblems = 100

// Problem is one thing wrong with a team document.
type Problem struct {
	// Path is the field, e.g. "spec.agents[1].model"; empty for the document as a whole.
	Path string
	// Line is the 1-based line in the document, 0 when unknown.
	Line int
	// Message says what is wrong, in one line.
	Message string
}

// String is "line 12: spec.agents[1].model: message".
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

// ValidationError lists every problem of a team document, in document order. Parse and Load return it for any
// document they reject.
type ValidationError struct {
	// File is the document's file name (set by Load).
	File     string
	Problems []Problem
	// Omitted counts the problems left out past the first hundred.
	Omitted int
}

// Error is one line per problem: "team.yaml:12: spec.agents[1].model: message".
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

func newProblems() *problems { return &problems{lines: map[string]int{}} }

// add records a problem. Paths and messages may echo what was written, so line breaks become spaces: one problem,
// one line.
func (ps *problems) add(path, format string, args ...any) {
	ps.addAt(ps.lineOf(path), path, format, args...)
}

// addAt records a problem at a line the decoder did not record (a YAML syntax error's).
func (ps *problems) addAt(line int, path, format string, args ...any) {
	msg := oneLine(fmt.Sprintf(format, args...))
	ps.list = append(ps.list, Problem{Path: oneLine(path), Line: line, Message: msg})
}

func oneLine(s string) string {
	if !strings.ContainsAny(s, "\r\n") {
		return s
	}
	return strings.NewReplacer("\r\n", " ", "\r", " ", "\n", " ").Replace(s)
}

// lineOf is the line of path or of its nearest recorded parent.
func (ps *problems) lineOf(path string) int {
	for path != "" {
		if l, ok := ps.lines[path]; ok {
			return l
		}
		path = parent(path)
	}
	return ps.lines[""]
}

// parent is the path one level up: "a.b[0]" → "a.b" → "a" → "".
func parent(path string) string {
	i := strings.LastIndexAny(path, ".[")
	if i < 0 {
		return ""
	}
	return path[:i]
}

// dropUnder drops the problems from index from on whose path is at or under the path of one of the problems
// before it: a field that could not be decoded already has its problem, and what validation says about it would
// only repeat it.
func (ps *problems) dropUnder(from int) {
	decoded := map[string]bool{}
	for _, p := range ps.list[:from] {
		decoded[p.Path] = true
	}
	kept := ps.list[:from]
	for _, p := range ps.list[from:] {
		if !coveredBy(p.Path, decoded) {
			kept = append(kept, p)
		}
	}
	ps.list = kept
}

// coveredBy reports whether path or one of its parents (the document, "", included) is in set.
func coveredBy(path string, set map[string]bool) bool {
	for ; path != ""; path = parent(path) {
		if set[path] {
			return true
		}
	}
	return set[""]
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
