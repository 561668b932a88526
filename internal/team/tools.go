package team

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// delegateTool is the name of the tool a lead agent delegates with; no MCP tool may take it.
const delegateTool = "delegate"

// maxToolName bounds an MCP tool name, as the policy does.
const maxToolName = 128

// tools checks an agent's tool list: each tool well formed, none twice.
func (b *builder) tools(path string, list []toolSpec) []Tool {
	var out []Tool
	seen := map[Tool]string{}
	for i, ts := range list {
		p := fmt.Sprintf("%s[%d]", path, i)
		if !b.tool(p, ts) {
			continue
		}
		key := Tool{Server: ts.Server, Name: ts.Tool}
		if first, dup := seen[key]; dup {
			b.ps.Add(p, "tool %s listed twice (first at %s)", quote(ts.Server+"/"+ts.Tool), first)
			continue
		}
		seen[key] = p
		out = append(out, Tool{Server: ts.Server, Name: ts.Tool, Approval: ts.Approval})
	}
	return out
}

// tool checks one entry; a "server/tool" string has its problems at the entry's own path.
func (b *builder) tool(path string, ts toolSpec) bool {
	serverPath, toolPath := path+".server", path+".tool"
	if ts == (toolSpec{}) {
		b.ps.Add(path, "want \"server/tool\" or {server: ..., tool: ...}, got null")
		return false
	}
	if ts.Short {
		serverPath, toolPath = path, path
		if !strings.Contains(ts.Ref, "/") {
			b.ps.Add(path, "want \"server/tool\" or {server: ..., tool: ...}, got %s", quote(ts.Ref))
			return false
		}
	}
	sp, tp := serverProblem(ts.Server), toolProblem(ts.Tool)
	if sp != "" {
		b.ps.Add(serverPath, "%s", sp)
	}
	if tp != "" {
		b.ps.Add(toolPath, "%s", tp)
	}
	return sp == "" && tp == ""
}

// serverProblem says what is wrong with a tool server's name, or "".
func serverProblem(s string) string {
	switch {
	case s == "":
		return "the tool server is required (\"server/tool\")"
	case !serverRE.MatchString(s):
		return fmt.Sprintf("%s is not a tool server name (the policy's spec.servers[].name): letters, digits, '.', '_' and '-', starting with a letter or digit, at most 63", quote(s))
	}
	return ""
}

// toolProblem says what is wrong with an MCP tool name, or "".
func toolProblem(s string) string {
	switch {
	case s == "":
		return "the tool name is required (\"server/tool\")"
	case len(s) > maxToolName:
		return fmt.Sprintf("the tool name is longer than %d bytes", maxToolName)
	case !utf8.ValidString(s):
		return "the tool name is not valid UTF-8"
	case strings.ContainsFunc(s, func(r rune) bool { return unicode.IsSpace(r) || !unicode.IsPrint(r) }):
		return fmt.Sprintf("the tool name %s contains whitespace, a control or an invisible character", quote(s))
	case strings.Contains(s, "*"):
		return fmt.Sprintf("the tool name %s is a pattern: name each tool", quote(s))
	case s == delegateTool:
		return "\"delegate\" is reserved: it is the tool a lead agent delegates with"
	}
	return ""
}
