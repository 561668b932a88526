// Package embedded runs the dev server's Temporal inside the calling process: every Temporal service, persisted to
// one SQLite file (see internal/devserver for what it is for). Only the agops-devserver program (cmd/agops-devserver,
// which `agops dev` runs as a child process) and tests import it: it links go.temporal.io/server and the storage and
// cloud clients that module brings, which the agops command must not carry (internal/archtest checks).
package embedded

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"go.temporal.io/server/common/authorization"
	"go.temporal.io/server/common/cluster"
	"go.temporal.io/server/common/config"
	"go.temporal.io/server/common/log"
	"go.temporal.io/server/common/metrics"
	sqliteplugin "go.temporal.io/server/common/persistence/sql/sqlplugin/sqlite"
	sqliteschema "go.temporal.io/server/schema/sqlite"
	"go.temporal.io/server/temporal"

	"github.com/agops/agops/internal/devserver"
	"github.com/agops/agops/internal/netutil"
)

// Server is a running embedded Temporal server.
type Server struct {
	srv      temporal.Server
	hostPort string
	logClose func() error
}

// Start creates (or reopens) the SQLite file, registers the namespaces and starts every Temporal service in this
// process. It returns once the frontend answers, or ctx ends.
func Start(ctx context.Context, o devserver.Options) (*Server, error) {
	o, err := o.WithDefaults()
	if err != nil {
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
	if err := devserver.CheckPorts(o.Host, o.Port); err != nil {
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
	s := &Server{srv: srv, hostPort: o.HostPort(), logClose: logClose}
	if err := srv.Start(); err != nil {
		_ = logClose()
		return nil, fmt.Errorf("starting the temporal server on %s: %w", o.DBFile, err)
	}
	if err := devserver.WaitReady(ctx, s.hostPort); err != nil {
		_ = s.Stop()
		return nil, err
	}
	return s, nil
}

// prepareDB creates the schema on a new file and registers missing namespaces.
func prepareDB(sqlCfg *config.SQL, o devserver.Options) error {
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
func serverConfig(sqlCfg *config.SQL, o devserver.Options) (*config.Config, error) {
	metricsPort, err := netutil.FreePort()
	if err != nil {
		return nil, err
	}
	service := func(i int) config.Service {
		return config.Service{RPC: config.RPC{GRPCPort: o.Port + i, MembershipPort: o.Port + 4 + i, BindOnIP: o.Host}}
	}
	frontend := o.HostPort()
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
