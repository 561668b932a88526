package team

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"unicode"

	"github.com/agops/agops/internal/specyaml"
)

var (
	labelRE  = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)
	envRE    = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	serverRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$`) // the policy's server names
)

// builder validates a decoded document into a Team, reporting every problem it finds.
type builder struct {
	ps     *specyaml.Problems
	t      *Team
	models map[string]bool
	agents map[string]int    // agent name → index of its first declaration
	inFlow map[string]string // agent name → its path in spec.flow; nil when the flow has no valid shape
	// modelNames and agentNames list the declared names for messages, computed once each.
	modelNames, agentNames string
}

func build(doc *document, ps *specyaml.Problems) *Team {
	b := &builder{ps: ps, t: &Team{Name: doc.Metadata.Name}, models: map[string]bool{}, agents: map[string]int{}}
	b.header(doc)
	b.limits(doc.Spec.Limits)
	b.modelList(doc.Spec.Models)
	b.agentList(doc.Spec.Agents)
	b.flow(doc.Spec.Flow)
	b.unused(doc.Spec.Agents)
	b.output(doc.Spec.Output)
	b.t.Input = Input(doc.Spec.Input)
	return b.t
}

func (b *builder) header(doc *document) {
	if doc.APIVersion != APIVersion {
		b.ps.Add("apiVersion", "want %q, got %s", APIVersion, quote(doc.APIVersion))
	}
	if doc.Kind != Kind {
		b.ps.Add("kind", "want %q, got %s", Kind, quote(doc.Kind))
	}
	b.label("metadata.name", doc.Metadata.Name)
}

// label checks the name of the team, a model or an agent.
func (b *builder) label(path, name string) bool {
	switch {
	case name == "":
		b.ps.Add(path, "required")
	case !labelRE.MatchString(name):
		b.ps.Add(path, "%s is not a DNS label: lowercase letters, digits and '-', starting and ending with a letter or digit, at most 63", quote(name))
	default:
		return true
	}
	return false
}

func (b *builder) modelList(list modelList) {
	if len(list) == 0 {
		b.ps.Add("spec.models", "required: declare at least one model")
		return
	}
	names := make([]string, 0, len(list))
	for _, m := range list {
		path := specyaml.KeyPath("spec.models", m.Name)
		b.label(path, m.Name)
		b.models[m.Name] = true
		b.baseURL(path+".baseURL", m.BaseURL)
		b.word(path+".model", m.Model)
		if m.APIKeyEnv != "" && !envRE.MatchString(m.APIKeyEnv) {
			b.ps.Add(path+".apiKeyEnv", "%s is not an environment variable name: letters, digits and '_', not starting with a digit", quote(m.APIKeyEnv))
		}
		if t := m.Temperature; t != nil && !(*t >= 0 && *t <= 2) {
			b.ps.Add(path+".temperature", "must be between 0 and 2, got %v", *t)
		}
		maxTokens := 0
		if m.MaxTokens != nil && *m.MaxTokens < 1 {
			b.ps.Add(path+".maxTokens", "must be at least 1 (leave it out for the server's default), got %d", *m.MaxTokens)
		} else if m.MaxTokens != nil {
			maxTokens = *m.MaxTokens
		}
		b.t.Models = append(b.t.Models, Model{Name: m.Name, BaseURL: m.BaseURL, Model: m.Model,
			APIKeyEnv: m.APIKeyEnv, Temperature: m.Temperature, MaxTokens: maxTokens})
		names = append(names, m.Name)
	}
	b.modelNames = listNames(names)
}

// baseURL checks a model endpoint. Messages never echo the URL: it might hold a password.
func (b *builder) baseURL(path, raw string) {
	if raw == "" {
		b.ps.Add(path, "required")
		return
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		b.ps.Add(path, "not a valid URL")
	case u.User != nil:
		b.ps.Add(path, "credentials do not belong in the URL: put the API key in an environment variable and name it in apiKeyEnv")
	case u.Scheme != "http" && u.Scheme != "https":
		b.ps.Add(path, "want an http:// or https:// URL, got scheme %s", quote(u.Scheme))
	case u.Hostname() == "":
		b.ps.Add(path, "the URL has no host")
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "":
		b.ps.Add(path, "the URL must not have a query or fragment (the client appends /chat/completions)")
	}
}

// word checks a required value without whitespace.
func (b *builder) word(path, s string) {
	switch {
	case s == "":
		b.ps.Add(path, "required")
	case strings.ContainsFunc(s, unicode.IsSpace):
		b.ps.Add(path, "must not contain whitespace, got %s", quote(s))
	}
}

func (b *builder) intIn(path string, v *int, def, lo, hi int) int {
	if v == nil {
		return def
	}
	if *v < lo || *v > hi {
		b.ps.Add(path, "must be between %d and %d, got %d", lo, hi, *v)
		return def
	}
	return *v
}

func (b *builder) agentList(list []agentSpec) {
	if len(list) == 0 {
		b.ps.Add("spec.agents", "required: declare at least one agent")
	}
	var names []string
	for i, a := range list {
		path := fmt.Sprintf("spec.agents[%d]", i)
		if b.label(path+".name", a.Name) {
			if first, dup := b.agents[a.Name]; dup {
				b.ps.Add(path+".name", "duplicate name %q (first at spec.agents[%d])", a.Name, first)
			} else {
				b.agents[a.Name] = i
				names = append(names, a.Name)
			}
		}
		b.t.Agents = append(b.t.Agents, b.agent(path, a))
	}
	b.agentNames = listNames(names)
}

func (b *builder) agent(path string, a agentSpec) Agent {
	role := strings.TrimSpace(a.Role)
	switch {
	case role == "":
		b.ps.Add(path+".role", "required")
	case strings.ContainsFunc(role, notInLine):
		b.ps.Add(path+".role", "want one line, without line breaks or control characters (the instructions hold the rest)")
	}
	if strings.TrimSpace(a.Instructions) == "" {
		b.ps.Add(path+".instructions", "required")
	}
	for _, v := range []struct {
		field string
		n     int64
	}{{"tokens", a.Budget.Tokens}, {"toolCalls", int64(a.Budget.ToolCalls)}} {
		if v.n < 0 {
			b.ps.Add(path+".budget."+v.field, "must be 0 (unbounded) or more, got %d", v.n)
		}
	}
	return Agent{
		Name: a.Name, Role: role, Model: b.agentModel(path+".model", a.Model), Instructions: a.Instructions,
		Tools:    b.tools(path+".tools", a.Tools),
		MaxTurns: b.intIn(path+".maxTurns", a.MaxTurns, b.t.Limits.DefaultMaxTurns, 1, maxMaxTurns),
		Budget:   Budget{Tokens: max(a.Budget.Tokens, 0), ToolCalls: max(a.Budget.ToolCalls, 0)},
	}
}

// agentModel is the model an agent names, or the only one declared.
func (b *builder) agentModel(path, name string) string {
	models := b.t.Models
	switch {
	case len(models) == 0: // spec.models has its problem
	case name == "" && len(models) == 1:
		return models[0].Name
	case name == "":
		b.ps.Add(path, "required: spec.models declares %d models%s", len(models), inParens("", b.modelNames))
	case !b.models[name]:
		b.ps.Add(path, "unknown model %s%s", quote(name), inParens("spec.models has: ", b.modelNames))
	}
	return name
}

// notInLine reports a rune that does not belong in one line of text: a control character or a line separator.
func notInLine(r rune) bool { return unicode.IsControl(r) || r == '\u2028' || r == '\u2029' }

// inParens is " (prefix+list)", or "" for an empty list.
func inParens(prefix, list string) string {
	if list == "" {
		return ""
	}
	return " (" + prefix + list + ")"
}

// listNames is "a, b, c": the valid names (the others have their own problem), at most ten of them.
func listNames(all []string) string {
	var names []string
	for _, n := range all {
		if labelRE.MatchString(n) {
			names = append(names, n)
		}
	}
	if len(names) > 10 {
		return strings.Join(names[:10], ", ") + fmt.Sprintf(" and %d more", len(names)-10)
	}
	return strings.Join(names, ", ")
}
