//go:build !unix

package testbed

import (
	"context"
	"errors"
)

// State is what a test bed left running writes for the commands that come after it.
type State struct {
	PID        int    `json:"pid"`
	Kubeconfig string `json:"kubeconfig"`
	Dir        string `json:"dir"`
	Error      string `json:"error,omitempty"`
}

var errNotHere = errors.New("a test bed left running needs a Unix system")

// Serve is not available on this system.
func Serve(context.Context, string, ...Option) error { return errNotHere }

// ReadState is not available on this system.
func ReadState(string) (State, error) { return State{}, errNotHere }

// Up is not available on this system.
func Up(context.Context, string, []string, string, string) (State, error) { return State{}, errNotHere }

// Down is not available on this system.
func Down(context.Context, string) error { return errNotHere }
