//go:build unix

package testbed

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

// State is what a test bed left running (agops testbed up) writes for the commands that come after it.
type State struct {
	PID        int    `json:"pid"`
	Kubeconfig string `json:"kubeconfig"`
	Dir        string `json:"dir"`
	Error      string `json:"error,omitempty"`
}

// Serve starts a cluster, writes its State to stateFile, and keeps it running until ctx ends; then it stops the
// cluster and removes the file. `agops testbed up` runs it in a background process of its own.
func Serve(ctx context.Context, stateFile string, opts ...Option) error {
	c, err := Start(ctx, opts...)
	if err != nil {
		_ = writeState(stateFile, State{PID: os.Getpid(), Error: err.Error()})
		return err
	}
	defer os.Remove(stateFile)
	defer c.Stop()
	if err := writeState(stateFile, State{PID: os.Getpid(), Kubeconfig: c.Kubeconfig(), Dir: c.Dir()}); err != nil {
		return err
	}
	<-ctx.Done()
	return nil
}

func writeState(path string, s State) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// ReadState reads the state of a running test bed.
func ReadState(path string) (State, error) {
	var s State
	b, err := os.ReadFile(path)
	if err != nil {
		return s, err
	}
	return s, json.Unmarshal(b, &s)
}

// Up starts `self serveArgs...` detached, with its output in logFile, and waits until it reports the cluster
// ready in stateFile (or fails).
func Up(ctx context.Context, self string, serveArgs []string, stateFile, logFile string) (State, error) {
	if s, err := ReadState(stateFile); err == nil && alive(s.PID) {
		return s, fmt.Errorf("a test bed is already running (pid %d); stop it with agops testbed down", s.PID)
	}
	_ = os.Remove(stateFile)
	if err := os.MkdirAll(filepath.Dir(stateFile), 0o755); err != nil {
		return State{}, err
	}
	log, err := os.OpenFile(logFile, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return State{}, err
	}
	defer log.Close()
	cmd := exec.Command(self, serveArgs...)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return State{}, fmt.Errorf("starting the test bed: %w", err)
	}
	pid := cmd.Process.Pid
	_ = cmd.Process.Release()
	for {
		if s, err := ReadState(stateFile); err == nil {
			if s.Error != "" {
				return s, fmt.Errorf("the test bed did not start: %s (log: %s)", s.Error, logFile)
			}
			return s, nil
		}
		if !alive(pid) {
			return State{}, fmt.Errorf("the test bed exited while starting (log: %s)", logFile)
		}
		select {
		case <-ctx.Done():
			_ = syscall.Kill(pid, syscall.SIGTERM)
			return State{}, ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// Down stops the test bed that stateFile describes and waits until its process is gone.
func Down(ctx context.Context, stateFile string) error {
	s, err := ReadState(stateFile)
	if errors.Is(err, os.ErrNotExist) {
		return errors.New("no test bed is running")
	}
	if err != nil {
		return err
	}
	if !alive(s.PID) {
		_ = os.Remove(stateFile)
		return nil
	}
	if err := syscall.Kill(s.PID, syscall.SIGTERM); err != nil {
		return fmt.Errorf("stopping the test bed (pid %d): %w", s.PID, err)
	}
	for alive(s.PID) {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	_ = os.Remove(stateFile)
	return nil
}

// alive tells whether a process exists (signal 0 probes without sending anything).
func alive(pid int) bool {
	return pid > 0 && syscall.Kill(pid, 0) == nil
}
