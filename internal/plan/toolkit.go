package plan

import (
	"encoding/csv"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Docker's MCP gateway (the image docker/mcp-gateway, `docker mcp gateway run`) starts the MCP servers it is told to
// from Docker's catalog as containers, through the Docker API (use_api_socket or a mounted docker.sock), and serves
// their tools as one MCP server. A cluster has no Docker API to give it. This file reads what the container was told
// to do; toolkitGateway is that reading.

// toolkitImage is the repository of Docker's MCP gateway.
const toolkitImage = "docker/mcp-gateway"

// toolkitDefaultPort is the port Docker's examples reach the gateway on when its command names none.
const toolkitDefaultPort = 8811

// isToolkitImage tells whether image is Docker's MCP gateway, by any tag or digest, on Docker Hub by any spelling.
func isToolkitImage(image string) bool {
	ref, _, _ := strings.Cut(strings.ToLower(image), "@")
	if i := strings.LastIndex(ref, ":"); i > strings.LastIndex(ref, "/") {
		ref = ref[:i]
	}
	for _, prefix := range []string{"docker.io/", "index.docker.io/", "registry-1.docker.io/"} {
		ref = strings.TrimPrefix(ref, prefix)
	}
	return ref == toolkitImage
}

// toolkitGateway is what a docker/mcp-gateway container's command asks for.
type toolkitGateway struct {
	Servers      []string // --servers: catalog servers to run
	Tools        []string // --tools: the tools to serve (all when empty); "server:tool" or "tool"
	Transport    string   // --transport: stdio, sse or streaming
	Port         int      // --port; 0 when not given
	Catalogs     []string // --catalog and --additional-catalog: catalog files
	Configs      []string // --config and --additional-config: server configuration files
	Secrets      []string // --secrets: where secrets are looked up, in order (docker-desktop or .env files)
	Interceptors []string // --interceptor: when:type:path
	OCIRefs      []string // --oci-ref: servers from OCI references
	Registries   []string // --mcp-registry: servers from MCP registries
	EnableAll    bool     // --enable-all-servers
	Static       bool     // --static: servers already running (sidecars), reached by the gateway
	LongLived    bool     // --long-lived
	Ignored      []string // flags that change nothing in the cluster, as given
}

// toolkitFlag is how one flag of `docker mcp gateway run` is read.
type toolkitFlag struct {
	kind flagKind
	set  func(*toolkitGateway, string) error
}

type flagKind int

const (
	flagBool   flagKind = iota // --x, --x=true|false
	flagString                 // --x=v or --x v; the last one counts
	flagSlice                  // comma-separated values (quoted as CSV), repeatable
	flagArray                  // one value per flag, repeatable
)

// toolkitFlags are the flags of `docker mcp gateway run` that change what runs or what is served. The others that
// command knows are listed in toolkitIgnored.
var toolkitFlags = map[string]toolkitFlag{
	"servers":            {flagSlice, func(g *toolkitGateway, v string) error { g.Servers = append(g.Servers, v); return nil }},
	"tools":              {flagSlice, func(g *toolkitGateway, v string) error { g.Tools = append(g.Tools, v); return nil }},
	"catalog":            {flagSlice, func(g *toolkitGateway, v string) error { g.Catalogs = append(g.Catalogs, v); return nil }},
	"additional-catalog": {flagSlice, func(g *toolkitGateway, v string) error { g.Catalogs = append(g.Catalogs, v); return nil }},
	"config":             {flagSlice, func(g *toolkitGateway, v string) error { g.Configs = append(g.Configs, v); return nil }},
	"additional-config":  {flagSlice, func(g *toolkitGateway, v string) error { g.Configs = append(g.Configs, v); return nil }},
	"interceptor":        {flagArray, func(g *toolkitGateway, v string) error { g.Interceptors = append(g.Interceptors, v); return nil }},
	"oci-ref":            {flagArray, func(g *toolkitGateway, v string) error { g.OCIRefs = append(g.OCIRefs, v); return nil }},
	"mcp-registry":       {flagSlice, func(g *toolkitGateway, v string) error { g.Registries = append(g.Registries, v); return nil }},
	"secrets": {flagString, func(g *toolkitGateway, v string) error {
		g.Secrets = nil
		for _, s := range strings.Split(v, ":") {
			if s != "" {
				g.Secrets = append(g.Secrets, s)
			}
		}
		return nil
	}},
	"transport": {flagString, func(g *toolkitGateway, v string) error {
		switch v {
		case "stdio", "sse", "streaming":
			g.Transport = v
			return nil
		}
		return fmt.Errorf("--transport=%s: want stdio, sse or streaming", v)
	}},
	"port": {flagString, func(g *toolkitGateway, v string) error {
		p, err := strconv.Atoi(v)
		if err != nil || p < 0 || p > 65535 {
			return fmt.Errorf("--port=%s: not a port", v)
		}
		g.Port = p
		return nil
	}},
	"enable-all-servers": {flagBool, func(g *toolkitGateway, v string) error { return setBool(&g.EnableAll, v) }},
	"static":             {flagBool, func(g *toolkitGateway, v string) error { return setBool(&g.Static, v) }},
	"long-lived":         {flagBool, func(g *toolkitGateway, v string) error { return setBool(&g.LongLived, v) }},
}

// toolkitIgnored are the flags of `docker mcp gateway run` that govern how Docker runs the servers' containers, or
// what the gateway logs, which the cluster decides its own way (resources, images, networks, logs), or which only
// choose servers when --servers is not given. Each takes a value unless it is a bool.
var toolkitIgnored = map[string]flagKind{
	"block-network": flagBool, "block-secrets": flagBool, "debug-dns": flagBool, "dry-run": flagBool,
	"log-calls": flagBool, "verbose": flagBool, "verify-signatures": flagBool, "watch": flagBool,
	"allow-unauthenticated": flagBool, "cpus": flagString, "memory": flagString, "registry": flagSlice,
	"additional-registry": flagSlice, "tools-config": flagSlice, "additional-tools-config": flagSlice,
}

func setBool(b *bool, v string) error {
	x, err := strconv.ParseBool(v)
	if err != nil {
		return fmt.Errorf("not a boolean: %q", v)
	}
	*b = x
	return nil
}

// parseToolkitArgs reads the command of a docker/mcp-gateway container the way the gateway's own flag parser does:
// `--flag=value` or `--flag value`, comma-separated lists that may repeat, booleans that take an optional
// `=true|false`. A leading `gateway run` (the subcommand, when the command repeats it) is skipped. An unknown flag or
// a stray argument is an error: the cluster must not guess what the gateway would have done.
func parseToolkitArgs(args []string) (toolkitGateway, error) {
	var g toolkitGateway
	rest := args
	if len(rest) >= 2 && rest[0] == "gateway" && rest[1] == "run" {
		rest = rest[2:]
	}
	for len(rest) > 0 {
		arg := rest[0]
		rest = rest[1:]
		name, ok := strings.CutPrefix(arg, "--")
		if !ok || name == "" {
			return toolkitGateway{}, fmt.Errorf("argument %q: want flags of docker mcp gateway run (--servers=..., --tools=..., --transport=...)", arg)
		}
		name, value, hasValue := strings.Cut(name, "=")
		f, known := toolkitFlags[name]
		kind := f.kind
		if !known {
			k, ignored := toolkitIgnored[name]
			if !ignored {
				return toolkitGateway{}, fmt.Errorf("unknown flag --%s of docker mcp gateway run", name)
			}
			kind = k
		}
		if !hasValue && kind != flagBool {
			if len(rest) == 0 || strings.HasPrefix(rest[0], "--") {
				return toolkitGateway{}, fmt.Errorf("flag --%s needs a value", name)
			}
			value, rest = rest[0], rest[1:]
			hasValue = true
		}
		if !hasValue {
			value = "true"
		}
		if !known {
			g.Ignored = append(g.Ignored, "--"+name+"="+value)
			continue
		}
		values := []string{value}
		if kind == flagSlice {
			var err error
			if values, err = splitFlagList(value); err != nil {
				return toolkitGateway{}, fmt.Errorf("flag --%s: %w", name, err)
			}
		}
		for _, v := range values {
			if err := f.set(&g, v); err != nil {
				return toolkitGateway{}, fmt.Errorf("flag --%s: %w", name, err)
			}
		}
	}
	g.Servers = compactSorted(g.Servers)
	g.Tools = compactSorted(g.Tools)
	for _, s := range g.Servers {
		if !validCatalogName(s) {
			return toolkitGateway{}, fmt.Errorf("--servers: %q is not a catalog server name", s)
		}
	}
	return g, nil
}

// splitFlagList splits a list flag's value as pflag does: CSV, so a value may be quoted to hold a comma.
func splitFlagList(v string) ([]string, error) {
	if v == "" {
		return nil, nil
	}
	r := csv.NewReader(strings.NewReader(v))
	r.LazyQuotes = false
	rec, err := r.Read()
	if err != nil {
		return nil, fmt.Errorf("list %q: %w", v, err)
	}
	var out []string
	for _, s := range rec {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out, nil
}

// compactSorted sorts and removes duplicates.
func compactSorted(s []string) []string {
	slices.Sort(s)
	return slices.Compact(s)
}

// validCatalogName tells whether s can name a catalog server: the catalog's names are lower-case words joined by
// hyphens, dots or underscores, and each becomes part of a Kubernetes name.
func validCatalogName(s string) bool {
	if s == "" || len(s) > 63 {
		return false
	}
	for i, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
		case (r == '-' || r == '_' || r == '.') && i > 0 && i < len(s)-1:
		default:
			return false
		}
	}
	return true
}

// port is the port the gateway listens on, or 0 for stdio.
func (g toolkitGateway) port() int {
	switch {
	case g.Port > 0:
		return g.Port
	case g.Transport == "" || g.Transport == "stdio":
		return 0
	}
	return toolkitDefaultPort
}

// toolsOf are the tools of server s that --tools lets through, and whether every tool is (no --tools naming s or
// its tools without a server). A "server:tool" entry names a tool of one server; a bare "tool" any server's.
func (g toolkitGateway) toolsOf(s string) (tools []string, all bool) {
	if len(g.Tools) == 0 {
		return nil, true
	}
	for _, t := range g.Tools {
		if srv, tool, ok := strings.Cut(t, ":"); ok {
			if srv == s {
				tools = append(tools, tool)
			}
			continue
		}
		tools = append(tools, t)
	}
	return compactSorted(tools), false
}

// flags writes the reading back as flags of `docker mcp gateway run` (without the ignored ones), for decisions and
// hints that quote what the container was told.
func (g toolkitGateway) flags() []string {
	var out []string
	list := func(name string, vs []string) {
		if len(vs) == 0 {
			return
		}
		var b strings.Builder
		w := csv.NewWriter(&b)
		_ = w.Write(vs)
		w.Flush()
		out = append(out, "--"+name+"="+strings.TrimSuffix(b.String(), "\n"))
	}
	list("servers", g.Servers)
	list("tools", g.Tools)
	list("catalog", g.Catalogs)
	list("config", g.Configs)
	list("mcp-registry", g.Registries)
	for _, v := range g.OCIRefs {
		out = append(out, "--oci-ref="+v)
	}
	for _, v := range g.Interceptors {
		out = append(out, "--interceptor="+v)
	}
	if len(g.Secrets) > 0 {
		out = append(out, "--secrets="+strings.Join(g.Secrets, ":"))
	}
	if g.Transport != "" {
		out = append(out, "--transport="+g.Transport)
	}
	if g.Port > 0 {
		out = append(out, "--port="+strconv.Itoa(g.Port))
	}
	for _, b := range []struct {
		name string
		on   bool
	}{{"enable-all-servers", g.EnableAll}, {"static", g.Static}, {"long-lived", g.LongLived}} {
		if b.on {
			out = append(out, "--"+b.name)
		}
	}
	return out
}
