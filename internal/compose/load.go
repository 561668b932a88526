// Package compose loads a Compose project exactly as `docker compose` would (files, overrides, .env, profiles,
// interpolation, include, extends) and parses the x-agops hints into typed values. It is the only package that
// drives compose-go's loader; the rest of agops reads the loaded project.
package compose

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
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
		cli.WithConfigFileEnv,
		cli.WithDefaultConfigPath,
		cli.WithEnvFiles(o.EnvFiles...),
		cli.WithDotEnv,
		cli.WithDefaultProfiles(o.Profiles...),
		cli.WithName(o.ProjectName),
		cli.WithResolvedPaths(true),
		// compose-go's own consistency pass is quadratic in long depends_on chains; plan checks references and
		// cycles itself, in linear time.
		cli.WithConsistency(false),
	)
	if err != nil {
		return nil, fmt.Errorf("preparing compose project: %w", err)
	}
	if len(popts.ConfigPaths) == 0 {
		return nil, errors.New("no compose file found: pass -f FILE or run in a folder with compose.yaml")
	}
	p, err := popts.LoadProject(ctx)
	if err != nil {
		return nil, loadError(popts.ConfigPaths, err)
	}
	return &Project{Project: p, Env: map[string]string(popts.Environment)}, nil
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
