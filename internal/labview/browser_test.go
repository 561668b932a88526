package labview

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/agops/agops/internal/browsertest"
)

// TestExampleInBrowser opens the example's SVG in Chromium: the browser parses it as SVG (an XML error would show
// Chromium's error page instead), lays out every workload box, and reports no error. With AGOPS_SCREENSHOTS set it
// writes lab-ai-lab.png there.
func TestExampleInBrowser(t *testing.T) {
	t.Parallel()
	lab, err := Load(example)
	if err != nil {
		t.Fatal(err)
	}
	svg := lab.SVG()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "image/svg+xml")
		_, _ = w.Write(svg)
	}))
	t.Cleanup(srv.Close)
	b := browsertest.New(t)
	b.Run(chromedp.Navigate(srv.URL))
	if root := browsertest.Get(b, chromedp.Evaluate[string](`document.documentElement.localName`)); root != "svg" {
		t.Fatalf("Chromium shows a %q document, not the SVG", root)
	}
	boxes := browsertest.Get(b, chromedp.Evaluate[int](`[...document.querySelectorAll("rect")].filter(r => r.getBBox().width > 0).length`))
	if want := lab.WorkloadCount() + len(lab.Tiers) + 2; boxes != want { // + the background and the outside world
		t.Errorf("%d boxes laid out, want %d", boxes, want)
	}
	b.Screenshot("lab-ai-lab")
}
