package standin

import (
	"bytes"
	"context"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agops/agops/internal/netutil"
)

// syncBuffer is a bytes.Buffer a running stand-in writes to while the test reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestRunOnce(t *testing.T) {
	t.Parallel()
	ports, err := netutil.FreePorts(1)
	if err != nil {
		t.Fatal(err)
	}
	own := strconv.Itoa(ports[0])
	probes, err := ParseProbes("ns/self=127.0.0.1:" + own + "/TCP,ns/gone=127.0.0.1:" + strconv.Itoa(closedPort(t)) + "/TCP")
	if err != nil {
		t.Fatal(err)
	}
	listen, _ := ParsePorts(own + "/TCP")
	c := Config{
		Listen: listen, Probes: probes, Once: true, ListenHost: "127.0.0.1",
		Env:      []string{"POD_NAME=api-0", "POD_NAMESPACE=ns", "DATABASE_URL=postgres://app:hunter2@localhost:" + own + "/app"},
		Command:  []string{"serve", "--upstream", "http://no-such-peer.invalid:8080"},
		Hostname: "ignored", Workload: "ns/api", Container: "api", Timeout: 500 * time.Millisecond,
	}
	var out bytes.Buffer
	if err := Run(context.Background(), c, &out); err != nil {
		t.Fatal(err)
	}
	if strings.Count(out.String(), "\n") != 1 || strings.Contains(out.String(), "hunter2") {
		t.Fatalf("--once wrote %q; want one report line without the password", out.String())
	}
	reps, err := ParseLog(&out)
	if err != nil || len(reps) != 1 {
		t.Fatalf("ParseLog = %v, %v", reps, err)
	}
	r := reps[0]
	if r.Pod != "api-0" || r.Namespace != "ns" || r.Workload != "ns/api" || r.Container != "api" || r.Round != 1 ||
		strings.Join(r.Listening, ",") != own+"/TCP" {
		t.Errorf("report header = %+v", r)
	}
	got := map[string]string{}
	for _, res := range append(r.Results, r.Self...) {
		got[res.Source+" "+res.Target] = strconv.FormatBool(res.OK) + " " + res.Error
	}
	want := map[string]string{
		"config:args no-such-peer.invalid:8080": "false dns: ",
		"probe 127.0.0.1:" + own:                "true ",
		"probe " + probes[1].Addr:               "false refused",
		"config:DATABASE_URL localhost:" + own:  "true ",
	}
	for k, v := range want {
		if !strings.HasPrefix(got[k], v) {
			t.Errorf("result %s = %q, want %q...", k, got[k], v)
		}
	}
	if len(got) != len(want) {
		t.Errorf("results %v, want %d of them", got, len(want))
	}
}

// TestRunRoundsUntilCanceled: rounds repeat every Every; ending the context (SIGTERM) ends Run without an error.
func TestRunRoundsUntilCanceled(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	out := &syncBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Config{Env: []string{"POD_NAME=p"}, Container: "rounds", Every: 20 * time.Millisecond}, out)
	}()
	deadline := time.Now().Add(10 * time.Second)
	for strings.Count(out.String(), "\n") < 3 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run after cancel = %v, want nil", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run still runs 5 s after its context ended")
	}
	reps, err := ParseLog(strings.NewReader(out.String()))
	if err != nil || len(reps) != 1 || reps[0].Round < 3 {
		t.Errorf("ParseLog = %+v, %v; want the last of at least 3 rounds", reps, err)
	}
}

func TestRunFailsOnATakenPort(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	_, port, _ := net.SplitHostPort(l.Addr().String())
	listen, _ := ParsePorts(port)
	err = Run(context.Background(), Config{Listen: listen, ListenHost: "127.0.0.1", Once: true, Container: "taken"}, io.Discard)
	if err == nil || !strings.Contains(err.Error(), port+"/TCP") {
		t.Errorf("Run on a taken port = %v; want an error naming it", err)
	}
}

// TestCheck: the check passes while the container's stand-in runs, and fails for another container, in another
// pod, and once the stand-in stopped.
func TestCheck(t *testing.T) {
	t.Parallel()
	env := []string{"POD_NAME=web-0", "POD_NAMESPACE=shop"}
	c := Config{Env: env, Container: "web", Every: time.Hour, Timeout: time.Second}
	ctx, cancel := context.WithCancel(context.Background())
	out := &syncBuffer{}
	done := make(chan error, 1)
	go func() { done <- Run(ctx, c, out) }()
	deadline := time.Now().Add(10 * time.Second)
	for out.String() == "" && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if err := Check(context.Background(), c); err != nil {
		t.Errorf("Check of a running stand-in = %v", err)
	}
	other := c
	other.Container = "sidecar"
	if err := Check(context.Background(), other); err == nil {
		t.Error("Check of another container passed")
	}
	otherPod := c
	otherPod.Env = []string{"POD_NAME=web-1", "POD_NAMESPACE=shop"}
	if err := Check(context.Background(), otherPod); err == nil {
		t.Error("Check of another pod passed")
	}
	cancel()
	<-done
	if err := Check(context.Background(), c); err == nil {
		t.Error("Check passed after the stand-in stopped")
	}
}
