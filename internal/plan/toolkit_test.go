package plan

import (
	"reflect"
	"slices"
	"strings"
	"testing"
)

func TestIsToolkitImage(t *testing.T) {
	for image, want := range map[string]bool{
		"docker/mcp-gateway":                     true,
		"docker/mcp-gateway:latest":              true,
		"docker/mcp-gateway:v2@sha256:0123abcd":  true,
		"docker.io/docker/mcp-gateway":           true,
		"index.docker.io/docker/mcp-gateway:v1":  true,
		"DOCKER/MCP-GATEWAY":                     true,
		"ghcr.io/docker/mcp-gateway":             false, // not Docker's image
		"docker/mcp-gateway-extra":               false,
		"mcp/duckduckgo":                         false,
		"registry.local:5000/docker/mcp-gateway": false,
	} {
		if got := isToolkitImage(image); got != want {
			t.Errorf("isToolkitImage(%q) = %v, want %v", image, got, want)
		}
	}
}

func TestParseToolkitArgs(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want toolkitGateway
		port int
	}{{
		name: "Docker's examples",
		args: []string{"--transport=sse", "--servers=duckduckgo", "--tools=search,fetch_content"},
		want: toolkitGateway{Servers: []string{"duckduckgo"}, Tools: []string{"fetch_content", "search"}, Transport: "sse"},
		port: 8811,
	}, {
		name: "values after the flag, lists repeated and deduplicated, the last string wins",
		args: []string{"--servers", "github-official,fetch", "--servers=fetch", "--transport", "stdio", "--transport=streaming", "--port", "9390"},
		want: toolkitGateway{Servers: []string{"fetch", "github-official"}, Transport: "streaming", Port: 9390},
		port: 9390,
	}, {
		name: "the subcommand repeated, catalogs, secrets, booleans",
		args: []string{"gateway", "run", "--catalog=/mcp/catalog.yaml", "--additional-catalog", "extra.yaml", "--secrets=docker-desktop:/run/secrets/mcp_secret", "--static", "--long-lived=false", "--enable-all-servers=true"},
		want: toolkitGateway{Catalogs: []string{"/mcp/catalog.yaml", "extra.yaml"}, Secrets: []string{"docker-desktop", "/run/secrets/mcp_secret"}, Static: true, EnableAll: true},
	}, {
		name: "flags that change nothing in a cluster are kept for the report",
		args: []string{"--verbose", "--cpus=2", "--memory", "1Gb", "--log-calls=false", "--servers=time"},
		want: toolkitGateway{Servers: []string{"time"}, Ignored: []string{"--verbose=true", "--cpus=2", "--memory=1Gb", "--log-calls=false"}},
	}, {
		name: "a quoted list value, interceptors one per flag",
		args: []string{`--tools="a,b",c`, "--interceptor=before:exec:/bin/x,y"},
		want: toolkitGateway{Tools: []string{"a,b", "c"}, Interceptors: []string{"before:exec:/bin/x,y"}},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseToolkitArgs(tc.args)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got  %+v\nwant %+v", got, tc.want)
			}
			if got.port() != tc.port {
				t.Errorf("port %d, want %d", got.port(), tc.port)
			}
		})
	}
}

func TestParseToolkitArgsRefuses(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--servers"}, "needs a value"},
		{[]string{"--servers", "--tools=x"}, "needs a value"},
		{[]string{"--transport=carrier-pigeon"}, "want stdio, sse or streaming"},
		{[]string{"--port=70000"}, "not a port"},
		{[]string{"--port=http"}, "not a port"},
		{[]string{"--static=maybe"}, "not a boolean"},
		{[]string{"--unheard-of"}, "unknown flag --unheard-of"},
		{[]string{"duckduckgo"}, `argument "duckduckgo"`},
		{[]string{"-servers=x"}, `argument "-servers=x"`},
		{[]string{"--servers=Upper"}, "not a catalog server name"},
		{[]string{"--servers=../etc"}, "not a catalog server name"},
		{[]string{`--servers="unterminated`}, "flag --servers"},
	} {
		_, err := parseToolkitArgs(tc.args)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("parseToolkitArgs(%q) = %v, want an error with %q", tc.args, err, tc.want)
		}
	}
}

func TestToolkitToolsOf(t *testing.T) {
	g := toolkitGateway{Tools: []string{"github:get_me", "search", "fetch:fetch"}}
	if tools, all := g.toolsOf("github"); all || !slices.Equal(tools, []string{"get_me", "search"}) {
		t.Errorf("github: %q %v", tools, all)
	}
	if tools, all := g.toolsOf("duckduckgo"); all || !slices.Equal(tools, []string{"search"}) {
		t.Errorf("duckduckgo: %q %v", tools, all)
	}
	if _, all := (toolkitGateway{}).toolsOf("x"); !all {
		t.Error("no --tools: every tool")
	}
}

// FuzzToolkitArgs: any command gives a reading or an error, never a panic, and a reading is stable: the flags it
// stands for read back to the same thing.
func FuzzToolkitArgs(f *testing.F) {
	f.Add("--transport=sse\x00--servers=duckduckgo\x00--tools=search,fetch_content")
	f.Add("gateway\x00run\x00--servers\x00a,b\x00--port\x008811\x00--static")
	f.Add(`--tools="a,b",c` + "\x00--secrets=docker-desktop:/x")
	f.Fuzz(func(t *testing.T, joined string) {
		g, err := parseToolkitArgs(strings.Split(joined, "\x00"))
		if err != nil {
			return
		}
		again, err := parseToolkitArgs(g.flags())
		if err != nil {
			t.Fatalf("%q read as %+v, whose flags %q do not read: %v", joined, g, g.flags(), err)
		}
		g.Ignored, again.Ignored = nil, nil
		if !reflect.DeepEqual(g, again) {
			t.Fatalf("%q read as %+v, its flags %q as %+v", joined, g, g.flags(), again)
		}
	})
}
