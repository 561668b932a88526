package testbed

import (
	"bufio"
	"context"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"

	"github.com/agops/agops/internal/fsutil"
)

//go:embed tools.txtar
var toolsArchive []byte

// Binaries are the paths of the control plane's executables.
type Binaries struct {
	Etcd              string
	APIServer         string
	ControllerManager string
	Scheduler         string
	Kwok              string
}

// tool is one binary of the tools module: its package and file name.
type tool struct{ pkg, name string }

var tools = []tool{
	{"./cmd/etcd", "etcd"},
	{"k8s.io/kubernetes/cmd/kube-apiserver", "kube-apiserver"},
	{"k8s.io/kubernetes/cmd/kube-controller-manager", "kube-controller-manager"},
	{"k8s.io/kubernetes/cmd/kube-scheduler", "kube-scheduler"},
	{"sigs.k8s.io/kwok/cmd/kwok", "kwok"},
}

func binariesIn(dir string) Binaries {
	return Binaries{
		Etcd:              filepath.Join(dir, "etcd"),
		APIServer:         filepath.Join(dir, "kube-apiserver"),
		ControllerManager: filepath.Join(dir, "kube-controller-manager"),
		Scheduler:         filepath.Join(dir, "kube-scheduler"),
		Kwok:              filepath.Join(dir, "kwok"),
	}
}

func (b Binaries) paths() []string {
	return []string{b.Etcd, b.APIServer, b.ControllerManager, b.Scheduler, b.Kwok}
}

func (b Binaries) exist() bool {
	for _, p := range b.paths() {
		if fi, err := os.Stat(p); err != nil || !fi.Mode().IsRegular() {
			return false
		}
	}
	return true
}

// Install builds the control plane's binaries from the embedded tools module
// with the go command found on PATH, once per version of that module, into
// the cache folder (see WithCacheDir). Concurrent callers, in this process or
// others, wait for one build. The first build takes several minutes.
func Install(ctx context.Context, opts ...Option) (Binaries, error) {
	o := newOptions(opts)
	goCmd, err := exec.LookPath("go")
	if err != nil {
		return Binaries{}, fmt.Errorf("building the testbed needs the go command: %w", err)
	}
	goVersion, err := goEnv(ctx, goCmd, "GOVERSION")
	if err != nil {
		return Binaries{}, err
	}
	root, err := cacheRoot(o.cacheDir)
	if err != nil {
		return Binaries{}, err
	}
	key := cacheKey(toolsArchive, goVersion)
	dir := filepath.Join(root, key)
	bins := binariesIn(dir)
	if bins.exist() {
		return bins, nil
	}
	if err := os.MkdirAll(root, 0o755); err != nil {
		return Binaries{}, fmt.Errorf("creating testbed cache: %w", err)
	}
	unlock, err := fsutil.Lock(ctx, filepath.Join(root, key+".lock"))
	if err != nil {
		return Binaries{}, fmt.Errorf("locking testbed cache: %w", err)
	}
	defer unlock()
	if bins.exist() { // another process built it while we waited
		return bins, nil
	}
	// Left by a build that was killed; nobody else builds this key now.
	if stale, _ := filepath.Glob(filepath.Join(root, key+".tmp-*")); len(stale) > 0 {
		for _, s := range stale {
			_ = os.RemoveAll(s)
		}
	}
	if err := build(ctx, o.logger, goCmd, root, dir); err != nil {
		return Binaries{}, err
	}
	return bins, nil
}

// cacheRoot is the folder that holds one subfolder per cache key.
func cacheRoot(dir string) (string, error) {
	if dir != "" {
		return dir, nil
	}
	if env := os.Getenv("AGOPS_CACHE"); env != "" {
		return filepath.Join(env, "testbed"), nil
	}
	user, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("finding a cache folder for the testbed (set AGOPS_CACHE): %w", err)
	}
	return filepath.Join(user, "agops", "testbed"), nil
}

// cacheKey names one build: the tools module's files, the Go version and the
// platform.
func cacheKey(archive []byte, goVersion string) string {
	h := sha256.New()
	h.Write(archive)
	fmt.Fprintf(h, "\x00%s\x00%s/%s", goVersion, runtime.GOOS, runtime.GOARCH)
	return hex.EncodeToString(h.Sum(nil))[:16]
}

func goEnv(ctx context.Context, goCmd, name string) (string, error) {
	out, err := exec.CommandContext(ctx, goCmd, "env", name).Output()
	if err != nil {
		return "", fmt.Errorf("go env %s: %w", name, err)
	}
	return strings.TrimSpace(string(out)), nil
}

// build writes the tools module to a temporary folder under root, builds the
// binaries next to it and renames the binaries' folder to dir.
func build(ctx context.Context, log *slog.Logger, goCmd, root, dir string) (err error) {
	tmp, err := os.MkdirTemp(root, filepath.Base(dir)+".tmp-")
	if err != nil {
		return fmt.Errorf("creating build folder: %w", err)
	}
	defer os.RemoveAll(tmp)
	src, out := filepath.Join(tmp, "src"), filepath.Join(tmp, "bin")
	if err := extractArchive(src, parseArchive(toolsArchive)); err != nil {
		return fmt.Errorf("writing tools module: %w", err)
	}
	args := []string{"build", "-ldflags=-s -w", "-o", out + string(filepath.Separator)}
	for _, t := range tools {
		args = append(args, t.pkg)
	}
	cmd := exec.CommandContext(ctx, goCmd, args...)
	cmd.Dir = src
	cmd.Env = append(os.Environ(), "GOTOOLCHAIN=local", "GOFLAGS=-mod=mod", "GOWORK=off", "CGO_ENABLED=0")
	log.Info("building testbed binaries; the first build takes several minutes", "dir", dir)
	if err := runLogged(cmd, log); err != nil {
		return fmt.Errorf("building testbed binaries: %w", err)
	}
	if !binariesIn(out).exist() {
		return errors.New("building testbed binaries: go build left some binaries missing")
	}
	if err := os.Rename(out, dir); err != nil {
		return fmt.Errorf("moving testbed binaries into the cache: %w", err)
	}
	log.Info("built testbed binaries", "dir", dir)
	return nil
}

// runLogged runs cmd, sending each line of its output to log.
func runLogged(cmd *exec.Cmd, log *slog.Logger) error {
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
