package team

import (
	"fmt"
	"io"
	"os"
	"time"

	"github.com/agops/agops/internal/specyaml"
)

// maxTeamBytes bounds a team document.
const maxTeamBytes = 1 << 20

// limits bound a team document: 1 MiB, and 100,000 YAML nodes once aliases are expanded, so that a few kilobytes of
// nested aliases cannot grow into millions of agents.
var limits = specyaml.Limits{MaxBytes: maxTeamBytes, MaxNodes: 100_000}

// ValidationError lists every problem of a team document, in document order, one line each:
// "team.yaml:12: spec.agents[1].model: message". Parse and Load return it for any document they reject.
type ValidationError = specyaml.ValidationError

// Problem is one thing wrong with a team document: its field path (e.g. "spec.agents[1].model"), line and message.
type Problem = specyaml.Problem

// Bounds and defaults of spec.limits and of an agent's maxTurns.
const (
	defaultMaxTurns            = 10
	maxMaxTurns                = 1000
	defaultContinueAsNewTurns  = 50
	maxContinueAsNewTurns      = 10_000
	defaultContinueAsNewEvents = 10_000
	minContinueAsNewEvents     = 100
	maxContinueAsNewEvents     = 50_000 // Temporal fails a workflow whose history passes 51,200 events
	defaultApprovalTimeout     = time.Hour
	maxApprovalTimeout         = 7 * 24 * time.Hour
	defaultModelTimeout        = 2 * time.Minute
	defaultToolTimeout         = 5 * time.Minute
	maxCallTimeout             = time.Hour
)

// DefaultLimits is spec.limits when the document sets none of them.
func DefaultLimits() Limits {
	return Limits{
		DefaultMaxTurns:     defaultMaxTurns,
		ContinueAsNewTurns:  defaultContinueAsNewTurns,
		ContinueAsNewEvents: defaultContinueAsNewEvents,
		ApprovalTimeout:     Duration(defaultApprovalTimeout),
		ModelTimeout:        Duration(defaultModelTimeout),
		ToolTimeout:         Duration(defaultToolTimeout),
	}
}

// Parse validates an AgentTeam document and fills in its defaults. Any problem makes it fail with a
// *ValidationError listing all of them, one per line with its field path and line.
func Parse(data []byte) (*Team, error) {
	var ps specyaml.Problems
	var doc document
	if !specyaml.Decode(data, &doc, limits, &ps) {
		return nil, ps.Err()
	}
	// Validate what could be decoded too, so that one run reports everything; a field that could not be decoded
	// already has its problem, and what validation says about it (or inside it) would only repeat it.
	decoded := ps.Len()
	t := build(&doc, &ps)
	ps.DropUnder(decoded)
	if err := ps.Err(); err != nil {
		return nil, err
	}
	return t, nil
}

// Load reads and parses a team file. Problems name the file: "team.yaml:12: spec.agents[1].model: ...".
func Load(path string) (*Team, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("reading team: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxTeamBytes+1))
	if err != nil {
		return nil, fmt.Errorf("reading team %s: %w", path, err)
	}
	t, err := Parse(data)
	if ve, ok := err.(*ValidationError); ok {
		ve.File = path
	}
	return t, err
}
