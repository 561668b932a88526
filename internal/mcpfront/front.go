// Package mcpfront serves the tools of other MCP servers as one MCP server. Two parts of agops are this: the stdio
// bridge (agops mcp-bridge), which serves over HTTP a catalog server that speaks MCP only on its standard input and
// output, and the gateway's aggregate, which serves the servers Docker's MCP gateway was told to run behind the one
// name agents call.
//
// A front is a real MCP server (the go-sdk's) on one side and real MCP client sessions on the other: every request
// is parsed once, by the SDK, and every call to a member is a new, well-formed request, so nothing an agent sends
// reaches a member in a form the front did not understand.
package mcpfront

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// Member is one upstream MCP server of a front, by the name the front reports it under.
type Member struct {
	Name    string
	Session *mcp.ClientSession
	// Connect, if set, opens a new session when the last one broke (a transport error: the session may be gone
	// upstream), for the next request; the request that met the error is not retried, since it may have run.
	Connect func(context.Context) (*mcp.ClientSession, error)

	broken bool
}

// Front is an MCP server offering the tools of its members.
type Front struct {
	Server *mcp.Server

	mu        sync.Mutex
	members   []Member
	owner     map[string]string // tool name -> member name
	conflicts []Conflict
}

// Conflict is a tool name two members offer: the front serves the first member's (in the order given) and hides
// the other's.
type Conflict struct {
	Tool          string
	Served, Other string
}

func (c Conflict) String() string {
	return fmt.Sprintf("tool %s of %s is hidden: %s offers one of that name", c.Tool, c.Other, c.Served)
}

// New makes a front named impl over members and lists their tools. A member whose tools cannot be listed fails it.
func New(ctx context.Context, impl *mcp.Implementation, members []Member) (*Front, error) {
	f := &Front{
		Server:  mcp.NewServer(impl, &mcp.ServerOptions{HasTools: true}),
		members: slices.Clone(members),
		owner:   map[string]string{},
	}
	if err := f.Refresh(ctx); err != nil {
		return nil, err
	}
	return f, nil
}

// Refresh lists the members' tools again and serves what changed (a member's tools/list_changed calls it).
func (f *Front) Refresh(ctx context.Context) error {
	type listed struct {
		member string
		tools  []*mcp.Tool
	}
	var all []listed
	for _, m := range f.memberNames() {
		s, err := f.session(ctx, m)
		if err != nil {
			return fmt.Errorf("listing the tools of %s: %w", m, err)
		}
		var tools []*mcp.Tool
		for t, err := range s.Tools(ctx, nil) {
			if err != nil {
				f.broke(m, s, err)
				return fmt.Errorf("listing the tools of %s: %w", m, err)
			}
			tools = append(tools, t)
		}
		all = append(all, listed{m, tools})
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	owner := map[string]string{}
	var conflicts []Conflict
	var add []*mcp.Tool
	for _, l := range all {
		for _, t := range l.tools {
			if served, ok := owner[t.Name]; ok {
				conflicts = append(conflicts, Conflict{Tool: t.Name, Served: served, Other: l.member})
				continue
			}
			owner[t.Name] = l.member
			add = append(add, t)
		}
	}
	var gone []string
	for name := range f.owner {
		if _, ok := owner[name]; !ok {
			gone = append(gone, name)
		}
	}
	sort.Strings(gone)
	if len(gone) > 0 {
		f.Server.RemoveTools(gone...)
	}
	for _, t := range add {
		member := owner[t.Name]
		tool := *t
		if tool.InputSchema == nil {
			tool.InputSchema = map[string]any{"type": "object"}
		}
		f.Server.AddTool(&tool, f.forward(member, t.Name))
	}
	f.owner, f.conflicts = owner, conflicts
	return nil
}

// Conflicts are the tool names more than one member offers, as of the last listing.
func (f *Front) Conflicts() []Conflict {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.conflicts)
}

// forward calls tool on member with the arguments the agent sent, as they were sent: the member validates them.
func (f *Front) forward(member, tool string) mcp.ToolHandler {
	return func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		s, err := f.session(ctx, member)
		if err != nil {
			return nil, &jsonrpc.Error{Code: jsonrpc.CodeInternalError, Message: fmt.Sprintf("%s: the server of this tool (%s) did not answer", tool, member)}
		}
		res, err := s.CallTool(ctx, &mcp.CallToolParams{Name: tool, Arguments: req.Params.Arguments, Meta: req.Params.Meta})
		var wire *jsonrpc.Error
		if err != nil && !errors.As(err, &wire) {
			// A transport failure's text names the member's session and address: the agent learns only which
			// member failed. The next request opens a new session.
			f.broke(member, s, err)
			return nil, &jsonrpc.Error{Code: jsonrpc.CodeInternalError, Message: fmt.Sprintf("%s: the server of this tool (%s) did not answer", tool, member)}
		}
		// A member's JSON-RPC error goes back as it came (the SDK sends a wire error unchanged).
		return res, err
	}
}

func (f *Front) memberNames() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	names := make([]string, len(f.members))
	for i, m := range f.members {
		names[i] = m.Name
	}
	return names
}

// session is the member's session, a new one if the last broke and the member can reconnect.
func (f *Front) session(ctx context.Context, member string) (*mcp.ClientSession, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := range f.members {
		m := &f.members[i]
		if m.Name != member {
			continue
		}
		if m.broken && m.Connect != nil {
			s, err := m.Connect(ctx)
			if err != nil {
				return nil, err
			}
			_ = m.Session.Close()
			m.Session, m.broken = s, false
		}
		return m.Session, nil
	}
	return nil, fmt.Errorf("member %s is gone", member)
}

// broke marks the member's session s as broken by err (unless it was replaced already).
func (f *Front) broke(member string, s *mcp.ClientSession, _ error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := range f.members {
		if f.members[i].Name == member && f.members[i].Session == s {
			f.members[i].broken = true
		}
	}
}

// Close ends the members' sessions.
func (f *Front) Close() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, m := range f.members {
		_ = m.Session.Close()
	}
}
