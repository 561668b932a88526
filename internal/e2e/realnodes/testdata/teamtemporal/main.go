// Command teamtemporal serves agops's embedded Temporal server (internal/devserver/embedded, the one `agops dev` and the
// agent tests run) from a pod, for TestAgentTeamOnRealNodes: the frontend on POD_IP:7233, the other services on the
// next ports, state in a SQLite file under DATA_DIR. It is a test-only program, built and packed by that test.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/agops/agops/internal/devserver"
	"github.com/agops/agops/internal/devserver/embedded"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "teamtemporal:", err)
		os.Exit(1)
	}
}

func run() error {
	host, dir := os.Getenv("POD_IP"), os.Getenv("DATA_DIR")
	if host == "" || dir == "" {
		return fmt.Errorf("POD_IP and DATA_DIR must be set")
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	srv, err := embedded.Start(ctx, devserver.Options{DBFile: filepath.Join(dir, "temporal.db"), Host: host, Port: 7233,
		LogFile: "/dev/stderr"})
	if err != nil {
		return err
	}
	fmt.Println("teamtemporal: serving on", srv.HostPort())
	<-ctx.Done()
	return srv.Stop()
}
