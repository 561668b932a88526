package team

import (
	"fmt"
	"strings"
	"time"

	"github.com/agops/agops/internal/specyaml"
)

// document is the YAML document as written. Field names are the yaml tags; docs/team.schema.json lists the same
// fields (schema_test.go keeps the two in step).
type document struct {
	APIVersion string   `yaml:"apiVersion"`
	Kind       string   `yaml:"kind"`
	Metadata   metadata `yaml:"metadata"`
	Spec       spec     `yaml:"spec"`
}

type metadata struct {
	Name string `yaml:"name"`
}

type spec struct {
	Models modelList   `yaml:"models"`
	Agents []agentSpec `yaml:"agents"`
	Flow   *flowSpec   `yaml:"flow"`
	Input  inputSpec   `yaml:"input"`
	Output outputSpec  `yaml:"output"`
	Limits limitsSpec  `yaml:"limits"`
}

// modelList is spec.models, written as a mapping from a model's name to its endpoint; it keeps the document's
// order.
type modelList []modelSpec

// Keyed implements specyaml.KeyedList.
func (modelList) Keyed() {}

type modelSpec struct {
	Name        string   `yaml:"-"` // the mapping key
	BaseURL     string   `yaml:"baseURL"`
	Model       string   `yaml:"model"`
	APIKeyEnv   string   `yaml:"apiKeyEnv"`
	Temperature *float64 `yaml:"temperature"`
	MaxTokens   *int     `yaml:"maxTokens"`
}

type agentSpec struct {
	Name         string     `yaml:"name"`
	Role         string     `yaml:"role"`
	Model        string     `yaml:"model"`
	Instructions string     `yaml:"instructions"`
	Tools        []toolSpec `yaml:"tools"`
	MaxTurns     *int       `yaml:"maxTurns"`
	Budget       budgetSpec `yaml:"budget"`
}

// toolSpec is written "server/tool" or {server: s, tool: t, approval: true}.
type toolSpec struct {
	Short    bool   `yaml:"-"` // written as a string, which is in Ref
	Ref      string `yaml:"-"`
	Server   string `yaml:"server"`
	Tool     string `yaml:"tool"`
	Approval bool   `yaml:"approval"`
}

// FromString implements specyaml.StringShorthand: "server/tool". The builder checks the halves.
func (t *toolSpec) FromString(s string) {
	t.Short, t.Ref = true, s
	t.Server, t.Tool, _ = strings.Cut(s, "/")
}

type budgetSpec struct {
	Tokens    int64 `yaml:"tokens"`
	ToolCalls int   `yaml:"toolCalls"`
}

// flowSpec has exactly one of its fields set.
type flowSpec struct {
	Sequence []string      `yaml:"sequence"`
	Parallel *parallelSpec `yaml:"parallel"`
	Lead     *leadSpec     `yaml:"lead"`
}

type parallelSpec struct {
	Agents []string `yaml:"agents"`
	Merge  string   `yaml:"merge"`
}

type leadSpec struct {
	Agent     string   `yaml:"agent"`
	Delegates []string `yaml:"delegates"`
}

type inputSpec struct {
	Description string `yaml:"description"`
	Required    bool   `yaml:"required"`
}

type outputSpec struct {
	From string `yaml:"from"`
}

// limitsSpec has pointers so that an explicit 0 is refused rather than taken for "the default".
type limitsSpec struct {
	DefaultMaxTurns     *int      `yaml:"defaultMaxTurns"`
	ContinueAsNewTurns  *int      `yaml:"continueAsNewTurns"`
	ContinueAsNewEvents *int      `yaml:"continueAsNewEvents"`
	ApprovalTimeout     *Duration `yaml:"approvalTimeout"`
	ModelTimeout        *Duration `yaml:"modelTimeout"`
	ToolTimeout         *Duration `yaml:"toolTimeout"`
}

// DecodeScalar implements specyaml.Scalar: a Go duration string.
func (d *Duration) DecodeScalar(s string) error {
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("want a duration such as 90s, 10m or 1h30m, got %s", quote(s))
	}
	*d = Duration(v)
	return nil
}

// String is the duration as Go writes it: "1h0m0s".
func (d Duration) String() string { return time.Duration(d).String() }

// quote is specyaml.Quote: messages echo what was written, at most 40 runes of it.
func quote(s string) string { return specyaml.Quote(s) }
