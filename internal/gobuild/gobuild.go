// Package gobuild builds the Go programs agops runs beside itself — the test bed's Kubernetes binaries, the dev
// server's Temporal — with the go command on PATH, into agops's cache folder ($AGOPS_CACHE, or the user cache
// folder's agops). It owns only where such builds go and how their output is reported; what to build, and when a
// build is current, is its callers' business.
package gobuild

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
)

// CacheRoot is the folder for one kind of built binaries: $AGOPS_CACHE/sub, or the user cache folder's agops/sub.
func CacheRoot(sub string) (string, error) {
	if env := os.Getenv("AGOPS_CACHE"); env != "" {
		return filepath.Join(env, sub), nil
	}
	user, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("finding a cache folder for %s (set AGOPS_CACHE): %w", sub, err)
	}
	return filepath.Join(user, "agops", sub), nil
}

// GoCommand is the go command on PATH.
func GoCommand(what string) (string, error) {
	goCmd, err := exec.LookPath("go")
	if err != nil {
		return "", fmt.Errorf("building %s needs the go command: %w", what, err)
	}
	return goCmd, nil
}

// GoEnv is `go env NAME`.
func GoEnv(ctx context.Context, goCmd, name string) (string, error) {
	out, err := exec.CommandContext(ctx, goCmd, "env", name).Output()
	if err != nil {
		return "", fmt.Errorf("go env %s: %w", name, err)
	}
	return strings.TrimSpace(string(out)), nil
}

// Run runs cmd (a go build), sending each line of its output to log at debug level; a failure's error ends with
// the last lines of that output.
func Run(cmd *exec.Cmd, log *slog.Logger) error {
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	var wg sync.WaitGroup
	var tail []string
	wg.Go(func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			log.Debug("go build", "line", sc.Text())
			tail = append(tail, sc.Text())
			if len(tail) > 20 {
				tail = tail[1:]
			}
		}
		_, _ = io.Copy(io.Discard, pr)
	})
	err := cmd.Run()
	pw.Close()
	wg.Wait()
	if err != nil && len(tail) > 0 {
		return fmt.Errorf("%w:\n%s", err, strings.Join(tail, "\n"))
	}
	return err
}
