package embedded

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/agops/agops/internal/devserver"
)

func greet(ctx workflow.Context, name string) (string, error) {
	if err := workflow.Sleep(ctx, time.Second); err != nil {
		return "", err
	}
	return "hello " + name, nil
}

// TestStateSurvivesRestart starts a workflow, stops the server before it finishes, starts a new server on the same
// file and sees the same run finish there.
func TestStateSurvivesRestart(t *testing.T) {
	t.Parallel()
	port, err := devserver.FreeBase()
	if err != nil {
		t.Fatal(err)
	}
	opts := devserver.Options{DBFile: filepath.Join(t.TempDir(), "state", "temporal.db"), Port: port}
	srv := start(t, opts)
	c := dial(t, srv)
	run, err := c.ExecuteWorkflow(t.Context(), client.StartWorkflowOptions{ID: "greet-1", TaskQueue: "q"}, greet, "ada")
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}

	srv = start(t, opts)
	defer srv.Stop()
	c = dial(t, srv)
	defer c.Close()
	w := worker.New(c, "q", worker.Options{})
	w.RegisterWorkflow(greet)
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	var got string
	if err := c.GetWorkflow(ctx, "greet-1", run.GetRunID()).Get(ctx, &got); err != nil || got != "hello ada" {
		t.Fatalf("after restart: %q, %v", got, err)
	}
}

func TestStartErrors(t *testing.T) {
	t.Parallel()
	if _, err := Start(t.Context(), devserver.Options{}); err == nil {
		t.Error("no error without a DB file")
	}
	port, err := devserver.FreeBase()
	if err != nil {
		t.Fatal(err)
	}
	opts := devserver.Options{DBFile: filepath.Join(t.TempDir(), "t.db"), Port: port, LogFile: "-"}
	srv := start(t, opts)
	defer srv.Stop()
	// A second server on the same port fails with a clear error instead of hanging.
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	opts.DBFile = filepath.Join(t.TempDir(), "other.db")
	if s2, err := Start(ctx, opts); err == nil {
		s2.Stop()
		t.Error("a second server started on a busy port")
	} else if errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("no early failure: %v", err)
	}
}

func start(t *testing.T, o devserver.Options) *Server {
	t.Helper()
	srv, err := Start(t.Context(), o)
	if err != nil {
		t.Fatal(err)
	}
	return srv
}

func dial(t *testing.T, s *Server) client.Client {
	t.Helper()
	c, err := client.Dial(client.Options{HostPort: s.HostPort(), Logger: devserver.QuietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// BenchmarkStart measures starting the embedded server until its frontend answers, on a new file (schema set up) and
// on an existing one, and stopping it.
//
// go test ./internal/devserver/embedded -run XXX -bench Start -benchtime 3x
func BenchmarkStart(b *testing.B) {
	for _, reuse := range []bool{false, true} {
		name := map[bool]string{false: "new-file", true: "existing-file"}[reuse]
		b.Run(name, func(b *testing.B) {
			db := filepath.Join(b.TempDir(), "t.db")
			port, err := devserver.FreeBase()
			if err != nil {
				b.Fatal(err)
			}
			i := 0
			for b.Loop() {
				if !reuse {
					db = filepath.Join(b.TempDir(), fmt.Sprintf("t%d.db", i))
				}
				i++
				s, err := Start(context.Background(), devserver.Options{DBFile: db, Port: port, LogFile: "-"})
				if err != nil {
					b.Fatal(err)
				}
				if err := s.Stop(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestMainProtocol runs the agops-devserver program as agops dev does: it says "ready HOST:PORT" once the frontend
// answers and stops gracefully on "stop".
func TestMainProtocol(t *testing.T) {
	t.Parallel()
	port, err := devserver.FreeBase()
	if err != nil {
		t.Fatal(err)
	}
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	var stderr strings.Builder
	code := make(chan int, 1)
	go func() {
		code <- Main([]string{"--db", filepath.Join(t.TempDir(), "t.db"), "--port", strconv.Itoa(port), "--log", "-",
			"--watch-stdin"}, inR, outW, &stderr)
	}()
	line, err := bufio.NewReader(outR).ReadString('\n')
	if want := fmt.Sprintf("ready 127.0.0.1:%d\n", port); err != nil || line != want {
		t.Fatalf("first line %q, %v; want %q (stderr %s)", line, err, want, stderr.String())
	}
	go func() { _, _ = io.Copy(io.Discard, outR) }()
	_, _ = io.WriteString(inW, "stop\n")
	inW.Close()
	select {
	case got := <-code:
		if got != 0 {
			t.Errorf("exit %d after stop (stderr %s)", got, stderr.String())
		}
	case <-time.After(time.Minute):
		t.Fatal("still running a minute after stop")
	}
	if got := Main([]string{"--port", "1"}, strings.NewReader(""), io.Discard, io.Discard); got != 2 {
		t.Errorf("no --db: exit %d, want 2", got)
	}
}

// TestWatchStdin: "stop" asks for a graceful stop; the end of stdin, without it, means the parent is gone.
func TestWatchStdin(t *testing.T) {
	t.Parallel()
	for in, wantGone := range map[string]bool{"stop\n": false, "other\n": true, "": true} {
		cancelled, gone := false, make(chan struct{})
		watchStdin(strings.NewReader(in), func() { cancelled = true }, gone)
		select {
		case <-gone:
			if !wantGone {
				t.Errorf("%q: gone", in)
			}
		default:
			if wantGone {
				t.Errorf("%q: not gone", in)
			}
		}
		if !cancelled {
			t.Errorf("%q: not cancelled", in)
		}
	}
}
