// Package devserver runs a Temporal server inside the agops process, persisted to one SQLite file, for `agops dev`
// and for tests: a newcomer gets durable agent runs with no cluster and no other install, and the runs survive a
// restart of the process on the same file. It owns only the server's configuration and lifecycle; the agent
// workflows live in internal/agent.
package devserver

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/server/common/authorization"
	"go.temporal.io/server/common/cluster"
	"go.temporal.io/server/common/config"
	"go.temporal.io/server/common/log"
	"go.temporal.io/server/common/metrics"
	sqliteplugin "go.temporal.io/server/common/persistence/sql/sqlplugin/sqlite"
	sqliteschema "go.temporal.io/server/schema/sqlite"
	"go.temporal.io/server/temporal"

	"github.com/agops/agops/internal/netutil"
)

// DefaultNamespace is the Temporal namespace agops uses unless told otherwise.
const DefaultNamespace = "default"

// Options configure a Server.
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

// Server is a running embedded Temporal server.
type Server struct {
	srv      temporal.Server
	hostPort string
	logClose func() error
}

// Start creates (or reopens) the SQLite file, registers the namespaces and starts every Temporal service in this
// process. It returns once the frontend answers, or ctx ends.
func Start(ctx context.Context, o Options) (*Server, error) {
	if err := o.defaults(); err != nil {
		return nil, err
	}
	// Temporal's telemetry start-up asks for the current user, which a static binary can only read from $USER: in a
	// container without /etc/passwd (the agops image) it would fail without it.
	if os.Getenv("USER") == "" {
		if err := os.Setenv("USER", "agops"); err != nil {
			return nil, err
		}
	}
	sqlCfg := &config.SQL{PluginName: sqliteplugin.PluginName, DatabaseName: o.DBFile,
		ConnectAttributes: map[string]string{"mode": "rwc", "_journal_mode": "wal", "_synchronous": "2"}}
	if err := checkPorts(o.Host, o.Port); err != nil {
		return nil, err
	}
	if err := prepareDB(sqlCfg, o); err != nil {
		return nil, err
	}
	logger, logClose, err := serverLogger(o.LogFile)
	if err != nil {
		return nil, err
	}
	cfg, err := serverConfig(sqlCfg, o)
	if err != nil {
		_ = logClose()
		return nil, err
	}
	srv, err := temporal.NewServer(
		temporal.WithConfig(cfg),
		temporal.ForServices(temporal.DefaultServices),
		temporal.WithLogger(logger),
		temporal.WithAuthorizer(authorization.NewNoopAuthorizer()),
		temporal.WithClaimMapper(func(*config.Config) authorization.ClaimMapper { return authorization.NewNoopClaimMapper() }),
	)
	if err != nil {
		_ = logClose()
		return nil, fmt.Errorf("temporal server: %w", err)
	}
	s := &Server{srv: srv, hostPort: net.JoinHostPort(o.Host, strconv.Itoa(o.Port)), logClose: logClose}
	if err := srv.Start(); err != nil {
		_ = logClose()
		return nil, fmt.Errorf("starting the temporal server on %s: %w", o.DBFile, err)
	}
	if err := s.waitReady(ctx); err != nil {
		_ = s.Stop()
		return nil, err
	}
	return s, nil
}

func (o *Options) defaults() error {
	if o.DBFile == "" {
		return errors.New("devserver: DBFile is required")
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
	return nil
}

// prepareDB creates the schema on a new file and registers missing namespaces.
func prepareDB(sqlCfg *config.SQL, o Options) error {
	dir := filepath.Dir(o.DBFile)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("devserver: %w", err)
	}
	if _, err := os.Stat(o.DBFile); errors.Is(err, os.ErrNotExist) {
		if err := sqliteschema.SetupSchema(sqlCfg); err != nil {
			_ = os.Remove(o.DBFile) // nothing half-made: the next start sets the schema up again
			return fmt.Errorf("devserver: creating the schema in %s: %w", o.DBFile, err)
		}
	} else if err != nil {
		return fmt.Errorf("devserver: %w", err)
	}
	var nss []*sqliteschema.NamespaceConfig
	for _, name := range o.Namespaces {
		ns, err := sqliteschema.NewNamespaceConfig(clusterName, name, false, nil)
		if err != nil {
			return fmt.Errorf("devserver: namespace %q: %w", name, err)
		}
		nss = append(nss, ns)
	}
	if err := sqliteschema.CreateNamespaces(sqlCfg, nss...); err != nil {
		return fmt.Errorf("devserver: %s: %w", o.DBFile, err)
	}
	return nil
}

const clusterName = "active"

// serverConfig is a single-host, single-shard configuration: the four services in this process on loopback ports
// derived from the frontend's (Port … Port+7), so that a restart on the same file finds its members where the file
// says they were, instead of waiting for stale members to expire.
func serverConfig(sqlCfg *config.SQL, o Options) (*config.Config, error) {
	metricsPort, err := netutil.FreePort()
	if err != nil {
		return nil, err
	}
	service := func(i int) config.Service {
		return config.Service{RPC: config.RPC{GRPCPort: o.Port + i, MembershipPort: o.Port + 4 + i, BindOnIP: o.Host}}
	}
	frontend := net.JoinHostPort(o.Host, strconv.Itoa(o.Port))
	return &config.Config{
		Global: config.Global{
			Membership: config.Membership{MaxJoinDuration: 30 * time.Second, BroadcastAddress: o.Host},
			Metrics: &metrics.Config{Prometheus: &metrics.PrometheusConfig{
				ListenAddress: net.JoinHostPort(o.Host, strconv.Itoa(metricsPort)), HandlerPath: "/metrics"}},
		},
		Persistence: config.Persistence{
			DefaultStore: sqliteplugin.PluginName, VisibilityStore: sqliteplugin.PluginName, NumHistoryShards: 1,
			DataStores: map[string]config.DataStore{sqliteplugin.PluginName: {SQL: sqlCfg}},
		},
		ClusterMetadata: &cluster.Config{
			FailoverVersionIncrement: 10, MasterClusterName: clusterName, CurrentClusterName: clusterName,
			ClusterInformation: map[string]cluster.ClusterInformation{
				clusterName: {Enabled: true, InitialFailoverVersion: 1, RPCAddress: frontend},
			},
		},
		DCRedirectionPolicy: config.DCRedirectionPolicy{Policy: "noop"},
		Services: map[string]config.Service{
			"frontend": service(0), "history": service(1), "matching": service(2), "worker": service(3),
		},
		Archival: config.Archival{
			History:    config.HistoryArchival{State: "disabled"},
			Visibility: config.VisibilityArchival{State: "disabled"},
		},
		NamespaceDefaults: config.NamespaceDefaults{Archival: config.ArchivalNamespaceDefaults{
			History:    config.HistoryArchivalNamespaceDefaults{State: "disabled"},
			Visibility: config.VisibilityArchivalNamespaceDefaults{State: "disabled"},
		}},
		PublicClient: config.PublicClient{HostPort: frontend},
	}, nil
}

// serverLogger writes the server's logs (warnings and up) to file, or nowhere for "-".
func serverLogger(file string) (log.Logger, func() error, error) {
	if file == "-" {
		return log.NewNoopLogger(), func() error { return nil }, nil
	}
	if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
		return nil, nil, fmt.Errorf("devserver: %w", err)
	}
	z := log.BuildZapLogger(log.Config{Level: "warn", OutputFile: file})
	return log.NewZapLogger(z), func() error { _ = z.Sync(); return nil }, nil
}

// PortsUsed is how many consecutive ports from Options.Port a server takes.
const PortsUsed = 8

// checkPorts fails when any of the server's ports is taken: the server itself would panic in a goroutine of its own.
func checkPorts(host string, base int) error {
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
		if checkPorts("127.0.0.1", p) == nil {
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

// waitReady polls the frontend until it answers a health check.
func (s *Server) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	for {
		c, err := client.DialContext(ctx, client.Options{HostPort: s.hostPort, Logger: QuietLogger()})
		if err == nil {
			_, err = c.CheckHealth(ctx, &client.CheckHealthRequest{})
			c.Close()
			if err == nil {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("devserver: the frontend on %s did not answer: %w", s.hostPort, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// HostPort is the frontend's address for clients and workers.
func (s *Server) HostPort() string { return s.hostPort }

// Stop stops every service; the SQLite file keeps the state.
func (s *Server) Stop() error {
	err := s.srv.Stop()
	if cerr := s.logClose(); err == nil {
		err = cerr
	}
	return err
}
