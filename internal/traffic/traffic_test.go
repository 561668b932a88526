package traffic

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func ms(n int) time.Duration { return time.Duration(n) * time.Millisecond }

func TestSummarizeFindsTheLongestRunOfFailures(t *testing.T) {
	t.Parallel()
	s := []Sample{{At: ms(0), OK: true}, {At: ms(100)}, {At: ms(200), OK: true}, {At: ms(300)}, {At: ms(400)},
		{At: ms(500)}, {At: ms(600), OK: true}, {At: ms(700)}}
	r := summarize("x", time.Now(), s, ms(750))
	if r.Requests != 8 || r.Failed != 5 {
		t.Fatalf("requests %d failed %d", r.Requests, r.Failed)
	}
	if r.LongestOutage != ms(300) || r.OutageFrom != ms(300) {
		t.Fatalf("outage %s from %s, want 300ms from 300ms", r.LongestOutage, r.OutageFrom)
	}
	// A run that lasts to the end counts until the end.
	r = summarize("x", time.Now(), []Sample{{At: 0, OK: true}, {At: ms(100)}}, ms(900))
	if r.LongestOutage != ms(800) {
		t.Fatalf("outage to the end %s, want 800ms", r.LongestOutage)
	}
	// Samples arrive out of order (requests end at different times).
	r = summarize("x", time.Now(), []Sample{{At: ms(200), OK: true}, {At: ms(100)}, {At: 0, OK: true}}, ms(300))
	if r.LongestOutage != ms(100) || r.Samples[0].At != 0 {
		t.Fatalf("unordered: %+v", r)
	}
	if r := summarize("x", time.Now(), nil, ms(100)); r.LongestOutage != 0 || r.Failed != 0 {
		t.Fatalf("empty: %+v", r)
	}
}

func TestRunCountsAnOutageOfAServer(t *testing.T) {
	t.Parallel()
	var down atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if down.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	go func() {
		time.Sleep(300 * time.Millisecond)
		down.Store(true)
		time.Sleep(500 * time.Millisecond)
		down.Store(false)
	}()
	r, err := Run(context.Background(), Options{Target: srv.URL, Every: 20 * time.Millisecond, For: 1200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if r.Failed == 0 || r.Failed == r.Requests {
		t.Fatalf("failed %d of %d", r.Failed, r.Requests)
	}
	// About 500ms down; the ticker and the scheduler may stretch or shrink it a little.
	if r.LongestOutage < 350*time.Millisecond || r.LongestOutage > 800*time.Millisecond {
		t.Fatalf("longest outage %s, want about 500ms", r.LongestOutage)
	}
	for _, s := range r.Samples {
		if !s.OK && s.Error != "status 503" {
			t.Fatalf("failure reason %q", s.Error)
		}
	}
}

func TestRunTCPNamesRefusedConnections(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now
	r, err := Run(context.Background(), Options{Target: addr, Every: 50 * time.Millisecond, For: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if r.Requests == 0 || r.Failed != r.Requests || r.Samples[0].Error != "refused" {
		t.Fatalf("closed port: %+v", r)
	}
}

func TestOptionsAreChecked(t *testing.T) {
	t.Parallel()
	for _, target := range []string{"", "no-port", "http://[::1", "ftp://x"} {
		if _, err := Run(context.Background(), Options{Target: target, For: time.Millisecond}); err == nil {
			t.Errorf("target %q accepted", target)
		}
	}
}

func TestLineRoundTrip(t *testing.T) {
	t.Parallel()
	r := summarize("http://svc/", time.Unix(100, 0).UTC(), []Sample{{At: 0, OK: true}, {At: ms(100), Error: "timeout"}}, ms(200))
	var b bytes.Buffer
	b.WriteString("some other line\n")
	if err := WriteLine(&b, Result{Target: "older"}); err != nil {
		t.Fatal(err)
	}
	if err := WriteLine(&b, r); err != nil {
		t.Fatal(err)
	}
	got, err := Parse(&b)
	if err != nil {
		t.Fatal(err)
	}
	if got.Target != r.Target || got.Failed != 1 || got.LongestOutage != ms(100) || len(got.Samples) != 2 {
		t.Fatalf("parsed %+v", got)
	}
	for _, bad := range []string{"", "agops-traffic {", `agops-traffic {"requests":1,"failed":2}`, "agops-traffic null x"} {
		if _, err := Parse(strings.NewReader(bad)); err == nil {
			t.Errorf("Parse(%q) accepted", bad)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add("agops-traffic {\"requests\":1,\"failed\":0,\"samples\":[{\"at\":0,\"ok\":true}]}\n")
	f.Add("x\nagops-traffic {}")
	f.Fuzz(func(t *testing.T, log string) {
		r, err := Parse(strings.NewReader(log))
		if err == nil && (r.Failed > r.Requests || len(r.Samples) != r.Requests) {
			t.Fatalf("inconsistent result accepted: %+v", r)
		}
	})
}
