package policy

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

const examplePolicy = "../../examples/ai-lab/policy.yaml"

func readFile(tb testing.TB, path string) []byte {
	tb.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	return data
}

func mustLoad(tb testing.TB, path string) *Policy {
	tb.Helper()
	p, err := Load(path)
	if err != nil {
		tb.Fatalf("loading %s:\n%v", path, err)
	}
	return p
}

// wantLines are the "# want: <substring>" comments of an invalid-*.yaml file: each must be in Parse's error.
func wantLines(data []byte) []string {
	var out []string
	for _, l := range strings.Split(string(data), "\n") {
		if w, ok := strings.CutPrefix(l, "# want: "); ok {
			out = append(out, w)
		}
	}
	return out
}

func TestParseInvalid(t *testing.T) {
	t.Parallel()
	files, _ := filepath.Glob("testdata/invalid-*.yaml")
	if len(files) < 20 {
		t.Fatalf("found %d invalid-*.yaml files, want at least 20", len(files))
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			t.Parallel()
			data := readFile(t, f)
			wants := wantLines(data)
			if len(wants) == 0 {
				t.Fatal("the file has no '# want: ' line")
			}
			p, err := Parse(data)
			if err == nil || p != nil {
				t.Fatalf("Parse accepted it (policy %v)", p)
			}
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("error %T is not a *ValidationError: %v", err, err)
			}
			for _, w := range wants {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q; got:\n%v", w, err)
				}
			}
			if got, want := len(strings.Split(err.Error(), "\n")), len(ve.Problems); got != want {
				t.Errorf("%d lines for %d problems: one line per problem, please:\n%v", got, want, err)
			}
		})
	}
}

// TestParseReportsAll: problems in every section come back together, in document order.
func TestParseReportsAll(t *testing.T) {
	t.Parallel()
	_, err := Parse(readFile(t, "testdata/invalid-servers.yaml"))
	var ve *ValidationError
	if !errors.As(err, &ve) || len(ve.Problems) != 6 {
		t.Fatalf("want 6 problems, got %v", err)
	}
	for i := 1; i < len(ve.Problems); i++ {
		if ve.Problems[i].Line < ve.Problems[i-1].Line {
			t.Errorf("problems out of document order: %v", err)
		}
	}
}

func TestParseValid(t *testing.T) {
	t.Parallel()
	files, _ := filepath.Glob("testdata/valid-*.yaml")
	files = append(files, examplePolicy)
	if len(files) < 4 {
		t.Fatalf("found only %v", files)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			t.Parallel()
			p := mustLoad(t, f)
			if p.Name() == "" || len(p.Servers()) == 0 || len(p.Agents()) == 0 {
				t.Errorf("empty policy: name %q, servers %v, agents %v", p.Name(), p.Servers(), p.Agents())
			}
		})
	}
}

func TestLoadNamesTheFile(t *testing.T) {
	t.Parallel()
	_, err := Load("testdata/invalid-header.yaml")
	if err == nil || !strings.HasPrefix(err.Error(), "testdata/invalid-header.yaml:4: apiVersion: ") {
		t.Errorf("want file:line: path: message, got %v", err)
	}
	if _, err := Load("testdata/no-such-file.yaml"); err == nil || !strings.Contains(err.Error(), "reading policy") {
		t.Errorf("missing file: got %v", err)
	}
}

func TestParseTooLarge(t *testing.T) {
	t.Parallel()
	_, err := Parse(make([]byte, maxPolicyBytes+1))
	if err == nil || !strings.Contains(err.Error(), "larger than 8 MiB") {
		t.Errorf("got %v", err)
	}
}

func TestParseModel(t *testing.T) {
	t.Parallel()
	p := mustLoad(t, "testdata/valid-fleet.yaml")
	wantServers := []Server{
		{Name: "tools", URL: "http://mcp-tools:8811/mcp", Kind: "mcp"},
		{Name: "files", URL: "https://files.internal/mcp", Kind: "mcp"},
		{Name: "tickets", URL: "http://tickets:8080", Kind: "http"},
	}
	if got := p.Servers(); !reflect.DeepEqual(got, wantServers) {
		t.Errorf("Servers() = %v, want %v", got, wantServers)
	}
	wantAgents := []string{"ai-lab-ai-lab/agent-worker", "ai-lab-ai-lab/reviewer", "local/dev-agent", "ops/bot"}
	if got := p.Agents(); !reflect.DeepEqual(got, wantAgents) {
		t.Errorf("Agents() = %v, want %v", got, wantAgents)
	}
	p.Servers()[0].Name = "changed"
	if p.Servers()[0].Name != "tools" {
		t.Error("Servers() shares its slice with the policy")
	}
}

func TestParseAnchors(t *testing.T) {
	t.Parallel()
	p := mustLoad(t, "testdata/valid-anchors.yaml")
	for _, tc := range []struct {
		agent, tool string
		want        Verdict
		limits      Limits
	}{
		{"ns/a", "echo", Allow, Limits{CallsPerMinute: 30, CallsPerDay: 1000}},
		{"ns/a", "add", Deny, Limits{CallsPerMinute: 30, CallsPerDay: 1000}},
		{"ns/b", "echo", Allow, Limits{CallsPerMinute: 5, CallsPerDay: 1000}},
		{"ns/b", "add", Approve, Limits{CallsPerMinute: 5, CallsPerDay: 1000}},
	} {
		d := p.Decide(Call{Agent: tc.agent, Server: "tools", Tool: tc.tool})
		if d.Verdict != tc.want || d.Limits != tc.limits {
			t.Errorf("%s %s: got %+v, want %s with %+v", tc.agent, tc.tool, d, tc.want, tc.limits)
		}
	}
}

func TestApprovalTimeouts(t *testing.T) {
	t.Parallel()
	p := mustLoad(t, "testdata/valid-fleet.yaml")
	for _, tc := range []struct {
		tool string
		want time.Duration
	}{
		{"send_email", 10 * time.Minute},   // the grant's own
		{"weekly_report", 3 * time.Minute}, // spec.defaults.approvalTimeout
	} {
		d := p.Decide(Call{Agent: "ai-lab-ai-lab/agent-worker", Server: "tools", Tool: tc.tool})
		if d.Verdict != Approve || d.ApprovalTimeout != tc.want {
			t.Errorf("%s: got %+v, want approval within %s", tc.tool, d, tc.want)
		}
	}
	p = mustLoad(t, "testdata/valid-anchors.yaml")
	if d := p.Decide(Call{Agent: "ns/b", Server: "tools", Tool: "add"}); d.ApprovalTimeout != defaultApprovalTimeout {
		t.Errorf("built-in default: got %s", d.ApprovalTimeout)
	}
}

// TestDocsExample parses the complete policy at the top of docs/policy.md.
func TestDocsExample(t *testing.T) {
	t.Parallel()
	doc := string(readFile(t, "../../docs/policy.md"))
	_, rest, ok := strings.Cut(doc, "```yaml\napiVersion:")
	block, _, ok2 := strings.Cut(rest, "```")
	if !ok || !ok2 {
		t.Fatal("docs/policy.md has no complete policy example")
	}
	p, err := Parse([]byte("apiVersion:" + block))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		call Call
		want Verdict
	}{
		{Call{Agent: worker, Server: "tools", Tool: "search"}, Allow},
		{Call{Agent: worker, Server: "tools", Tool: "fetch_page", Args: []byte(`{"url":"http://x"}`)}, Deny},
		{Call{Agent: worker, Server: "tools", Tool: "send_email"}, Approve},
		{Call{Agent: worker, Server: "tickets", Method: "GET", Path: "/v1/tickets/1"}, Allow},
		{Call{Agent: reviewer, Server: "tools", Tool: "delete_x", Args: []byte(`{"id":"tmp-1"}`)}, Allow},
	} {
		if d := p.Decide(tc.call); d.Verdict != tc.want {
			t.Errorf("%+v: got %+v, want %s", tc.call, d, tc.want)
		}
	}
}

// TestAggregate: an aggregate keeps its members, and a call judged against the aggregate itself is refused: the
// gateway judges calls through it as calls to its members.
func TestAggregate(t *testing.T) {
	p := mustLoad(t, "testdata/valid-aggregate.yaml")
	var agg Server
	for _, s := range p.Servers() {
		if s.Name == "mcp-gateway" {
			agg = s
		}
	}
	if agg.Kind != "mcp" || agg.URL != "" || strings.Join(agg.Members, ",") != "mcp-gateway-duckduckgo,mcp-gateway-fetch" {
		t.Fatalf("aggregate %+v", agg)
	}
	if d := p.Decide(Call{Agent: "lab/agent", Server: "mcp-gateway", Tool: "search", Args: []byte(`{}`)}); d.Verdict == Allow {
		t.Errorf("a call judged against the aggregate itself was allowed: %+v", d)
	}
	if d := p.Decide(Call{Agent: "lab/agent", Server: "mcp-gateway-duckduckgo", Tool: "search", Args: []byte(`{}`)}); d.Verdict != Allow {
		t.Errorf("a granted call to a member was refused: %+v", d)
	}
}
