// Package archtest checks the house rules that keep the flow compose → plan → model → render one-directional, and
// that library code never ends the process.
package archtest

import (
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

const module = "github.com/agops/agops"

type pkg struct {
	ImportPath string
	Dir        string
	GoFiles    []string
	Imports    []string
	Deps       []string
}

func listPackages(t *testing.T) []pkg {
	t.Helper()
	cmd := exec.Command("go", "list", "-json", module+"/...")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	var pkgs []pkg
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for {
		var p pkg
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	if len(pkgs) < 5 {
		t.Fatalf("go list found only %d packages", len(pkgs))
	}
	return pkgs
}

// rules: a package (prefix) must not depend, directly or not, on any of these import path prefixes (or, ending in
// $, this exact import path).
var rules = []struct {
	pkg       string
	forbidden []string
	why       string
}{
	{"internal/model", []string{"github.com/compose-spec/", "k8s.io/", "sigs.k8s.io/"}, "the model owns no foreign types"},
	{"internal/plan", []string{"k8s.io/api", "sigs.k8s.io/", module + "/internal/render"}, "plan builds the model, not Kubernetes objects"},
	{"internal/render", []string{"github.com/compose-spec/", module + "/internal/plan", module + "/internal/compose"}, "render reads the model only"},
	{"internal/report", []string{"github.com/compose-spec/", "k8s.io/", module + "/internal/plan"}, "the report reads Decisions only"},
	{"internal/check", []string{"github.com/compose-spec/", module + "/internal/plan", module + "/internal/model", module + "/internal/render", module + "/internal/migrate"}, "check judges rendered manifests, whoever wrote them"},
	{"internal/policy", []string{"net/http", module + "/internal/gateway", module + "/internal/audit", module + "/internal/cli"}, "the policy decides; it serves nothing and writes nothing"},
	{"internal/specyaml", []string{module + "/internal/"}, "the spec decoder knows YAML, not the documents it decodes"},
	{"internal/audit", []string{module + "/internal/policy", module + "/internal/gateway", "k8s.io/"}, "the audit log knows records, not who writes them"},
	{"internal/site", []string{"github.com/compose-spec/", module + "/internal/plan", module + "/internal/compose", module + "/internal/migrate"}, "the site plan reads the model and the cluster's Spec, not the migration's inputs"},
	{"internal/gateway", []string{module + "/internal/plan", module + "/internal/render", module + "/internal/migrate", "github.com/compose-spec/"}, "the gateway runs in the cluster; it knows nothing of the migration"},
	{"internal/telemetry", []string{module + "/internal/"}, "tracing setup knows the OTel SDK and the OTEL_* variables, not the packages it traces"},
	{"internal/configscan", []string{module + "/internal/", "k8s.io/", "sigs.k8s.io/", "github.com/compose-spec/"}, "the address scanner reads strings, not the documents they come from"},
	{"internal/standin", []string{"github.com/compose-spec/", module + "/internal/compose", module + "/internal/plan", module + "/internal/migrate", module + "/internal/rehearse", module + "/internal/testbed"},
		"the stand-in reads rendered manifests and runs in the cluster: it knows nothing of the migration, and rehearse uses it, not the other way round"},
	{"internal/labview", []string{"github.com/compose-spec/", module + "/internal/compose", module + "/internal/plan", module + "/internal/migrate", module + "/internal/render"},
		"the lab's picture reads what a migration wrote (report.json, manifests), never the Compose project or the rules"},
	{"internal/console", []string{"github.com/compose-spec/", module + "/internal/compose", module + "/internal/plan", module + "/internal/migrate",
		module + "/internal/render", module + "/internal/testbed", module + "/internal/devserver", module + "/internal/agent/activities",
		module + "/internal/agent/workflows"},
		"the console reads the gateway, audit, runs, policy and the lab through their APIs; it runs no part of them"},
	{"internal/mask", []string{module + "/internal/"}, "masking judges values, not where they come from"},
	// The agops command is the first build on a new machine (issue 17): Temporal's server, and the storage and cloud
	// clients it brings, belong to cmd/agops-devserver, which `agops dev` runs as a child process.
	{"cmd/agops", []string{"go.temporal.io/server", module + "/internal/devserver/embedded"},
		"the agops command does not carry the dev server's Temporal: agops dev runs cmd/agops-devserver"},
	// client-go's informer factory and clientset link every API group's informers, listers and clients into it.
	{"cmd/agops", []string{"k8s.io/client-go/informers", "k8s.io/client-go/kubernetes$"},
		"build informers with cache.NewSharedIndexInformer, and clients with internal/kubeclient (the groups agops calls)"},
}

func TestImportRules(t *testing.T) {
	for _, p := range listPackages(t) {
		rel := strings.TrimPrefix(strings.TrimPrefix(p.ImportPath, module), "/")
		for _, r := range rules {
			if rel != r.pkg && !strings.HasPrefix(rel, r.pkg+"/") {
				continue
			}
			for _, d := range p.Deps {
				for _, f := range r.forbidden {
					if exact, ok := strings.CutSuffix(f, "$"); ok && d == exact || !ok && strings.HasPrefix(d, f) {
						t.Errorf("%s depends on %s: %s", rel, d, r.why)
					}
				}
			}
		}
		// The MCP servers of internal/mcptest are test peers (npm installs, programs that record what they run):
		// nothing agops ships depends on them.
		if !strings.HasPrefix(rel, "internal/mcptest") {
			for _, d := range p.Deps {
				if d == module+"/internal/mcptest" {
					t.Errorf("%s depends on internal/mcptest, which only tests may use", rel)
				}
			}
		}
		// Headless Chromium (internal/browsertest, chromedp) is for tests only: nothing agops ships depends on it.
		if !strings.HasPrefix(rel, "internal/browsertest") {
			for _, d := range p.Deps {
				if d == module+"/internal/browsertest" || strings.HasPrefix(d, "github.com/chromedp/") {
					t.Errorf("%s depends on %s, which only tests may use", rel, d)
				}
			}
		}
		// Only internal/compose drives compose-go's loader.
		if rel != "internal/compose" {
			for _, i := range p.Imports {
				if strings.HasPrefix(i, "github.com/compose-spec/compose-go/v2/cli") || strings.HasPrefix(i, "github.com/compose-spec/compose-go/v2/loader") {
					t.Errorf("%s imports %s: only internal/compose loads projects", rel, i)
				}
			}
		}
	}
}

// TestNoExitInLibraries: library code reports errors; only cmd/ and internal/cli may end the process.
func TestNoExitInLibraries(t *testing.T) {
	for _, p := range listPackages(t) {
		rel := strings.TrimPrefix(strings.TrimPrefix(p.ImportPath, module), "/")
		if strings.HasPrefix(rel, "cmd/") || rel == "internal/cli" {
			continue
		}
		for _, f := range p.GoFiles {
			path := filepath.Join(p.Dir, f)
			file, err := parser.ParseFile(token.NewFileSet(), path, nil, 0)
			if err != nil {
				t.Fatal(err)
			}
			ast.Inspect(file, func(n ast.Node) bool {
				call, ok := n.(*ast.CallExpr)
				if !ok {
					return true
				}
				switch fn := call.Fun.(type) {
				case *ast.SelectorExpr:
					if x, ok := fn.X.(*ast.Ident); ok {
						name := x.Name + "." + fn.Sel.Name
						if name == "os.Exit" || name == "log.Fatal" || name == "log.Fatalf" || name == "log.Panic" {
							t.Errorf("%s calls %s: libraries return errors", path, name)
						}
					}
				case *ast.Ident:
					if fn.Name == "panic" {
						t.Errorf("%s calls panic: libraries return errors", path)
					}
				}
				return true
			})
		}
	}
}

// directRules: a package must not import these itself (its dependencies may: the Temporal SDK uses the network).
var directRules = []struct {
	pkg       string
	forbidden []string
	why       string
}{
	{"internal/agent/workflows", []string{"net/http", "net", "os", "os/exec", "math/rand", "math/rand/v2", "crypto/rand",
		"sync", module + "/internal/agent/activities", module + "/internal/llm", module + "/internal/gateway"},
		"workflow code is deterministic: no I/O, no randomness, no goroutine primitives outside the workflow API"},
	{"internal/agent/activities", []string{module + "/internal/agent/workflows"}, "activities do the work; they do not orchestrate"},
	{"internal/agent", []string{"go.temporal.io/sdk/client", "go.temporal.io/sdk/workflow"}, "the shared types depend on nothing of Temporal's"},
}

func TestDirectImports(t *testing.T) {
	for _, p := range listPackages(t) {
		rel := strings.TrimPrefix(strings.TrimPrefix(p.ImportPath, module), "/")
		for _, r := range directRules {
			if rel != r.pkg {
				continue
			}
			for _, imp := range p.Imports {
				for _, f := range r.forbidden {
					if imp == f {
						t.Errorf("%s imports %s: %s", rel, imp, r.why)
					}
				}
			}
		}
	}
}
