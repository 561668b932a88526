package specyaml

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// MaxProblems bounds a ValidationError: past it, one last line says how many more there were.
const MaxProblems = 100

// Problem is one thing wrong with a document.
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

// ValidationError lists every problem of a document, in document order.
type ValidationError struct {
	// File is the document's file name (set by the caller that read it).
	File     string
	Problems []Problem
	// Omitted counts the problems left out past the first MaxProblems.
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

// Problems collects the Problems of one document while Decode decodes it and the caller validates it; a problem's
// line is the one Decode recorded for its path or the nearest parent. The zero value is ready to use.
type Problems struct {
	list  []Problem
	lines map[string]int // field path → line, recorded by the decoder
}

func (ps *Problems) init() {
	if ps.lines == nil {
		ps.lines = map[string]int{}
	}
}

// Add records a problem at path (a field path as Decode writes them: "spec.agents[1].model").
func (ps *Problems) Add(path, format string, args ...any) {
	ps.AddAt(ps.lineOf(path), path, format, args...)
}

// AddAt records a problem at a line Decode did not record. Paths and messages may echo what was written, so line
// breaks become spaces: one problem, one line.
func (ps *Problems) AddAt(line int, path, format string, args ...any) {
	msg := oneLine(fmt.Sprintf(format, args...))
	ps.list = append(ps.list, Problem{Path: oneLine(path), Line: line, Message: msg})
}

// Len is the number of problems recorded so far.
func (ps *Problems) Len() int { return len(ps.list) }

// DropUnder drops the problems recorded from index from on whose path is at or under the path of one recorded
// before it: a field that could not be decoded already has its problem, and what validation says about it (or
// inside it) would only repeat it.
func (ps *Problems) DropUnder(from int) {
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

// Err is nil without problems, else a *ValidationError with the problems in document order.
func (ps *Problems) Err() error {
	if len(ps.list) == 0 {
		return nil
	}
	list := append([]Problem(nil), ps.list...)
	sort.SliceStable(list, func(i, j int) bool { return list[i].Line < list[j].Line })
	e := &ValidationError{Problems: list}
	if len(e.Problems) > MaxProblems {
		e.Omitted, e.Problems = len(e.Problems)-MaxProblems, e.Problems[:MaxProblems]
	}
	return e
}

// Line is the line Decode recorded for path or for its nearest parent, 0 when unknown: for a caller that reports
// something that is not a problem (a warning) at a field.
func (ps *Problems) Line(path string) int { return ps.lineOf(path) }

// lineOf is the line of path or of its nearest recorded parent.
func (ps *Problems) lineOf(path string) int {
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

// coveredBy reports whether path or one of its parents (the document, "", included) is in set.
func coveredBy(path string, set map[string]bool) bool {
	for ; path != ""; path = parent(path) {
		if set[path] {
			return true
		}
	}
	return set[""]
}

func oneLine(s string) string {
	if !strings.ContainsAny(s, "\r\n") {
		return s
	}
	return strings.NewReplacer("\r\n", " ", "\r", " ", "\n", " ").Replace(s)
}

// Quote is strconv.Quote of at most 40 runes: messages echo what was written without flooding the line.
func Quote(s string) string {
	if utf8.RuneCountInString(s) <= 40 {
		return strconv.Quote(s)
	}
	r := []rune(s)
	return strconv.Quote(string(r[:40])) + "..."
}
