package devserver

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"time"

	"golang.org/x/mod/modfile"

	"github.com/agops/agops/internal/fsutil"
	"github.com/agops/agops/internal/gobuild"
)

const (
	modulePath = "github.com/agops/agops"
	programPkg = "./cmd/agops-devserver"
)

// ProgramFile is the dev server's executable as a release ships it, next to agops.
var ProgramFile = "agops-devserver" + exeSuffix()

func exeSuffix() string {
	if runtime.GOOS == "windows" {
		return ".exe"
	}
	return ""
}

// Program returns the agops-devserver executable, trying in turn: $AGOPS_DEVSERVER; ProgramFile next to the running
// executable (a release); a build from the module source this agops was built from (a checkout, with `go run` or
// `go build`; or the module cache, after `go install ...@version`), which the go command keeps current; and
// `go install` of this agops's module version. Builds go to the cache folder (gobuild.CacheRoot("devserver")); the
// first takes minutes, and progress hears what is happening.
func Program(ctx context.Context, progress io.Writer, log *slog.Logger) (string, error) {
	if p := os.Getenv("AGOPS_DEVSERVER"); p != "" {
		return p, nil
	}
	if exe, err := os.Executable(); err == nil {
		if real, err := filepath.EvalSymlinks(exe); err == nil {
			exe = real
		}
		if p := filepath.Join(filepath.Dir(exe), ProgramFile); isFile(p) {
			return p, nil
		}
	}
	if progress == nil {
		progress = io.Discard
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if dir := sourceModule(); dir != "" {
		return buildFromSource(ctx, dir, progress, log)
	}
	if v := moduleVersion(); v != "" {
		return installVersion(ctx, v, progress, log)
	}
	return "", fmt.Errorf("agops dev needs its Temporal server, %s: put it next to agops (go build -o DIR/%s %s/cmd/agops-devserver "+
		"in a checkout), or set AGOPS_DEVSERVER to its path", ProgramFile, ProgramFile, modulePath)
}

// sourceModule is the folder of the agops module this program was compiled from, when it still holds the dev
// server's sources ("" when not, or when the build trimmed its paths).
func sourceModule() string {
	_, file, _, ok := runtime.Caller(0)
	if !ok || !filepath.IsAbs(file) {
		return ""
	}
	dir := filepath.Join(filepath.Dir(file), "..", "..")
	data, err := os.ReadFile(filepath.Join(dir, "go.mod"))
	if err != nil || modfile.ModulePath(data) != modulePath || !isFile(filepath.Join(dir, programPkg, "main.go")) {
		return ""
	}
	return filepath.Clean(dir)
}

// moduleVersion is the released version of agops ("" for a development build).
func moduleVersion() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok || bi.Main.Path != modulePath || bi.Main.Version == "" || bi.Main.Version == "(devel)" ||
		strings.Contains(bi.Main.Version, "+") {
		return ""
	}
	return bi.Main.Version
}

// buildFromSource runs go build in the module folder dir, into the cache folder for that source folder. The go
// command relinks only when a source (or the toolchain, or the build settings) changed, so a build that is current
// takes a second or two.
func buildFromSource(ctx context.Context, dir string, progress io.Writer, log *slog.Logger) (string, error) {
	sum := sha256.Sum256([]byte(dir))
	out, unlock, err := prepareBuild(ctx, "src-"+hex.EncodeToString(sum[:8]))
	if err != nil {
		return "", err
	}
	defer unlock()
	fresh := !isFile(out)
	goCmd, err := gobuild.GoCommand("the dev server")
	if err != nil {
		return "", err
	}
	cmd := exec.CommandContext(ctx, goCmd, "build", "-o", out, programPkg)
	cmd.Dir = dir
	// go build renames its result into place: a folder beside it keeps that rename on one file system, so that an
	// agops-devserver still running from out keeps its file while the new one replaces it.
	cmd.Env = append(os.Environ(), "GOTMPDIR="+filepath.Join(filepath.Dir(filepath.Dir(out)), "tmp"))
	what := fmt.Sprintf("agops: building the dev server (Temporal's server, %s) from %s into %s", programPkg, dir, out)
	if err := runBuild(cmd, fresh, what, progress, log); err != nil {
		return "", fmt.Errorf("building the dev server: %w", err)
	}
	return out, nil
}

// installVersion runs go install MODULE/cmd/agops-devserver@version, once per version, into the cache folder.
func installVersion(ctx context.Context, version string, progress io.Writer, log *slog.Logger) (string, error) {
	key := strings.NewReplacer("/", "_", "\\", "_").Replace(version)
	out, unlock, err := prepareBuild(ctx, key)
	if err != nil {
		return "", err
	}
	defer unlock()
	if isFile(out) {
		return out, nil
	}
	goCmd, err := gobuild.GoCommand("the dev server")
	if err != nil {
		return "", err
	}
	pkg := modulePath + "/cmd/agops-devserver@" + version
	cmd := exec.CommandContext(ctx, goCmd, "install", pkg)
	cmd.Env = append(os.Environ(), "GOBIN="+filepath.Dir(out), "GOTMPDIR="+filepath.Join(filepath.Dir(filepath.Dir(out)), "tmp"))
	if err := runBuild(cmd, true, "agops: installing the dev server (go install "+pkg+") into "+filepath.Dir(out), progress, log); err != nil {
		return "", fmt.Errorf("installing the dev server: %w", err)
	}
	return out, nil
}

// prepareBuild makes the cache folders of one build, and locks it: concurrent callers, in this process or others,
// wait for one build.
func prepareBuild(ctx context.Context, key string) (out string, unlock func(), err error) {
	root, err := gobuild.CacheRoot("devserver")
	if err != nil {
		return "", nil, err
	}
	for _, d := range []string{filepath.Join(root, key), filepath.Join(root, "tmp")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return "", nil, fmt.Errorf("creating the dev server's cache folder: %w", err)
		}
	}
	unlock, err = fsutil.Lock(ctx, filepath.Join(root, key+".lock"))
	if err != nil {
		return "", nil, fmt.Errorf("locking the dev server's cache folder: %w", err)
	}
	return filepath.Join(root, key, ProgramFile), unlock, nil
}

// runBuild runs a go build and tells progress about it: at once when the build is the first (it takes minutes),
// otherwise only when it has not finished within two seconds (the go command found sources changed).
func runBuild(cmd *exec.Cmd, fresh bool, what string, progress io.Writer, log *slog.Logger) error {
	start := time.Now()
	said := make(chan struct{}, 1)
	var slow *time.Timer
	if fresh {
		fmt.Fprintln(progress, what+"; the first build takes a few minutes")
		said <- struct{}{}
	} else {
		slow = time.AfterFunc(2*time.Second, func() {
			fmt.Fprintln(progress, what+" (its sources changed)")
			said <- struct{}{}
		})
	}
	err := gobuild.Run(cmd, log)
	if slow != nil && slow.Stop() {
		return err // current: nothing said
	}
	<-said
	if err == nil {
		fmt.Fprintf(progress, "agops: built the dev server in %s\n", time.Since(start).Round(time.Second))
	}
	return err
}

func isFile(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular()
}
