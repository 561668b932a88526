package team

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzParse feeds arbitrary bytes to Parse: it must return a team or a *ValidationError with one line per problem,
// never panic; a team it returns must have every reference resolved and its defaults filled in. The seed corpus is
// the testdata teams, the example and testdata/fuzz/FuzzParse.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.yaml")
	for _, in := range append(files, exampleTeam) {
		f.Add(readFile(f, in))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		team, err := Parse(data)
		if err != nil {
			var ve *ValidationError
			if team != nil || !errors.As(err, &ve) || len(ve.Problems) == 0 {
				t.Fatalf("Parse: team %v, error %T %v", team, err, err)
			}
			lines := len(ve.Problems)
			if ve.Omitted > 0 {
				lines++
			}
			if got := strings.Count(err.Error(), "\n") + 1; got != lines || strings.Contains(err.Error(), "goroutine ") {
				t.Fatalf("%d problems in %d lines:\n%v", lines, got, err)
			}
			return
		}
		if problem := resolved(team); problem != "" {
			t.Fatalf("Parse accepted a team with a problem: %s\n%+v", problem, team)
		}
	})
}
