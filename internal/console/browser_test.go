package console

import (
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/agops/agops/internal/browsertest"
)

// TestSignInFormInABrowser: the sign-in page's form, in Chromium, signs a person in and lands on the approvals.
func TestSignInFormInABrowser(t *testing.T) {
	t.Parallel()
	st := newStack(t)
	b := browsertest.New(t)
	b.Run(chromedp.Navigate(st.console.URL+"/audit"), chromedp.WaitVisible(chromedp.CSS("#token")),
		chromedp.SendKeys(chromedp.CSS("#token"), victorToken), chromedp.Click(chromedp.CSS(`button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS("#person")))
	if loc := browsertest.Get(b, chromedp.Location()); loc != st.console.URL+"/audit" {
		t.Errorf("after signing in: %s, want the page asked for", loc)
	}
	if who := browsertest.Get(b, chromedp.Text(chromedp.CSS("#person"))); who != "victor" {
		t.Errorf("signed in as %q", who)
	}
}
