package browsertest

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/chromedp/chromedp"
)

// syncPrefix starts the console.debug lines that console.sync writes; they are markers, not the page's messages.
const syncPrefix = "agops-browsertest-sync "

// console collects a tab's console errors in the order the browser sent them.
type console struct {
	mu       sync.Mutex
	errs     []chromedp.ConsoleMessage
	reported int
	markers  map[string]chan struct{}
	next     int
}

// watchConsole subscribes to the tab's console until ctx ends.
func watchConsole(ctx context.Context) *console {
	c := &console{markers: map[string]chan struct{}{}}
	messages := chromedp.Console(ctx) // subscribed from here on, before any later action
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			c.add(m)
		}
	}()
	return c
}

func (c *console) add(m chromedp.ConsoleMessage) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if m.Type == chromedp.ConsoleDebug && strings.HasPrefix(m.Text, syncPrefix) {
		if ch, ok := c.markers[m.Text]; ok {
			close(ch)
			delete(c.markers, m.Text)
		}
		return
	}
	if isError(m) {
		c.errs = append(c.errs, m)
	}
}

// isError tells the messages that fail a test: console.error calls, uncaught exceptions and unhandled rejections,
// and the browser's own errors (a failed request), except the favicon the browser asks for by itself.
func isError(m chromedp.ConsoleMessage) bool {
	if m.Type != chromedp.ConsoleError && !m.IsException() {
		return false
	}
	return !strings.HasSuffix(m.URL, "/favicon.ico")
}

// sync writes a marker to the page's console and waits until the watcher has read it: every message the page wrote
// before then has been collected. It gives up quietly after a few seconds or when the page cannot run script.
func (c *console) sync(ctx context.Context) {
	c.mu.Lock()
	c.next++
	marker := fmt.Sprintf("%s%d", syncPrefix, c.next)
	seen := make(chan struct{})
	c.markers[marker] = seen
	c.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[chromedp.Void](fmt.Sprintf("console.debug(%q)", marker))); err != nil {
		return
	}
	select {
	case <-seen:
	case <-ctx.Done():
	}
}

// all returns every error so far.
func (c *console) all() []chromedp.ConsoleMessage {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]chromedp.ConsoleMessage(nil), c.errs...)
}

// fresh returns the errors that fresh has not returned before.
func (c *console) fresh() []chromedp.ConsoleMessage {
	c.mu.Lock()
	defer c.mu.Unlock()
	f := append([]chromedp.ConsoleMessage(nil), c.errs[c.reported:]...)
	c.reported = len(c.errs)
	return f
}
