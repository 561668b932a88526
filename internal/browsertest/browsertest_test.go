package browsertest

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// page is a little page with script: a button that changes text, one that fetches from the same server, one that
// throws.
const page = `<!doctype html>
<html><head><title>harness</title></head><body>
<h1 id="greeting">hello</h1>
<button id="change" onclick="document.getElementById('greeting').textContent = 'clicked'">change</button>
<button id="fetch" onclick="fetch('/api').then(r => r.text()).then(t => { document.getElementById('answer').textContent = t })">fetch</button>
<p id="answer"></p>
<button id="boom" onclick="setTimeout(() => { throw new Error('boom from the page') }, 0)">boom</button>
</body></html>`

func serve(t *testing.T) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, page)
	})
	mux.HandleFunc("GET /api", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, "from the server") })
	srv := httptest.NewServer(mux) // /favicon.ico answers 404, which must not count as a page error
	t.Cleanup(srv.Close)
	return srv
}

func TestScreenshotsDirFromModuleRoot(t *testing.T) {
	t.Parallel()
	got, err := screenshotsDir("docs/console")
	if err != nil {
		t.Fatal(err)
	}
	want, _ := filepath.Abs(filepath.Join("..", "..", "docs", "console"))
	if got != want {
		t.Errorf("docs/console resolves to %s, want %s (from the module's root)", got, want)
	}
	if got, _ := screenshotsDir("/tmp/shots"); got != "/tmp/shots" {
		t.Errorf("an absolute folder changed to %s", got)
	}
}

func TestClickFetchAndScreenshot(t *testing.T) {
	srv := serve(t)
	shots := t.TempDir()
	t.Setenv(ScreenshotsEnv, shots) // so not parallel
	b := New(t)
	b.Run(chromedp.Navigate(srv.URL), chromedp.Click(chromedp.CSS("#change")))
	if got := Get(b, chromedp.Text(chromedp.CSS("#greeting"))); got != "clicked" {
		t.Errorf("after the click the greeting reads %q, want clicked", got)
	}
	b.Run(chromedp.Click(chromedp.CSS("#fetch")))
	if got := Get(b, chromedp.Poll[string](`document.getElementById('answer').textContent`)); got != "from the server" {
		t.Errorf("after the fetch the answer reads %q, want the server's text", got)
	}
	path := b.Screenshot("harness")
	for _, p := range []string{path, filepath.Join(shots, "harness.png")} {
		png, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.HasPrefix(png, []byte("\x89PNG\r\n\x1a\n")) || len(png) < 1000 {
			t.Errorf("%s is not a PNG of a page (%d bytes)", p, len(png))
		}
	}
	if errs := b.ConsoleErrors(); len(errs) != 0 {
		t.Errorf("console errors on a clean page: %v", errs)
	}
}

// recorder is a testing.TB that records Errorf instead of failing, to test that console errors fail a test.
type recorder struct {
	*testing.T
	mu     sync.Mutex
	errors []string
}

func (r *recorder) Errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errors = append(r.errors, fmt.Sprintf(format, args...))
}

// pause lets the page's timers run for 50 ms.
var pause = chromedp.Evaluate[chromedp.Void](`new Promise(r => setTimeout(() => r(), 50))`, chromedp.EvalAwaitPromise)

func TestExceptionFailsTheTest(t *testing.T) {
	t.Parallel()
	srv := serve(t)
	rec := &recorder{T: t}
	b := New(rec)
	b.Run(chromedp.Navigate(srv.URL), chromedp.Click(chromedp.CSS("#boom")))
	// The exception is thrown on a timer, after the click's Run; the next Run's check sees it.
	b.Run(pause)
	rec.mu.Lock()
	got := strings.Join(rec.errors, "\n")
	rec.mu.Unlock()
	if !strings.Contains(got, "boom from the page") {
		t.Fatalf("a JavaScript exception did not fail the test; recorded errors: %q", got)
	}
}

func TestAllowConsoleErrorsListsThem(t *testing.T) {
	t.Parallel()
	srv := serve(t)
	b := New(t, AllowConsoleErrors())
	b.Run(chromedp.Navigate(srv.URL), chromedp.Evaluate[chromedp.Void](`console.error("said in red"); fetch("/missing")`))
	b.Run(chromedp.Click(chromedp.CSS("#boom")), pause)
	var texts []string
	for _, m := range b.ConsoleErrors() {
		texts = append(texts, m.String())
	}
	got := strings.Join(texts, "\n")
	for _, want := range []string{"said in red", "boom from the page", "404"} {
		if !strings.Contains(got, want) {
			t.Errorf("console errors lack %q:\n%s", want, got)
		}
	}
}

func TestBrowsersSideBySide(t *testing.T) {
	t.Parallel()
	srv := serve(t)
	a, b := New(t), New(t)
	a.Run(chromedp.Navigate(srv.URL), chromedp.Click(chromedp.CSS("#change")))
	b.Run(chromedp.Navigate(srv.URL))
	if got := Get(b, chromedp.Text(chromedp.CSS("#greeting"))); got != "hello" {
		t.Errorf("the second browser sees %q: it shares state with the first", got)
	}
	if got := Get(a, chromedp.Text(chromedp.CSS("#greeting"))); got != "clicked" {
		t.Errorf("the first browser sees %q, want clicked", got)
	}
}

// BenchmarkStart measures starting a browser (Chromium already installed) up to a blank tab, and stopping it.
func BenchmarkStart(b *testing.B) {
	path, err := Chromium(b.Context())
	if err != nil {
		b.Skip(err)
	}
	for b.Loop() {
		_, stop, err := start(b, path, config{timeout: time.Minute})
		if err != nil {
			b.Fatal(err)
		}
		stop()
	}
}

// fatalRecorder also records Fatalf, ending only the goroutine that called it.
type fatalRecorder struct {
	recorder
}

func (r *fatalRecorder) Fatalf(format string, args ...any) {
	r.Errorf(format, args...)
	runtime.Goexit()
}

func TestRunFailureShowsThePage(t *testing.T) {
	t.Parallel()
	srv := serve(t)
	rec := &fatalRecorder{recorder{T: t}}
	b := New(rec)
	b.Run(chromedp.Navigate(srv.URL))
	done := make(chan struct{})
	go func() {
		defer close(done)
		b.Run(chromedp.Evaluate[chromedp.Void](`no_such_function()`))
	}()
	<-done
	rec.mu.Lock()
	got := strings.Join(rec.errors, "\n")
	rec.mu.Unlock()
	for _, want := range []string{"no_such_function", "page " + srv.URL, `<h1 id="greeting">hello</h1>`} {
		if !strings.Contains(got, want) {
			t.Errorf("the failure lacks %q:\n%s", want, got)
		}
	}
}
