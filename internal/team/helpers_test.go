package team

import (
	"reflect"
	"testing"
	"time"
)

func TestOutputAgentAndMembers(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		file    string
		members []string
		output  string
	}{
		{"testdata/valid-minimal.yaml", []string{"helper"}, "helper"},
		{"testdata/valid-lead.yaml", []string{"editor", "researcher", "writer"}, "editor"},
		{"testdata/valid-parallel.yaml", []string{"optimist", "pessimist", "realist", "chair"}, "chair"},
		{"testdata/valid-parallel-join.yaml", []string{"a", "b"}, ""},
		{"testdata/valid-anchors.yaml", []string{"first", "second"}, "first"}, // output.from
		{exampleTeam, []string{"researcher", "writer"}, "writer"},
	} {
		t.Run(tc.file, func(t *testing.T) {
			t.Parallel()
			team := mustLoad(t, tc.file)
			if got := team.Members(); !reflect.DeepEqual(got, tc.members) {
				t.Errorf("Members() = %v, want %v", got, tc.members)
			}
			if got := team.OutputAgent(); got != tc.output {
				t.Errorf("OutputAgent() = %q, want %q", got, tc.output)
			}
		})
	}
}

func TestMembersIsACopy(t *testing.T) {
	t.Parallel()
	team := mustLoad(t, "testdata/valid-parallel.yaml")
	team.Members()[0] = "changed"
	if team.Flow.Agents[0] != "optimist" {
		t.Error("Members() shares its slice with the team")
	}
}

func TestAgentAndModelOf(t *testing.T) {
	t.Parallel()
	team := mustLoad(t, "testdata/valid-lead.yaml")
	for _, tc := range []struct {
		agent, model string // model "" : no such agent
	}{
		{"editor", "large"}, {"researcher", "small"}, {"writer", "small"}, {"nobody", ""}, {"", ""},
	} {
		a, ok := team.Agent(tc.agent)
		if ok != (tc.model != "") || ok != (a != nil) {
			t.Errorf("Agent(%q) = %v, %v", tc.agent, a, ok)
			continue
		}
		m := team.ModelOf(a)
		if (m == nil) != (tc.model == "") || (m != nil && m.Name != tc.model) {
			t.Errorf("ModelOf(%q) = %+v, want %q", tc.agent, m, tc.model)
		}
	}
	a, _ := team.Agent("writer")
	a.MaxTurns = 99
	if team.Agents[2].MaxTurns != 99 {
		t.Error("Agent does not point into the team")
	}
	if m := team.ModelOf(&Agent{Model: "huge"}); m != nil {
		t.Errorf("ModelOf an unknown model = %+v", m)
	}
}

// TestHelpersOnHandBuiltTeams: the helpers work on teams other code builds, not only on parsed ones.
func TestHelpersOnHandBuiltTeams(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		team    Team
		members []string
		output  string
	}{
		{"zero", Team{}, []string{}, ""},
		{"empty sequence", Team{Flow: Flow{Mode: Sequence}}, []string{}, ""},
		{"sequence", Team{Flow: Flow{Mode: Sequence, Agents: []string{"a", "b"}}}, []string{"a", "b"}, "b"},
		{"output wins", Team{Flow: Flow{Mode: Lead, Lead: "l", Agents: []string{"d"}}, Output: Output{From: "d"}}, []string{"l", "d"}, "d"},
		{"parallel", Team{Flow: Flow{Mode: Parallel, Agents: []string{"a", "b"}, Merge: "m"}}, []string{"a", "b", "m"}, "m"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := tc.team.Members(); !reflect.DeepEqual(got, tc.members) {
				t.Errorf("Members() = %#v, want %#v", got, tc.members)
			}
			if got := tc.team.OutputAgent(); got != tc.output {
				t.Errorf("OutputAgent() = %q, want %q", got, tc.output)
			}
		})
	}
	if (&Team{}).ModelOf(nil) != nil {
		t.Error("ModelOf(nil) is not nil")
	}
}

func TestDurationString(t *testing.T) {
	t.Parallel()
	if got := Duration(90 * time.Second).String(); got != "1m30s" {
		t.Errorf("got %q", got)
	}
}
