// Package mcptest runs real MCP peers for tests, and only for tests: nothing agops ships imports it. Three servers
// speak Streamable HTTP on loopback: the reference server @modelcontextprotocol/server-everything (StartEverything),
// a server built with the TypeScript SDK's Express helper (StartTSServer) and one built in-process with the Go SDK
// (StartGoServer). The last two offer the same tools (echo, add, read_file, delete_all, whoami) and record every
// tools/call they execute, so a test can prove what a server really ran. The MCP Inspector's command line is here
// too. The npm packages are installed once per set of versions into the user's cache (npm install into a folder
// of agops's own) and reused.
package mcptest

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/agops/agops/internal/fsutil"
	"github.com/agops/agops/internal/netutil"
)

// Pinned versions of the npm packages.
const (
	EverythingPackage = "@modelcontextprotocol/server-everything@2026.8.31"
	InspectorPackage  = "@modelcontextprotocol/inspector@2.12.0"
	// SDKPackage is the TypeScript SDK the TS-SDK server is built with (it brings express); the reference server
	// shares it, since npm installs one copy that satisfies both.
	SDKPackage = "@modelcontextprotocol/sdk@1.32.2"
	// ZodPackage gives the TS-SDK server its input schemas.
	ZodPackage = "zod@4.6.7"
)

// packages lists what Install installs, in order.
var packages = []string{EverythingPackage, InspectorPackage, SDKPackage, ZodPackage}

// Dir is an installed set of packages: Dir/node_modules/.bin holds their commands.
type Dir string

// Bin is the path of an installed command.
func (d Dir) Bin(name string) string { return filepath.Join(string(d), "node_modules", ".bin", name) }

// Install makes sure the pinned packages are installed in the cache and returns their folder. It installs Node.js
// and npm from Debian's packages when npm is missing and the process may (root); otherwise it says what to do.
func Install(ctx context.Context) (Dir, error) {
	root, err := cacheRoot()
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256([]byte(strings.Join(packages, "\x00")))
	dir := filepath.Join(root, hex.EncodeToString(sum[:])[:16])
	done := filepath.Join(dir, ".installed")
	if _, err := os.Stat(done); err == nil {
		return Dir(dir), nil
	}
	if err := os.MkdirAll(root, 0o755); err != nil {
		return "", err
	}
	unlock, err := fsutil.Lock(ctx, dir+".lock")
	if err != nil {
		return "", fmt.Errorf("locking the npm cache: %w", err)
	}
	defer unlock()
	if _, err := os.Stat(done); err == nil {
		return Dir(dir), nil
	}
	npm, err := findNPM(ctx)
	if err != nil {
		return "", err
	}
	tmp := dir + ".tmp"
	_ = os.RemoveAll(tmp)
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		return "", err
	}
	args := append([]string{"install", "--no-audit", "--no-fund", "--loglevel=error", "--prefix", tmp}, packages...)
	if out, err := exec.CommandContext(ctx, npm, args...).CombinedOutput(); err != nil {
		return "", fmt.Errorf("npm install %s: %w\n%s", strings.Join(packages, " "), err, out)
	}
	_ = os.RemoveAll(dir)
	if err := os.Rename(tmp, dir); err != nil {
		return "", err
	}
	if err := os.WriteFile(done, []byte(strings.Join(packages, "\n")+"\n"), 0o644); err != nil {
		return "", err
	}
	return Dir(dir), nil
}

func cacheRoot() (string, error) {
	if env := os.Getenv("AGOPS_CACHE"); env != "" {
		return filepath.Join(env, "npm"), nil
	}
	user, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("finding a cache folder for npm packages (set AGOPS_CACHE): %w", err)
	}
	return filepath.Join(user, "agops", "npm"), nil
}

var aptOnce sync.Once

// findNPM returns npm's path, installing Debian's nodejs and npm packages when it is missing and we are root.
func findNPM(ctx context.Context) (string, error) {
	if p, err := exec.LookPath("npm"); err == nil {
		return p, nil
	}
	if os.Geteuid() != 0 {
		return "", errors.New("npm is not installed: install Node.js 20 and npm (apt-get install nodejs npm)")
	}
	var aptErr error
	aptOnce.Do(func() {
		for _, args := range [][]string{{"update"}, {"install", "-y", "--no-install-recommends", "nodejs", "npm"}} {
			cmd := exec.CommandContext(ctx, "apt-get", args...)
			cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
			if out, err := cmd.CombinedOutput(); err != nil {
				aptErr = fmt.Errorf("apt-get %s: %w\n%s", strings.Join(args, " "), err, out)
				return
			}
		}
	})
	if aptErr != nil {
		return "", aptErr
	}
	return exec.LookPath("npm")
}

// Server is a running server process (server-everything, or the TypeScript SDK server inside a TSServer).
type Server struct {
	// URL is its Streamable HTTP endpoint, http://127.0.0.1:PORT/mcp.
	URL string
	cmd *exec.Cmd
}

// StartEverything installs (once) and starts server-everything on a free loopback port, and stops it when the test
// ends. Its URL-fetching tools must only ever be pointed at loopback.
func StartEverything(t testing.TB) *Server {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	dir, err := Install(ctx)
	if err != nil {
		t.Fatal(err)
	}
	s, err := Start(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	return s
}

// Start starts server-everything from an installed folder on a free loopback port and waits until it listens.
func Start(dir Dir) (*Server, error) {
	port, err := netutil.FreePort()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(dir.Bin("mcp-server-everything"), "streamableHttp")
	cmd.Env = append(os.Environ(), "PORT="+strconv.Itoa(port))
	return startProcess(cmd, port, "server-everything", "listening on port")
}

// StartEverythingSSE starts server-everything speaking the HTTP+SSE transport (its "sse" mode) on a free loopback
// port, and stops it when the test ends: its URL is the SSE endpoint, http://127.0.0.1:PORT/sse, whose endpoint
// event names /message?sessionId=.... A server written in TypeScript, not with the Go SDK.
func StartEverythingSSE(t testing.TB) *Server {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	dir, err := Install(ctx)
	if err != nil {
		t.Fatal(err)
	}
	port, err := netutil.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(dir.Bin("mcp-server-everything"), "sse")
	cmd.Env = append(os.Environ(), "PORT="+strconv.Itoa(port))
	s, err := startProcess(cmd, port, "server-everything (sse)", "running on port")
	if err != nil {
		t.Fatal(err)
	}
	s.URL = fmt.Sprintf("http://127.0.0.1:%d/sse", port)
	t.Cleanup(s.Stop)
	return s
}

// startProcess starts cmd in its own process group and waits until its output says it listens (a line with
// marker).
func startProcess(cmd *exec.Cmd, port int, what, marker string) (*Server, error) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", what, err)
	}
	s := &Server{URL: fmt.Sprintf("http://127.0.0.1:%d/mcp", port), cmd: cmd}
	ready := make(chan struct{})
	var lines []string
	var mu sync.Mutex
	go func() {
		sc := bufio.NewScanner(out)
		closed := false
		for sc.Scan() {
			mu.Lock()
			if len(lines) < 50 {
				lines = append(lines, sc.Text())
			}
			mu.Unlock()
			if !closed && strings.Contains(sc.Text(), marker) {
				close(ready)
				closed = true
			}
		}
	}()
	select {
	case <-ready:
		return s, nil
	case <-time.After(30 * time.Second):
		s.Stop()
		mu.Lock()
		defer mu.Unlock()
		return nil, fmt.Errorf("%s did not listen within 30 s:\n%s", what, strings.Join(lines, "\n"))
	}
}

// Stop ends the server's process group.
func (s *Server) Stop() {
	if s.cmd.Process != nil {
		_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = s.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
	}
}

// Inspector runs the MCP Inspector's command line (`mcp-inspector --cli ARGS...`) and returns its standard output;
// a non-zero exit is an error carrying its standard error.
func Inspector(ctx context.Context, dir Dir, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, dir.Bin("mcp-inspector"), append([]string{"--cli"}, args...)...)
	cmd.Env = append(os.Environ(), "MCP_CATALOG_PATH="+filepath.Join(os.TempDir(), "agops-mcp-catalog.json"))
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return out, fmt.Errorf("mcp-inspector --cli %s: %w: %s", strings.Join(args, " "), err, stderr.String())
	}
	return out, nil
}
