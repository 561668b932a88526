package plan

import (
	"encoding/csv"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/agops/agops/internal/compose"
	"github.com/agops/agops/internal/model"
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

// toolkitPort is the port each catalog server's bridge serves MCP on, in its pod.
const toolkitPort = 8811

// bridgeDir is where the init container puts agops for a catalog server's container (agops mcp-bridge).
const bridgeDir = "/agops-bin"

// ruleToolkit replaces each container of Docker's MCP gateway by what a cluster can run. Each server it was told to
// start (--servers) becomes a tool server of its own: the catalog's image for it (mcp/NAME), which speaks MCP on
// standard input and output, run by agops mcp-bridge, which serves it over HTTP — the command is the image's own,
// read from its registry when the pod starts. The container's name becomes an aggregate of the agops gateway: the
// agents keep calling http://NAME:PORT/sse or /mcp, and see the tools of those servers (--tools narrows them in the
// starter policy), each call judged as a call to the server that has the tool. The servers get the container's
// environment and secrets, which Docker's gateway passed them (API keys, connection strings).
func (pl *planner) ruleToolkit() {
	for _, n := range slices.Clone(pl.order) {
		s := pl.svcs[n]
		if !isToolkitImage(s.Image) {
			continue
		}
		g, err := parseToolkitArgs(s.Command)
		if err != nil {
			pl.record(n, "command", model.NeedsInput, "Docker's MCP gateway: "+err.Error(),
				"write the command as flags of docker mcp gateway run: [--transport=streaming, --servers=NAME,...]")
			continue
		}
		if why, hint := toolkitUnsupported(g); why != "" {
			pl.record(n, "command", model.NeedsInput, "Docker's MCP gateway ("+strings.Join(g.flags(), " ")+"): "+why, hint)
			continue
		}
		pl.toolkit(n, s, g)
	}
}

// toolkitUnsupported says why a reading cannot be carried over as it is, with the exact change that lets it.
func toolkitUnsupported(g toolkitGateway) (why, hint string) {
	switch {
	case g.port() == 0:
		return "it serves MCP on standard input and output (docker run -i), which nothing in a cluster attaches to",
			"add --transport=streaming (or sse) to its command; agents then call http://SERVICE:8811/mcp (or /sse)"
	case len(g.Servers) == 0:
		return "it names no servers (--servers): which ones it runs comes from Docker Desktop's settings or a registry, which the cluster does not have",
			"name them in its command: --servers=NAME,NAME"
	case g.Static:
		return "--static: it reaches servers started beside it, not ones it starts",
			"drop --static and name the servers with --servers, or give each of those services x-agops: {role: tool} and call them directly"
	case len(g.Catalogs) > 0, len(g.OCIRefs) > 0, len(g.Registries) > 0:
		return "servers from a catalog, OCI reference or registry of its own: their images, commands and URLs are in files agops does not read",
			"run each of those servers as a service of its own with x-agops: {role: tool} (remote ones: as an x-agops external endpoint), and drop them from --servers"
	case len(g.Interceptors) > 0:
		return "--interceptor runs programs around each call, which the cluster does not run",
			"express what they check as fleet policy rules (docs/policy.md: when, rules, approval) and drop --interceptor"
	}
	return "", ""
}

// toolkit declares the catalog servers of toolkit container n as services and makes n an aggregate of them.
func (pl *planner) toolkit(n string, s types.ServiceConfig, g toolkitGateway) {
	var members []string
	for _, srv := range g.Servers {
		m := n + "-" + strings.NewReplacer(".", "-", "_", "-").Replace(srv)
		for i := 2; pl.taken(m); i++ {
			m = fmt.Sprintf("%s-%s-%d", n, srv, i)
		}
		image := "mcp/" + srv
		var member types.ServiceConfig
		member.Name, member.Image, member.Restart = m, image, s.Restart
		member.Entrypoint = types.ShellCommand{bridgeDir + "/agops", "mcp-bridge", "--listen", fmt.Sprintf(":%d", toolkitPort), "--image", image}
		for _, f := range g.secretFiles() {
			member.Entrypoint = append(member.Entrypoint, "--env-file", f)
		}
		member.Expose = types.StringOrNumberList{strconv.Itoa(toolkitPort)}
		member.Networks = maps.Clone(s.Networks)
		member.Environment = maps.Clone(s.Environment)
		member.EnvFiles = slices.Clone(s.EnvFiles)
		member.Secrets = slices.Clone(s.Secrets)
		member.DependsOn = maps.Clone(s.DependsOn)
		pl.svcs[m] = member
		pl.hints[m] = compose.ServiceHints{Role: "tool"}
		pl.order = append(pl.order, m)
		pl.bridged[m] = bridgedServer{toolkit: n, server: srv}
		members = append(members, m)
		tools, all := g.toolsOf(srv)
		what := "all its tools"
		if !all {
			what = "the tools --tools names: " + strings.Join(tools, ", ")
		}
		pl.record(m, "image", model.Approximated, fmt.Sprintf(
			"catalog server %s of Docker's MCP gateway %s (--servers), as a tool server of its own: image %s, which speaks MCP on standard input and output, run by agops mcp-bridge (copied in by an init container from the helper image), which serves it over Streamable HTTP on port %d; the bridge reads the image's entrypoint and cmd from its registry when the pod starts; agents call it through %s, and the starter policy grants %s",
			srv, n, image, toolkitPort, n, what),
			fmt.Sprintf("if the catalog runs %s from another image or as a remote server, declare it as a service of your own with x-agops: {role: tool} and drop it from --servers", srv))
		pl.record(m, "environment", model.Mapped, fmt.Sprintf("the environment and secrets of %s, which Docker's MCP gateway passed the servers it ran", n), "")
	}
	sort.Strings(pl.order)
	pl.toolkits[n] = members
	pl.toolkitTools[n] = g
	var keep types.ServiceConfig
	keep.Name, keep.Image, keep.Networks, keep.Ports, keep.Restart = n, s.Image, s.Networks, s.Ports, s.Restart
	keep.Extensions = s.Extensions
	keep.Expose = types.StringOrNumberList{strconv.Itoa(g.port())}
	pl.svcs[n] = keep
	pl.hints[n] = compose.ServiceHints{Role: "tool"}
	pl.record(n, "command", model.Mapped, fmt.Sprintf(
		"Docker's MCP gateway (%s) becomes an aggregate of the agops gateway under its name, on port %d: agents keep their URLs (/mcp or /sse) and see the tools of %s; each call is judged and audited as a call to the server that has the tool",
		strings.Join(g.flags(), " "), g.port(), strings.Join(members, ", ")), "")
	pl.record(n, "image", model.Mapped, "docker/mcp-gateway needs the Docker API to start its servers; the cluster runs them as workloads and the agops gateway serves its endpoint: no workload runs this image", "")
	if files := g.secretFiles(); len(files) > 0 {
		pl.record(n, "command", model.Approximated, "--secrets "+strings.Join(files, ", ")+
			": each server reads these KEY=VALUE files at start as variables, a key like github.personal_access_token as GITHUB_PERSONAL_ACCESS_TOKEN (Docker's catalog names the variable of each secret; agops assumes this form); every server gets every key, and the files are mounted in their pods from the container's secrets",
			"if a server reads another variable name, set that variable in the mcp-gateway service's environment, from a secret")
	}
	if len(g.Configs) > 0 {
		pl.record(n, "command", model.Approximated, "--config "+strings.Join(g.Configs, ", ")+
			": Docker's gateway reads the servers' settings from these files, which agops does not; the servers get the container's environment and secrets",
			"set each server's settings as environment variables of the mcp-gateway service (they are passed on), or declare the server as a service of your own with x-agops: {role: tool}")
	}
	if len(g.Ignored) > 0 {
		pl.record(n, "command", model.Dropped, "flags about how Docker runs and logs the servers: "+strings.Join(g.Ignored, " ")+"; the cluster decides these (resources, images, the gateway's audit log)", "")
	}
	for key, present := range map[string]bool{
		"use_api_socket": s.UseAPISocket, "environment": len(s.Environment) > 0, "env_file": len(s.EnvFiles) > 0,
		"secrets": len(s.Secrets) > 0, "volumes": len(s.Volumes) > 0, "depends_on": len(s.DependsOn) > 0,
		"entrypoint": len(s.Entrypoint) > 0, "healthcheck": s.HealthCheck != nil,
	} {
		if !present {
			continue
		}
		reason := map[string]string{
			"use_api_socket": "the Docker API starts no containers in the cluster: the servers run as workloads",
			"environment":    "given to each server it ran: " + strings.Join(members, ", "),
			"env_file":       "given to each server it ran: " + strings.Join(members, ", "),
			"secrets":        "given to each server it ran: " + strings.Join(members, ", "),
			"volumes":        "its mounts (the Docker socket, its configuration) served Docker's gateway, which does not run",
			"depends_on":     "the servers it ran wait for what it waited for: " + strings.Join(members, ", "),
			"entrypoint":     "no workload runs this image",
			"healthcheck":    "no workload runs this image; the agops gateway has its own probes",
		}[key]
		outcome := model.Mapped
		if key == "volumes" || key == "entrypoint" || key == "healthcheck" || key == "use_api_socket" {
			outcome = model.Dropped
		}
		pl.record(n, key, outcome, reason, "")
	}
}

// ruleMCPBridges gives each catalog server's pod the agops it runs: an init container copies the binary from the
// helper image into a volume the server's container runs it from (the server's image has no agops).
func (pl *planner) ruleMCPBridges() {
	for _, m := range sortedKeys(pl.bridged) {
		w, c := pl.work[m], pl.primary[m]
		if w == nil || c == nil {
			continue
		}
		const volume = "agops-bin"
		w.Pod.Volumes = append(w.Pod.Volumes, model.Volume{Name: volume, EmptyDir: &model.EmptyDir{}})
		uid := int64(helperUID)
		w.Pod.InitContainers = append(w.Pod.InitContainers, model.Container{
			Name: pl.initName(w, "agops-bin"), Image: pl.opts.HelperImage,
			Args:   []string{"mcp-bridge", "--install", bridgeDir},
			Mounts: []model.Mount{{Volume: volume, Path: bridgeDir}},
			Resources: model.Resources{Requests: map[string]string{"cpu": "10m", "memory": "16Mi"},
				Limits: map[string]string{"memory": "64Mi"}},
			Security: model.Security{RunAsUser: &uid, RunAsGroup: &uid, RunAsNonRoot: boolPtr(true), ReadOnlyRootFilesystem: true,
				AllowPrivilegeEscalation: boolPtr(false), CapDrop: []string{"ALL"}, Seccomp: "RuntimeDefault"},
		})
		c.Mounts = append(c.Mounts, model.Mount{Volume: volume, Path: bridgeDir, ReadOnly: true})
		c.ReadsImage = true
		pl.record(m, "entrypoint", model.Mapped, fmt.Sprintf(
			"agops mcp-bridge, copied into volume %s by init container %s (helper image %s), runs the image's own command as a stdio MCP server",
			volume, "agops-bin", pl.opts.HelperImage), "")
	}
}

// bridgedServer is a catalog server of a toolkit container, by the catalog's name.
type bridgedServer struct{ toolkit, server string }

// toolkitGrant is the tools list of the starter policy's grant for the server that Kubernetes name stands for: what
// --tools let through, when the server is a catalog server of a toolkit container that named tools.
func (pl *planner) toolkitGrant(name string) (string, bool) {
	for m, b := range pl.bridged {
		if pl.names[m] != name {
			continue
		}
		tools, all := pl.toolkitTools[b.toolkit].toolsOf(b.server)
		if all {
			return "", false
		}
		if len(tools) == 0 {
			return "", true // --tools names none of its tools: nothing is granted
		}
		quoted := make([]string, len(tools))
		for i, t := range tools {
			quoted[i] = strconv.Quote(t)
		}
		return strings.Join(quoted, ", "), true
	}
	return "", false
}

// secretFiles are the files --secrets names (docker-desktop, Docker Desktop's own store, is not one).
func (g toolkitGateway) secretFiles() []string {
	var out []string
	for _, s := range g.Secrets {
		if s != "docker-desktop" {
			out = append(out, s)
		}
	}
	return out
}
