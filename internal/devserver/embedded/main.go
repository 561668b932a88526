package embedded

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/agops/agops/internal/devserver"
)

// Main is the agops-devserver program (its main calls it and exits with the code it returns): it serves Temporal on
// one SQLite file and prints "ready HOST:PORT" on stdout once the frontend answers. It stops gracefully on SIGINT or
// SIGTERM or, with --watch-stdin (as `agops dev` runs it), when stdin says "stop". With --watch-stdin, stdin's end
// means the parent is gone, killed or crashed: the program then exits at once, as the parent did — the file keeps
// every committed state.
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	o, watch, err := parseArgs(args, stderr)
	if err != nil {
		return 2
	}
	sigCtx, stopSignals := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stopSignals()
	ctx, cancel := context.WithCancel(sigCtx)
	defer cancel()
	gone := make(chan struct{})
	if watch {
		go watchStdin(stdin, cancel, gone)
	}
	srv, err := Start(ctx, o)
	if err != nil {
		fmt.Fprintf(stderr, "agops-devserver: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "ready %s\n", srv.HostPort())
	<-ctx.Done()
	select {
	case <-gone:
		return 1
	default:
	}
	if err := srv.Stop(); err != nil {
		fmt.Fprintf(stderr, "agops-devserver: stopping: %v\n", err)
		return 1
	}
	return 0
}

func parseArgs(args []string, stderr io.Writer) (o devserver.Options, watch bool, err error) {
	fs := flag.NewFlagSet("agops-devserver", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.DBFile, "db", "", "the SQLite file of the server's state, created when missing (required)")
	fs.StringVar(&o.Host, "host", "127.0.0.1", "the address the services bind to")
	fs.IntVar(&o.Port, "port", 7233, fmt.Sprintf("the frontend's port; the server takes %d ports from it", devserver.PortsUsed))
	fs.StringVar(&o.LogFile, "log", "", "the server's own log (default: the db file + .log; - for none)")
	fs.Func("namespace", "a namespace to register when missing (repeatable; default: "+devserver.DefaultNamespace+")",
		func(s string) error { o.Namespaces = append(o.Namespaces, s); return nil })
	fs.BoolVar(&watch, "watch-stdin", false, "stop when stdin says \"stop\"; exit at once when it ends")
	if err := fs.Parse(args); err != nil {
		return o, false, err
	}
	if fs.NArg() > 0 || o.DBFile == "" {
		err := fmt.Errorf("usage: agops-devserver --db FILE [--host H] [--port P] [--namespace N]... [--log F] [--watch-stdin]")
		fmt.Fprintln(stderr, err)
		return o, false, err
	}
	return o, watch, nil
}

// watchStdin cancels on a "stop" line; at the end of stdin it closes gone first.
func watchStdin(r io.Reader, cancel func(), gone chan<- struct{}) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		if strings.TrimSpace(sc.Text()) == "stop" {
			cancel()
			return
		}
	}
	close(gone)
	cancel()
}
