package testbed

import (
	"context"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"

	"github.com/agops/agops/internal/fsutil"
	"github.com/agops/agops/internal/gobuild"
)

//go:embed tools.txtar
var toolsArchive []byte

//go:embed tools_nodes.txtar
var nodesArchive []byte

//go:embed tools_coredns.txtar
var coreDNSArchive []byte

//go:embed tools_kube-router.txtar
var kubeRouterArchive []byte

// toolset is one embedded tools module and the binaries go build makes of it.
type toolset struct {
	what    string // for messages: "control plane"
	module  string // its folder in the repository, for the archive's comment
	archive []byte
	tools   []tool
	ldflags string
}

// tool is one binary of a tools module: its package and file name.
type tool struct{ pkg, name string }

// k8sVersion makes Kubernetes binaries report their release instead of v0.0.0-master.
const k8sVersion = "-X k8s.io/component-base/version.gitVersion=v1.37.2 " +
	"-X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=37"

var controlPlane = toolset{
	what: "control plane", module: "tools/testbed", archive: toolsArchive,
	tools: []tool{
		{"./cmd/etcd", "etcd"},
		{"k8s.io/kubernetes/cmd/kube-apiserver", "kube-apiserver"},
		{"k8s.io/kubernetes/cmd/kube-controller-manager", "kube-controller-manager"},
		{"k8s.io/kubernetes/cmd/kube-scheduler", "kube-scheduler"},
		{"sigs.k8s.io/kwok/cmd/kwok", "kwok"},
	},
}

var nodeTools = toolset{
	what: "node", module: "tools/nodes", archive: nodesArchive,
	tools: []tool{
		{"k8s.io/kubernetes/cmd/kubelet", "kubelet"},
		{"k8s.io/kubernetes/cmd/kube-proxy", "kube-proxy"},
		{"./cmd/pause", "pause"},
	},
	ldflags: k8sVersion,
}

var coreDNSTools = toolset{
	what: "CoreDNS", module: "tools/coredns", archive: coreDNSArchive,
	tools: []tool{{".", "coredns"}},
}

// kube-router is test-only: security flaws are reported against the version that still builds here.
var kubeRouterTools = toolset{
	what: "kube-router", module: "tools/kube-router", archive: kubeRouterArchive,
	tools: []tool{{"./cmd/kube-router-netpol", "kube-router-netpol"}},
}

// Binaries are the paths of the control plane's executables.
type Binaries struct {
	Etcd              string
	APIServer         string
	ControllerManager string
	Scheduler         string
	Kwok              string
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

func (b Binaries) exist() bool {
	return allRegular(b.Etcd, b.APIServer, b.ControllerManager, b.Scheduler, b.Kwok)
}

// NodeBinaries are the executables of real nodes.
type NodeBinaries struct {
	Kubelet    string
	KubeProxy  string
	Pause      string // the pod sandbox's process, packed as the pause image
	CoreDNS    string // cluster DNS, packed as an image
	KubeRouter string // the NetworkPolicy enforcer
}

func allRegular(paths ...string) bool {
	for _, p := range paths {
		if fi, err := os.Stat(p); err != nil || !fi.Mode().IsRegular() {
			return false
		}
	}
	return true
}

func (ts toolset) built(dir string) bool {
	for _, t := range ts.tools {
		if !allRegular(filepath.Join(dir, t.name)) {
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
	dir, err := install(ctx, newOptions(opts), controlPlane)
	if err != nil {
		return Binaries{}, err
	}
	return binariesIn(dir), nil
}

// InstallNodes builds the binaries of real nodes (kubelet, kube-proxy, the
// pause process, CoreDNS and kube-router) like Install, from their own tools
// modules.
func InstallNodes(ctx context.Context, opts ...Option) (NodeBinaries, error) {
	o := newOptions(opts)
	var dirs [3]string
	for i, ts := range []toolset{nodeTools, coreDNSTools, kubeRouterTools} {
		dir, err := install(ctx, o, ts)
		if err != nil {
			return NodeBinaries{}, err
		}
		dirs[i] = dir
	}
	return NodeBinaries{
		Kubelet:    filepath.Join(dirs[0], "kubelet"),
		KubeProxy:  filepath.Join(dirs[0], "kube-proxy"),
		Pause:      filepath.Join(dirs[0], "pause"),
		CoreDNS:    filepath.Join(dirs[1], "coredns"),
		KubeRouter: filepath.Join(dirs[2], "kube-router-netpol"),
	}, nil
}

// Prepare builds every binary a cluster may need: the control plane's and, where the machine can run real nodes,
// the nodes' (installing the host packages they need meanwhile). A test suite calls it once at its start, so that
// the builds overlap with whatever else the machine is doing instead of each waiting for the first test that needs
// it. The tools modules build one after another, never at once (see install): they share most of their packages,
// which a second build then finds in the build cache instead of compiling them a second time beside the first.
// Builds already cached cost nothing; the first error is returned.
func Prepare(ctx context.Context, opts ...Option) error {
	o := newOptions(opts)
	var wg sync.WaitGroup
	var hostErr error
	realNodes := RealNodesSupported() == nil
	if realNodes {
		wg.Go(func() { hostErr = ensureHostPackages(ctx) })
	}
	_, err := install(ctx, o, controlPlane)
	if err == nil && realNodes {
		_, err = InstallNodes(ctx, opts...)
	}
	wg.Wait()
	return errors.Join(err, hostErr)
}

// install builds ts into its cache folder unless it is there, and returns the folder.
func install(ctx context.Context, o options, ts toolset) (string, error) {
	goCmd, err := gobuild.GoCommand("the testbed")
	if err != nil {
		return "", err
	}
	goVersion, err := gobuild.GoEnv(ctx, goCmd, "GOVERSION")
	if err != nil {
		return "", err
	}
	root, err := cacheRoot(o.cacheDir)
	if err != nil {
		return "", err
	}
	key := cacheKey(ts, goVersion)
	dir := filepath.Join(root, key)
	if ts.built(dir) {
		return dir, nil
	}
	if err := os.MkdirAll(root, 0o755); err != nil {
		return "", fmt.Errorf("creating testbed cache: %w", err)
	}
	// One lock for every toolset: the tools modules share most of their packages (client-go, Kubernetes itself), and
	// two go builds of them at once, in this process or another, would each compile them. One after the other, the
	// second finds them in the build cache.
	unlock, err := fsutil.Lock(ctx, filepath.Join(root, "build.lock"))
	if err != nil {
		return "", fmt.Errorf("locking testbed cache: %w", err)
	}
	defer unlock()
	if ts.built(dir) { // another process built it while we waited
		return dir, nil
	}
	// Left by a build that was killed; nobody else builds this key now.
	if stale, _ := filepath.Glob(filepath.Join(root, key+".tmp-*")); len(stale) > 0 {
		for _, s := range stale {
			_ = os.RemoveAll(s)
		}
	}
	if err := build(ctx, o.logger, goCmd, root, dir, ts); err != nil {
		return "", err
	}
	return dir, nil
}

// cacheRoot is the folder that holds one subfolder per cache key.
func cacheRoot(dir string) (string, error) {
	if dir != "" {
		return dir, nil
	}
	return gobuild.CacheRoot("testbed")
}

// cacheKey names one build: the tools module's files, what is built of it and how, the Go version and the
// platform.
func cacheKey(ts toolset, goVersion string) string {
	h := sha256.New()
	h.Write(ts.archive)
	for _, t := range ts.tools {
		fmt.Fprintf(h, "\x00%s=%s", t.pkg, t.name)
	}
	fmt.Fprintf(h, "\x00%s\x00%s\x00%s/%s", ts.ldflags, goVersion, runtime.GOOS, runtime.GOARCH)
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// build writes the tools module to a temporary folder under root, builds the
// binaries next to it and renames the binaries' folder to dir.
func build(ctx context.Context, log *slog.Logger, goCmd, root, dir string, ts toolset) (err error) {
	tmp, err := os.MkdirTemp(root, filepath.Base(dir)+".tmp-")
	if err != nil {
		return fmt.Errorf("creating build folder: %w", err)
	}
	defer os.RemoveAll(tmp)
	src, out := filepath.Join(tmp, "src"), filepath.Join(tmp, "bin")
	if err := extractArchive(src, parseArchive(ts.archive)); err != nil {
		return fmt.Errorf("writing tools module: %w", err)
	}
	args := []string{"build", "-ldflags=-s -w " + ts.ldflags, "-o", out + string(filepath.Separator)}
	for _, t := range ts.tools {
		args = append(args, t.pkg)
	}
	cmd := exec.CommandContext(ctx, goCmd, args...)
	cmd.Dir = src
	cmd.Env = append(os.Environ(), "GOTOOLCHAIN=local", "GOFLAGS=-mod=mod", "GOWORK=off", "CGO_ENABLED=0")
	log.Info("building testbed "+ts.what+" binaries; the first build takes several minutes", "dir", dir)
	if err := gobuild.Run(cmd, log); err != nil {
		return fmt.Errorf("building testbed %s binaries: %w", ts.what, err)
	}
	if !ts.built(out) {
		return fmt.Errorf("building testbed %s binaries: go build left some binaries missing", ts.what)
	}
	if err := os.Rename(out, dir); err != nil {
		return fmt.Errorf("moving testbed binaries into the cache: %w", err)
	}
	log.Info("built testbed "+ts.what+" binaries", "dir", dir)
	return nil
}
