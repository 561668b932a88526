package devserver

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Process is a server running as a child process: the agops-devserver program.
type Process struct {
	cmd      *exec.Cmd
	stdin    *os.File
	hostPort string
	exited   chan struct{}
	waitErr  error
	stderr   tailBuffer
}

// LaunchOptions say where a launch reports.
type LaunchOptions struct {
	// Progress hears, one line each, what takes time: building the program (see Program). Nil for nothing.
	Progress io.Writer
	// Logger receives the go command's output at debug level. Nil for nothing.
	Logger *slog.Logger
}

// Launch starts the server as a child process and returns once its frontend answers, or ctx ends. The child is
// tied to this process: it stops with Stop, and it ends when this process ends, even killed.
func Launch(ctx context.Context, o Options, lo LaunchOptions) (*Process, error) {
	o, err := o.WithDefaults()
	if err != nil {
		return nil, err
	}
	if err := CheckPorts(o.Host, o.Port); err != nil { // before a build of minutes, not after
		return nil, err
	}
	prog, err := Program(ctx, lo.Progress, lo.Logger)
	if err != nil {
		return nil, err
	}
	args := []string{"--db", o.DBFile, "--host", o.Host, "--port", strconv.Itoa(o.Port), "--log", o.LogFile, "--watch-stdin"}
	for _, ns := range o.Namespaces {
		args = append(args, "--namespace", ns)
	}
	p := &Process{cmd: exec.Command(prog, args...), exited: make(chan struct{})}
	ready, err := p.start()
	if err != nil {
		return nil, fmt.Errorf("starting the dev server %s: %w", prog, err)
	}
	select {
	case p.hostPort = <-ready:
		return p, nil
	case <-p.exited:
		return nil, p.exitError()
	case <-ctx.Done():
		_ = p.cmd.Process.Kill()
		<-p.exited
		return nil, ctx.Err()
	}
}

// start starts the child with a pipe on each side: its stdin (closed when this process ends, however it ends),
// its stdout (where it says "ready HOST:PORT") and its stderr (kept for errors).
func (p *Process) start() (<-chan string, error) {
	inR, inW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		inR.Close()
		inW.Close()
		return nil, err
	}
	p.cmd.Stdin, p.cmd.Stdout, p.cmd.Stderr = inR, outW, &p.stderr
	p.cmd.SysProcAttr = sysProcAttr()
	err = p.cmd.Start()
	inR.Close()
	outW.Close()
	if err != nil {
		inW.Close()
		outR.Close()
		return nil, err
	}
	p.stdin = inW
	go func() {
		p.waitErr = p.cmd.Wait()
		close(p.exited)
	}()
	ready := make(chan string, 1)
	go func() {
		defer outR.Close()
		sc := bufio.NewScanner(outR)
		for sc.Scan() {
			if hp, ok := strings.CutPrefix(sc.Text(), "ready "); ok {
				ready <- hp
				break
			}
		}
		_, _ = io.Copy(io.Discard, outR)
	}()
	return ready, nil
}

// HostPort is the frontend's address for clients and workers.
func (p *Process) HostPort() string { return p.hostPort }

// Exited is closed when the server process has ended; Err then says why.
func (p *Process) Exited() <-chan struct{} { return p.exited }

// Err is why the process ended, once Exited is closed.
func (p *Process) Err() error { return p.exitError() }

func (p *Process) exitError() error {
	msg := strings.TrimSpace(p.stderr.String())
	if msg == "" && p.waitErr != nil {
		msg = p.waitErr.Error()
	}
	if msg == "" {
		msg = "exited"
	}
	return fmt.Errorf("the dev server stopped: %s", msg)
}

// stopWait bounds a graceful stop; the process is killed after it.
const stopWait = 30 * time.Second

// Stop asks the server to stop, waits for it (killing it after stopWait), and reports how it ended; the SQLite file
// keeps the state.
func (p *Process) Stop() error {
	_, _ = io.WriteString(p.stdin, "stop\n")
	_ = p.stdin.Close()
	select {
	case <-p.exited:
	case <-time.After(stopWait):
		_ = p.cmd.Process.Kill()
		<-p.exited
		return fmt.Errorf("the dev server did not stop within %s and was killed", stopWait)
	}
	if p.waitErr != nil {
		return p.exitError()
	}
	return nil
}

// tailBuffer keeps the last 4 KiB written to it.
type tailBuffer struct {
	mu  sync.Mutex
	buf []byte
}

func (t *tailBuffer) Write(b []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, b...)
	if over := len(t.buf) - 4096; over > 0 {
		t.buf = t.buf[over:]
	}
	return len(b), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}
