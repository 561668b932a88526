// Package devserver owns the Temporal server of `agops dev` and of tests: a whole Temporal in one process,
// persisted to one SQLite file, so that a newcomer gets durable agent runs with no cluster and no other install, and
// the runs survive a restart on the same file. This package is what the agops command links: the server's options,
// its ports, and Launch, which runs the server as a child process (the agops-devserver program, built on demand).
// The server itself — go.temporal.io/server and the storage and cloud clients it brings — lives in
// internal/devserver/embedded, which only that program and tests import, so that the verbs that do not run it do
// not compile or carry it. The agent workflows live in internal/agent.
package devserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"time"

	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
)

// DefaultNamespace is the Temporal namespace agops uses unless told otherwise.
const DefaultNamespace = "default"

// Options configure a server, in this process (embedded.Start) or in a child process (Launch).
type Options struct {
	// DBFile is the SQLite file holding every workflow's state; created (with its schema) when missing. Required.
	DBFile string
	// Host is the address the frontend binds to (default 127.0.0.1).
	Host string
	// Port is the frontend's gRPC port (default 7233); the server also takes the PortsUsed-1 ports after it. Keep
	// it the same across restarts on one file.
	Port int
	// Namespaces are registered at start when missing (default: DefaultNamespace).
	Namespaces []string
	// LogFile receives the server's own logs (default: DBFile + ".log"); "-" discards them.
	LogFile string
}

// WithDefaults fills in the defaults; DBFile is required.
func (o Options) WithDefaults() (Options, error) {
	if o.DBFile == "" {
		return o, errors.New("devserver: DBFile is required")
	}
	if o.Host == "" {
		o.Host = "127.0.0.1"
	}
	if o.Port == 0 {
		o.Port = 7233
	}
	if len(o.Namespaces) == 0 {
		o.Namespaces = []string{DefaultNamespace}
	}
	if o.LogFile == "" {
		o.LogFile = o.DBFile + ".log"
	}
	return o, nil
}

// HostPort is the frontend's address for clients and workers.
func (o Options) HostPort() string { return net.JoinHostPort(o.Host, strconv.Itoa(o.Port)) }

// PortsUsed is how many consecutive ports from Options.Port a server takes.
const PortsUsed = 8

// CheckPorts fails when any of a server's ports is taken: the server itself would panic in a goroutine of its own.
func CheckPorts(host string, base int) error {
	for i := range PortsUsed {
		l, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(base+i)))
		if err != nil {
			return fmt.Errorf("devserver: needs ports %d-%d, and %d is busy (another agops dev? choose another --port): %w",
				base, base+PortsUsed-1, base+i, err)
		}
		_ = l.Close()
	}
	return nil
}

// FreeBase finds a base port with PortsUsed free ports after it, for tests and for --port 0. It picks at random
// below the kernel's range of ephemeral ports: a range inside it can be taken, between this check and the server's
// start, by any outgoing connection on the machine, and the server then fails to start.
func FreeBase() (int, error) {
	lo, hi := belowEphemeral()
	for range 50 {
		p := lo + rand.IntN(hi-lo)
		if CheckPorts("127.0.0.1", p) == nil {
			return p, nil
		}
	}
	return 0, errors.New("devserver: no range of free ports found")
}

// belowEphemeral returns the ports to choose bases from: from 10000 to the start of the kernel's ephemeral range
// (ip_local_port_range; 32768 when it cannot be read), less PortsUsed.
func belowEphemeral() (lo, hi int) {
	lo, hi = 10000, 32768
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		var from, to int
		if _, err := fmt.Sscan(string(b), &from, &to); err == nil && from > lo+1000 {
			hi = from
		}
	}
	return lo, hi - PortsUsed
}

// WaitReady polls the frontend at hostPort until it answers a health check, for at most a minute.
func WaitReady(ctx context.Context, hostPort string) error {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	for {
		c, err := client.DialContext(ctx, client.Options{HostPort: hostPort, Logger: QuietLogger()})
		if err == nil {
			_, err = c.CheckHealth(ctx, &client.CheckHealthRequest{})
			c.Close()
			if err == nil {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("devserver: the frontend on %s did not answer: %w", hostPort, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// QuietLogger is a Temporal SDK logger that drops everything: for clients whose own errors are reported anyway.
func QuietLogger() sdklog.Logger { return sdklog.NewStructuredLogger(slog.New(slog.DiscardHandler)) }
