package model

import (
	"cmp"
	"slices"
)

// Outcome says how a Compose key was carried over.
type Outcome string

// The outcomes a Decision can have.
const (
	// Mapped: Kubernetes does what Compose did.
	Mapped Outcome = "mapped"
	// Approximated: Kubernetes does something close; the reason says what differs.
	Approximated Outcome = "approximated"
	// Dropped: nothing in the output corresponds; the reason says why that is safe or what to do.
	Dropped Outcome = "dropped"
	// NeedsInput: a person must decide; the hint says what to add. --strict turns these into errors.
	NeedsInput Outcome = "needs-input"
)

// Decision records what one rule did with one Compose key of one service ("" for project-level keys).
type Decision struct {
	Service string  `json:"service"`
	Key     string  `json:"key"`
	Outcome Outcome `json:"outcome"`
	Reason  string  `json:"reason"`
	Hint    string  `json:"hint,omitempty"`
	// Security marks findings that weaken isolation (host access, privileged); the report lists them first.
	Security bool `json:"security,omitempty"`
}

// SortDecisions orders decisions by service, then key, keeping rule order among equals.
func SortDecisions(ds []Decision) {
	slices.SortStableFunc(ds, func(a, b Decision) int {
		return cmp.Or(cmp.Compare(a.Service, b.Service), cmp.Compare(a.Key, b.Key))
	})
}

// NeedingInput returns the decisions a person must act on.
func NeedingInput(ds []Decision) []Decision {
	var out []Decision
	for _, d := range ds {
		if d.Outcome == NeedsInput {
			out = append(out, d)
		}
	}
	return out
}
