// Package browsertest starts headless Chromium for Go tests (the console's pages, the docs' screenshots), driven
// through chromedp. Only tests use this package: nothing agops ships imports it.
//
// New installs Debian's chromium package when it is missing (as internal/apt does for containerd), starts one
// browser with a private profile per call, and stops it when the test ends. Every page's console errors and uncaught
// JavaScript exceptions fail the test unless AllowConsoleErrors is given. Screenshot writes a full-page PNG to the
// test's temporary folder and, when AGOPS_SCREENSHOTS names a folder (a relative one is taken from the module's
// root: AGOPS_SCREENSHOTS=docs/console), there too.
package browsertest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// ScreenshotsEnv names the folder where Screenshot also writes its PNGs (the docs' screenshots).
const ScreenshotsEnv = "AGOPS_SCREENSHOTS"

// Width and Height are the size of the browser window.
const (
	Width  = 1280
	Height = 900
)

// Browser is one headless Chromium with one tab, owned by one test.
type Browser struct {
	t       testing.TB
	ctx     context.Context // the tab's chromedp context; it ends when the test's timeout does
	dir     string          // the test's temporary folder, for screenshots
	cfg     config
	console *console
}

type config struct {
	timeout     time.Duration
	allowErrors bool
}

// Option changes how New starts a browser.
type Option func(*config)

// WithTimeout bounds the browser's whole life (every Run, Screenshot and the page's own work) to d; after it
// everything fails with the context's deadline. The default is two minutes.
func WithTimeout(d time.Duration) Option { return func(c *config) { c.timeout = d } }

// AllowConsoleErrors keeps console errors and JavaScript exceptions from failing the test; ConsoleErrors still
// lists them.
func AllowConsoleErrors() Option { return func(c *config) { c.allowErrors = true } }

// New starts headless Chromium for t, installing it first when missing, and stops it on t.Cleanup. It skips t only
// where Chromium cannot be installed (not root, or no apt-get); every other problem fails t.
func New(t testing.TB, opts ...Option) *Browser {
	t.Helper()
	cfg := config{timeout: 2 * time.Minute}
	for _, o := range opts {
		o(&cfg)
	}
	installCtx, cancelInstall := context.WithTimeout(context.Background(), 11*time.Minute)
	path, err := Chromium(installCtx)
	cancelInstall()
	if errors.Is(err, ErrCannotInstall) {
		t.Skipf("browser tests need Chromium: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	b, stop, err := start(t, path, cfg)
	t.Cleanup(func() {
		b.checkConsole()
		stop()
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// start runs Chromium at path with a private profile under t.TempDir() and opens its tab; stop ends it.
func start(t testing.TB, path string, cfg config) (b *Browser, stop func(), err error) {
	b = &Browser{t: t, dir: t.TempDir(), cfg: cfg}
	life, cancelLife := context.WithTimeout(context.Background(), cfg.timeout)
	var output syncBuffer
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(life, append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.UserDataDir(filepath.Join(b.dir, "profile")),
		chromedp.WindowSize(Width, Height),
		chromedp.CombinedOutput(&output),
	)...)
	tabCtx, cancelTab := chromedp.NewContext(allocCtx)
	b.ctx = tabCtx
	stop = func() {
		cancelTab()
		cancelAlloc()
		cancelLife()
	}
	// The first call starts the browser and opens the tab; the console is watched from then on.
	if err := chromedp.Do(tabCtx, chromedp.Navigate("about:blank")); err != nil {
		return b, stop, fmt.Errorf("starting chromium %s: %w\n%s", path, err, tail(output.String(), 2000))
	}
	b.console = watchConsole(tabCtx)
	return b, stop, nil
}

// Context is the tab's chromedp context, for chromedp.Run and chromedp.Do calls the helpers do not cover.
func (b *Browser) Context() context.Context { return b.ctx }

// Run runs the actions in order on the tab. On an error it fails the test with the error, the page's URL and an
// excerpt of its DOM; afterwards it fails the test on any new console error or JavaScript exception.
func (b *Browser) Run(actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, actions...); err != nil {
		b.t.Fatalf("browser: %v\n%s", err, b.pageState())
	}
	b.checkConsole()
}

// Get runs one action that returns a value, failing the test as Run does.
func Get[T any](b *Browser, action chromedp.Action[T]) T {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, action)
	if err != nil {
		b.t.Fatalf("browser: %v\n%s", err, b.pageState())
	}
	b.checkConsole()
	return v
}

// Screenshot writes a full-page PNG of the tab to name.png in the test's temporary folder, and to
// $AGOPS_SCREENSHOTS/name.png when that variable is set, and returns the first path. name is a file name, not a path.
// A relative AGOPS_SCREENSHOTS is taken from the module's root (where go.mod is), not from the package's folder
// that go test runs in: AGOPS_SCREENSHOTS=docs/console writes to the repository's docs/console.
func (b *Browser) Screenshot(name string) string {
	b.t.Helper()
	if name == "" || name != filepath.Base(name) || strings.HasPrefix(name, ".") {
		b.t.Fatalf("screenshot name %q: want a plain file name without folders", name)
	}
	png, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Fatalf("screenshot %s: %v\n%s", name, err, b.pageState())
	}
	path := filepath.Join(b.dir, name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		b.t.Fatal(err)
	}
	if dir := os.Getenv(ScreenshotsEnv); dir != "" {
		dir, err := screenshotsDir(dir)
		if err != nil {
			b.t.Fatalf("%s: %v", ScreenshotsEnv, err)
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			b.t.Fatalf("%s: %v", ScreenshotsEnv, err)
		}
		if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
			b.t.Fatalf("%s: %v", ScreenshotsEnv, err)
		}
	}
	return path
}

// screenshotsDir resolves a relative folder against the root of the module the test runs in.
func screenshotsDir(dir string) (string, error) {
	if filepath.IsAbs(dir) {
		return dir, nil
	}
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for root := wd; ; root = filepath.Dir(root) {
		if _, err := os.Stat(filepath.Join(root, "go.mod")); err == nil {
			return filepath.Join(root, dir), nil
		}
		if filepath.Dir(root) == root {
			return "", fmt.Errorf("%q is relative and no go.mod is above %s", dir, wd)
		}
	}
}

// ConsoleErrors returns the console errors and uncaught exceptions the tab has seen so far, in order.
func (b *Browser) ConsoleErrors() []chromedp.ConsoleMessage {
	if b.console == nil {
		return nil
	}
	b.console.sync(b.ctx)
	return b.console.all()
}

// checkConsole fails the test on the console errors not reported yet, unless they are allowed.
func (b *Browser) checkConsole() {
	b.t.Helper()
	if b.console == nil || b.cfg.allowErrors || b.ctx.Err() != nil {
		return
	}
	b.console.sync(b.ctx)
	for _, m := range b.console.fresh() {
		b.t.Errorf("browser console: %s%s", m.String(), where(m))
	}
}

// pageState describes the tab after a failure: its URL and the start of its DOM.
func (b *Browser) pageState() string {
	if b.ctx.Err() != nil {
		return fmt.Sprintf("(the browser's time is up: %v)", context.Cause(b.ctx))
	}
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	url, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		return fmt.Sprintf("(no page state: %v)", err)
	}
	dom, err := chromedp.Run(ctx, chromedp.Evaluate[string]("document.documentElement ? document.documentElement.outerHTML : ''"))
	if err != nil {
		return fmt.Sprintf("page %s (no DOM: %v)", url, err)
	}
	return fmt.Sprintf("page %s\nDOM:\n%s", url, excerpt(dom, 3000))
}

func where(m chromedp.ConsoleMessage) string {
	if m.URL == "" {
		return ""
	}
	return fmt.Sprintf(" (%s:%d)", m.URL, m.Line+1)
}

// excerpt keeps the first n bytes of s, saying how much it left out.
func excerpt(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return fmt.Sprintf("%s\n… (%d more bytes)", s[:n], len(s)-n)
}

// tail keeps the last n bytes of s.
func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}

// syncBuffer collects the browser's output from the allocator's goroutine.
type syncBuffer struct {
	mu  sync.Mutex
	buf strings.Builder
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
