// Package compose loads a Compose project exactly as `docker compose` would (files, overrides, .env, profiles,
// interpolation, include, extends) and parses the x-agops hints into typed values. It is the only package that
// drives compose-go's loader; the rest of agops reads the loaded project.
package compose

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
	"go.yaml.in/yaml/v4"
)

// Options select what to load, with the meaning `docker compose` gives its flags.
type Options struct {
	// Files are the -f files, merged in order. Empty: compose.yaml (or docker-compose.yml, ...) in ProjectDir or a
	// parent, plus compose.override.yaml beside it, as docker compose finds them.
	Files []string
	// ProjectDir is --project-directory; empty means the folder of the first file (or the working directory).
	ProjectDir string
	// ProjectName is -p; empty means the top-level name: or the folder's name.
	ProjectName string
	// EnvFiles are --env-file files; empty means .env in the project folder, if present.
	EnvFiles []string
	// Profiles are --profile values; empty means COMPOSE_PROFILES from the environment or .env.
	Profiles []string
	// Environ is the process environment (KEY=VALUE); nil means none. The CLI passes os.Environ().
	Environ []string
}

// Project is a loaded Compose project.
type Project struct {
	*types.Project
	// Env is the environment used for interpolation (process environment plus env files).
	Env map[string]string
}

// Load reads the project. Errors name the file and, where compose-go knows it, the key.
func Load(ctx context.Context, o Options) (*Project, error) {
	for _, f := range o.Files {
		if err := checkFile(f); err != nil {
			return nil, err
		}
	}
	popts, err := cli.NewProjectOptions(o.Files,
		cli.WithWorkingDirectory(o.ProjectDir),
		cli.WithEnv(o.Environ),
		// As docker compose does: read the env files once before looking for the compose files, so that .env can
		// set COMPOSE_FILE, and again once the project folder is known (values already set are kept).
		cli.WithEnvFiles(o.EnvFiles...),
		cli.WithDotEnv,
		cli.WithConfigFileEnv,
		cli.WithDefaultConfigPath,
		cli.WithEnvFiles(o.EnvFiles...),
		cli.WithDotEnv,
		cli.WithDefaultProfiles(o.Profiles...),
		cli.WithName(o.ProjectName),
		cli.WithResolvedPaths(true),
		// compose-go's own consistency pass is quadratic in long depends_on chains: checkConsistency below makes
		// its other checks and plan checks references and cycles, all in linear time.
		cli.WithConsistency(false),
	)
	if err != nil {
		return nil, fmt.Errorf("preparing compose project: %w", err)
	}
	if len(popts.ConfigPaths) == 0 {
		return nil, errors.New("no compose file found: pass -f FILE or run in a folder with compose.yaml")
	}
	for _, f := range popts.ConfigPaths {
		if err := checkRecursiveAlias(f); err != nil {
			return nil, err
		}
	}
	p, err := loadProject(ctx, popts)
	if err != nil {
		return nil, loadError(popts.ConfigPaths, err)
	}
	if err := checkConsistency(p); err != nil {
		return nil, InFiles(popts.ConfigPaths, err)
	}
	return &Project{Project: p, Env: map[string]string(popts.Environment)}, nil
}

// loadProject runs compose-go's loader and turns a crash inside it into an error: some malformed files make
// compose-go v2.16.2 fail a type assertion (`env_file: [{path: }]`, in override.envFileIndexer), and a user must
// see one line, not a stack trace.
func loadProject(ctx context.Context, popts *cli.ProjectOptions) (p *types.Project, err error) {
	defer func() {
		if r := recover(); r != nil {
			p, err = nil, fmt.Errorf("compose-go failed on this file (%v); look for a key without a value", r)
		}
	}()
	return popts.LoadProject(ctx)
}

// checkFile gives a clear error for a -f file that cannot be read, before compose-go does something less clear.
func checkFile(path string) error {
	if path == "-" {
		return nil
	}
	st, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("compose file %s: %w", path, errors.Unwrap(err))
	}
	if st.IsDir() {
		return fmt.Errorf("compose file %s: is a directory", path)
	}
	return nil
}

// checkRecursiveAlias refuses an alias inside the node it names (`x: &a {<<: *a}`). compose-go (v2.16.2) walks such
// a file for about 25 seconds, quadratically, before it gives up at its node-visit limit. Other problems, syntax
// included, are left to compose-go, which reports them with the file name.
func checkRecursiveAlias(path string) error {
	// Only regular files: reading a pipe (-f <(...)) here would leave nothing for compose-go.
	if st, err := os.Stat(path); err != nil || !st.Mode().IsRegular() {
		return nil
	}
	b, err := os.ReadFile(path)
	if err != nil || !bytes.ContainsRune(b, '*') { // no alias at all: nothing to parse
		return nil
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	for {
		var doc yaml.Node
		if err := dec.Decode(&doc); err != nil {
			return nil
		}
		if a := aliasToAncestor(&doc, map[*yaml.Node]bool{}); a != nil {
			return fmt.Errorf("compose file %s: line %d: alias *%s refers to the node that contains it (anchor &%s at line %d)",
				path, a.Line, a.Value, a.Alias.Anchor, a.Alias.Line)
		}
	}
}

// aliasToAncestor returns the first alias under n that points at one of its own ancestors; open holds those.
func aliasToAncestor(n *yaml.Node, open map[*yaml.Node]bool) *yaml.Node {
	if n.Kind == yaml.AliasNode {
		if open[n.Alias] {
			return n
		}
		return nil
	}
	open[n] = true
	defer delete(open, n)
	for _, c := range n.Content {
		if a := aliasToAncestor(c, open); a != nil {
			return a
		}
	}
	return nil
}

// InFiles prefixes each of the problems in err with the compose files they come from.
func InFiles(files []string, err error) error {
	errs := []error{err}
	if joined, ok := err.(interface{ Unwrap() []error }); ok {
		errs = joined.Unwrap()
	}
	where := strings.Join(files, ", ")
	out := make([]error, len(errs))
	for i, e := range errs {
		out[i] = fmt.Errorf("%s: %w", where, e)
	}
	return errors.Join(out...)
}

// loadError turns compose-go's error into one line that names the file.
func loadError(files []string, err error) error {
	msg := strings.Join(strings.Fields(err.Error()), " ")
	for _, f := range files {
		if strings.Contains(msg, f) || strings.Contains(msg, filepath.Base(f)) {
			return fmt.Errorf("loading compose project: %s", msg)
		}
	}
	return fmt.Errorf("loading compose project %s: %s", strings.Join(files, ", "), msg)
}
