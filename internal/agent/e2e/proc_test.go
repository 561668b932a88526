package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// agopsBin is the agops binary the process tests run, built once (buildOnce) into TestMain's folder.
var (
	agopsBin  string
	buildOnce sync.Once
	buildErr  error
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "agops-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	agopsBin = filepath.Join(dir, "agops")
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// buildAgops builds cmd/agops the first time a test needs it.
func buildAgops(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		_, file, _, _ := runtime.Caller(0)
		cmd := exec.Command("go", "build", "-o", agopsBin, "./cmd/agops")
		cmd.Dir = filepath.Join(filepath.Dir(file), "..", "..", "..")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("building agops: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return agopsBin
}

// proc is an agops process the test started (and may kill).
type proc struct {
	t    *testing.T
	cmd  *exec.Cmd
	log  string
	done chan struct{}
}

// startAgops starts `agops ARGS...`, its output in a log file; the test's end kills it if still running.
func startAgops(t *testing.T, name string, args ...string) *proc {
	t.Helper()
	bin := buildAgops(t)
	logPath := filepath.Join(t.TempDir(), name+".log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Env = append(os.Environ(), "TEMPORAL_ADDRESS=", "AGOPS_GATEWAY_URL=")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{t: t, cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		logf.Close()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.kill()
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			t.Logf("%s output:\n%s", name, lastLines(string(b), 40))
		}
	})
	return p
}

// kill sends SIGKILL to the process (only ours: by its pid) and waits for it to be gone.
func (p *proc) kill() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		p.t.Errorf("process %d did not die", p.cmd.Process.Pid)
	}
}

// waitLog waits until the process's output contains s.
func (p *proc) waitLog(s string, within time.Duration) {
	p.t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		b, _ := os.ReadFile(p.log)
		if strings.Contains(string(b), s) {
			return
		}
		select {
		case <-p.done:
			b, _ := os.ReadFile(p.log)
			p.t.Fatalf("process ended before saying %q:\n%s", s, lastLines(string(b), 40))
		case <-time.After(50 * time.Millisecond):
		}
	}
	p.t.Fatalf("process did not say %q within %s", s, within)
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// wait waits for the process to exit and returns its error (non-zero exit included).
func (p *proc) wait(within time.Duration) error {
	select {
	case <-p.done:
		if !p.cmd.ProcessState.Success() {
			return fmt.Errorf("exit: %s", p.cmd.ProcessState)
		}
		return nil
	case <-time.After(within):
		return fmt.Errorf("still running after %s", within)
	}
}

// output is everything the process printed so far.
func (p *proc) output() string {
	b, _ := os.ReadFile(p.log)
	return string(b)
}
