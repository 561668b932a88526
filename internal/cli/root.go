// Package cli owns the agops command line: one file per verb, each parsing flags into a struct and making one
// library call. The only os.Exit of the program lives in Main.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/sirupsen/logrus"
	"github.com/spf13/cobra"
)

// Version is the agops release; it also tags the default helper image.
var Version = "v0.1.0"

// Exit codes: 0 success, 1 input or conversion error, 2 usage error.
const (
	exitOK    = 0
	exitInput = 1
	exitUsage = 2
)

// usageError marks an error that comes from how the command was called.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// streams carries the standard streams so that tests can run verbs in-process.
type streams struct {
	in       io.Reader
	out, err io.Writer
}

// globals are the flags every verb shares.
type globals struct {
	verbose bool
	quiet   bool
	// process tells that the command runs in a process of its own (Main), which it may tune as a whole.
	process bool
}

func (g *globals) logger(w io.Writer) *slog.Logger {
	level := slog.LevelWarn
	switch {
	case g.quiet:
		level = slog.LevelError
	case g.verbose:
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
}

// Main runs agops with the process's arguments and exits with its code.
func Main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := execute(ctx, os.Args[1:], streams{in: os.Stdin, out: os.Stdout, err: os.Stderr}, true)
	stop()
	os.Exit(code)
}

// Run executes one agops command line and returns the exit code.
func Run(ctx context.Context, args []string, s streams) int {
	return execute(ctx, args, s, false)
}

func execute(ctx context.Context, args []string, s streams, process bool) int {
	root := newRootWith(s, &globals{process: process})
	root.SetArgs(args)
	root.SetOut(s.out)
	root.SetErr(s.err)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	for _, line := range strings.Split(err.Error(), "\n") {
		fmt.Fprintf(s.err, "agops: %s\n", strings.TrimSpace(line))
	}
	var u usageError
	if errors.As(err, &u) || strings.HasPrefix(err.Error(), "unknown command") {
		return exitUsage
	}
	return exitInput
}

func newRoot(s streams) *cobra.Command { return newRootWith(s, &globals{}) }

func newRootWith(s streams, g *globals) *cobra.Command {
	root := &cobra.Command{
		Use:           "agops",
		Short:         "Take a Docker Compose AI stack to a production-grade Kubernetes AI lab",
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       Version,
	}
	root.PersistentFlags().BoolVarP(&g.verbose, "verbose", "v", false, "log debug details to stderr")
	root.PersistentFlags().BoolVarP(&g.quiet, "quiet", "q", false, "print only errors")
	root.PersistentPreRun = func(*cobra.Command, []string) {
		// compose-go warns through the global logrus logger; show its warnings only with -v.
		logrus.SetOutput(io.Discard)
		if g.verbose {
			logrus.SetOutput(s.err)
		}
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	root.AddCommand(
		newMigrateCmd(g, s),
		newApplyCmd(g, s),
		newCheckCmd(g, s),
		newAuditCmd(g, s),
		newPolicyCmd(g, s),
		newGatewayCmd(g, s),
		newToolProxyCmd(g, s),
		newMCPBridgeCmd(s),
		newApproveCmd(g, s),
		newRehearseCmd(g, s),
		newTestbedCmd(g, s),
		newSecretsCmd(g, s),
		newWaitCmd(g, s),
		newImageCmd(g, s),
		newAirgapCmd(g, s),
		newTeamCmd(g, s),
		newRunCmd(g, s),
		newRunsCmd(g, s),
		newWorkerCmd(g, s),
		newDevCmd(g, s),
		newConsoleCmd(g, s),
		newClusterCmd(g, s),
		newStandInCmd(g, s),
		newTrafficCmd(g, s),
		newModelCmd(g, s),
	)
	return root
}

// exactArgs is cobra.ExactArgs reporting a usage error.
func exactArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := cobra.ExactArgs(n)(cmd, args); err != nil {
			return usageError{err}
		}
		return nil
	}
}
