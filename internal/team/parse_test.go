package team

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/agops/agops/internal/specyaml"
)

var update = flag.Bool("update", false, "rewrite the testdata/invalid-*.err golden files from the current errors")

const exampleTeam = "../../examples/ai-lab/team.yaml"

func readFile(tb testing.TB, path string) []byte {
	tb.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	return data
}

func mustLoad(tb testing.TB, path string) *Team {
	tb.Helper()
	t, err := Load(path)
	if err != nil {
		tb.Fatalf("loading %s:\n%v", path, err)
	}
	return t
}

// TestLoadInvalid loads every testdata/invalid-*.yaml and compares the whole error with the .err file next to it
// (go test ./internal/team -update rewrites them; review the diff).
func TestLoadInvalid(t *testing.T) {
	t.Parallel()
	files, _ := filepath.Glob("testdata/invalid-*.yaml")
	if len(files) < 20 {
		t.Fatalf("found %d invalid-*.yaml files, want at least 20", len(files))
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			t.Parallel()
			team, err := Load(f)
			var ve *ValidationError
			if team != nil || !errors.As(err, &ve) {
				t.Fatalf("want a *ValidationError and no team, got team %v, error %T %v", team, err, err)
			}
			if got, want := strings.Count(err.Error(), "\n")+1, len(ve.Problems); got != want {
				t.Errorf("%d lines for %d problems: one line per problem, please:\n%v", got, want, err)
			}
			golden := strings.TrimSuffix(f, ".yaml") + ".err"
			if *update {
				if err := os.WriteFile(golden, []byte(err.Error()+"\n"), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			if want := strings.TrimSuffix(string(readFile(t, golden)), "\n"); err.Error() != want {
				t.Errorf("got\n%v\nwant (%s)\n%s", err, golden, want)
			}
		})
	}
}

// TestProblemsInDocumentOrder: problems of every section come back together, sorted by line, each with its path.
func TestProblemsInDocumentOrder(t *testing.T) {
	t.Parallel()
	for _, f := range []string{"testdata/invalid-models.yaml", "testdata/invalid-agents.yaml", "testdata/invalid-tools.yaml"} {
		_, err := Parse(readFile(t, f))
		var ve *ValidationError
		if !errors.As(err, &ve) || len(ve.Problems) < 5 {
			t.Fatalf("%s: want at least 5 problems, got %v", f, err)
		}
		for i, p := range ve.Problems {
			if p.Line == 0 || p.Path == "" || (i > 0 && p.Line < ve.Problems[i-1].Line) {
				t.Errorf("%s: problem %d %+v: no line, no path, or out of order", f, i, p)
			}
		}
	}
}

func TestLoadErrors(t *testing.T) {
	t.Parallel()
	_, err := Load("testdata/invalid-header.yaml")
	if err == nil || !strings.HasPrefix(err.Error(), "testdata/invalid-header.yaml:2: apiVersion: ") {
		t.Errorf("want file:line: path: message, got %v", err)
	}
	if _, err := Load("testdata/no-such-file.yaml"); err == nil || !strings.Contains(err.Error(), "reading team") {
		t.Errorf("missing file: got %v", err)
	}
	_, err = Load("testdata/invalid-empty.yaml")
	if err == nil || err.Error() != "testdata/invalid-empty.yaml: empty document" {
		t.Errorf("a problem without a line: got %v", err)
	}
}

func TestParseTooLarge(t *testing.T) {
	t.Parallel()
	_, err := Parse(make([]byte, maxTeamBytes+1))
	if err == nil || err.Error() != "the document is larger than 1 MiB" {
		t.Errorf("got %v", err)
	}
}

// TestManyProblems: past a hundred problems, one last line counts the rest.
func TestManyProblems(t *testing.T) {
	t.Parallel()
	doc := "apiVersion: agops.dev/v1alpha1\nkind: AgentTeam\nmetadata: {name: many}\nspec:\n  agents:\n" +
		strings.Repeat("    - {name: BAD}\n", 150)
	_, err := Parse([]byte(doc))
	var ve *ValidationError
	if !errors.As(err, &ve) || len(ve.Problems) != specyaml.MaxProblems || ve.Omitted == 0 {
		t.Fatalf("want %d problems and more omitted, got %v", specyaml.MaxProblems, err)
	}
	if lines := strings.Split(err.Error(), "\n"); !strings.HasPrefix(lines[len(lines)-1], "... and ") {
		t.Errorf("last line %q", lines[len(lines)-1])
	}
}

// TestDocsExample parses the complete team at the top of docs/team.md.
func TestDocsExample(t *testing.T) {
	t.Parallel()
	doc := string(readFile(t, "../../docs/team.md"))
	_, rest, ok := strings.Cut(doc, "```yaml\napiVersion:")
	block, _, ok2 := strings.Cut(rest, "```")
	if !ok || !ok2 {
		t.Fatal("docs/team.md has no complete team example")
	}
	team, err := Parse([]byte("apiVersion:" + block))
	if err != nil {
		t.Fatal(err)
	}
	if len(team.Agents) < 2 || len(team.Models) == 0 {
		t.Errorf("the docs example is too small: %+v", team)
	}
}
