// Package traffic measures what a client sees of a service while something fails: it sends a request at a fixed
// interval (an HTTP GET, or a TCP connection), each with its own timeout, and counts the failures and the longest
// outage — the longest time during which every request failed. `agops traffic` runs it in a pod during a
// rehearsal's host kill; the summary goes to the pod's log as one line that Parse reads back.
package traffic

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"
)

// Options say what to call and how often.
type Options struct {
	// Target is an http:// URL (a GET that must answer 2xx) or host:port (a TCP connection that must open).
	Target string
	// Every is the interval between requests (default 100ms); Timeout bounds each (default 1s); For is how long to
	// run (0: until ctx ends).
	Every, Timeout, For time.Duration
}

// Sample is one request: when it was sent (since the start), whether it succeeded, and why not.
type Sample struct {
	At    time.Duration `json:"at"`
	OK    bool          `json:"ok"`
	Error string        `json:"error,omitempty"`
}

// Result sums up a run.
type Result struct {
	Target   string    `json:"target"`
	Start    time.Time `json:"start"`
	Requests int       `json:"requests"`
	Failed   int       `json:"failed"`
	// LongestOutage is the longest span from a failed request to the next request that succeeded (or to the end),
	// with every request in between failing; OutageFrom is when it began, since Start.
	LongestOutage time.Duration `json:"longestOutage"`
	OutageFrom    time.Duration `json:"outageFrom"`
	// Samples are every request in the order they were sent.
	Samples []Sample `json:"samples"`
}

// Run sends requests until o.For passes or ctx ends, and sums them up.
func Run(ctx context.Context, o Options) (Result, error) {
	do, err := requester(o)
	if err != nil {
		return Result{}, err
	}
	if o.Every <= 0 {
		o.Every = 100 * time.Millisecond
	}
	if o.For > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.For)
		defer cancel()
	}
	start := time.Now()
	var (
		mu      sync.Mutex
		samples []Sample
		wg      sync.WaitGroup
	)
	tick := time.NewTicker(o.Every)
	defer tick.Stop()
	for {
		at := time.Since(start)
		wg.Go(func() {
			err := do(context.WithoutCancel(ctx))
			s := Sample{At: at, OK: err == nil}
			if err != nil {
				s.Error = err.Error()
			}
			mu.Lock()
			samples = append(samples, s)
			mu.Unlock()
		})
		select {
		case <-ctx.Done():
			wg.Wait()
			return summarize(o.Target, start, samples, time.Since(start)), nil
		case <-tick.C:
		}
	}
}

// summarize orders the samples and finds the failures and the longest outage; end is when the run ended.
func summarize(target string, start time.Time, samples []Sample, end time.Duration) Result {
	slices.SortFunc(samples, func(a, b Sample) int { return int(a.At - b.At) })
	r := Result{Target: target, Start: start, Requests: len(samples), Samples: samples}
	from := time.Duration(-1)
	closeRun := func(until time.Duration) {
		if from >= 0 && until-from > r.LongestOutage {
			r.LongestOutage, r.OutageFrom = until-from, from
		}
		from = -1
	}
	for _, s := range samples {
		if s.OK {
			closeRun(s.At)
			continue
		}
		r.Failed++
		if from < 0 {
			from = s.At
		}
	}
	closeRun(end)
	return r
}

func requester(o Options) (func(context.Context) error, error) {
	timeout := o.Timeout
	if timeout <= 0 {
		timeout = time.Second
	}
	if strings.HasPrefix(o.Target, "http://") || strings.HasPrefix(o.Target, "https://") {
		if _, err := url.Parse(o.Target); err != nil {
			return nil, fmt.Errorf("target %q: %w", o.Target, err)
		}
		// A new connection per request, as a client after a failure would open: a kept-alive connection to a dead
		// pod would hide how the Service's endpoints change.
		client := &http.Client{Timeout: timeout, Transport: &http.Transport{DisableKeepAlives: true}}
		return func(ctx context.Context) error {
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, o.Target, nil)
			if err != nil {
				return err
			}
			resp, err := client.Do(req)
			if err != nil {
				return shorten(err)
			}
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
			resp.Body.Close()
			if resp.StatusCode/100 != 2 {
				return fmt.Errorf("status %d", resp.StatusCode)
			}
			return nil
		}, nil
	}
	if _, port, err := net.SplitHostPort(o.Target); err != nil || strings.Contains(o.Target, "/") || !numeric(port) {
		return nil, fmt.Errorf("target %q: want an http:// URL or host:port", o.Target)
	}
	return func(ctx context.Context) error {
		d := net.Dialer{Timeout: timeout}
		conn, err := d.DialContext(ctx, "tcp", o.Target)
		if err != nil {
			return shorten(err)
		}
		return conn.Close()
	}, nil
}

// shorten names the failure the way a reader of the report wants it: timeout, refused, or the error.
func shorten(err error) error {
	var ne net.Error
	switch {
	case errors.As(err, &ne) && ne.Timeout():
		return errors.New("timeout")
	case strings.Contains(err.Error(), "connection refused"):
		return errors.New("refused")
	case strings.Contains(err.Error(), "no such host"):
		return errors.New("no such host")
	}
	return err
}

// LinePrefix starts the log line that carries a Result.
const LinePrefix = "agops-traffic "

// WriteLine writes r as one log line.
func WriteLine(w io.Writer, r Result) error {
	data, err := json.Marshal(r)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s%s\n", LinePrefix, data)
	return err
}

// Parse finds the last Result line in a log.
func Parse(log io.Reader) (Result, error) {
	sc := bufio.NewScanner(log)
	sc.Buffer(make([]byte, 64*1024), 16<<20)
	var last string
	for sc.Scan() {
		if line := sc.Text(); strings.HasPrefix(line, LinePrefix) {
			last = line
		}
	}
	if err := sc.Err(); err != nil {
		return Result{}, fmt.Errorf("reading traffic log: %w", err)
	}
	if last == "" {
		return Result{}, errors.New("the log has no traffic summary")
	}
	var r Result
	if err := json.Unmarshal([]byte(strings.TrimPrefix(last, LinePrefix)), &r); err != nil {
		return Result{}, fmt.Errorf("traffic summary: %w", err)
	}
	if r.Failed > r.Requests || r.Failed < 0 || len(r.Samples) != r.Requests {
		return Result{}, fmt.Errorf("traffic summary: %d failed of %d requests with %d samples", r.Failed, r.Requests, len(r.Samples))
	}
	return r, nil
}

func numeric(s string) bool {
	if s == "" || len(s) > 5 {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}
