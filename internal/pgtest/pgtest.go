// Package pgtest runs a real PostgreSQL server for tests. It owns finding the server's binaries (PATH, then the
// newest /usr/lib/postgresql/*/bin, else installing Debian's postgresql package when the process is root), creating a
// throwaway cluster in a temporary folder, running it on a free loopback port (as an unprivileged user when the tests
// run as root, since PostgreSQL refuses root), handing each test a fresh database of its own, and stopping the server
// and removing its files at the end, even when a test fails.
//
// A package's tests share one server and each test gets its own database:
//
//	var pg *pgtest.Server
//
//	func TestMain(m *testing.M) {
//		s, stop, err := pgtest.StartShared()
//		if err != nil {
//			fmt.Fprintln(os.Stderr, err)
//			os.Exit(1)
//		}
//		pg = s
//		code := m.Run()
//		stop()
//		os.Exit(code)
//	}
//
//	func TestX(t *testing.T) { dsn := pg.NewDatabase(t); ... }
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/agops/agops/internal/netutil"
)

// Server is a running throwaway PostgreSQL cluster listening on 127.0.0.1.
type Server struct {
	// Host and Port are where the server listens; User and Password are its superuser's. TCP connections must
	// present the password (SCRAM), as against a real server.
	Host     string
	Port     int
	User     string
	Password string

	root string // holds data/, sock/ and postgres.log

	mu    sync.Mutex // guards what follows
	proc  *process
	admin *pgx.Conn // to database postgres, for CREATE and DROP DATABASE
	n     int       // databases created so far
}

// Start starts a server of the test's own, stopped when the test ends. Tests that can share one should use
// StartShared in TestMain and NewDatabase.
func Start(t testing.TB) *Server {
	t.Helper()
	s, stop, err := StartShared()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	return s
}

// StartShared starts a server for a whole test binary (call it from TestMain) and returns the function that stops it
// and removes its files; call that after m.Run. It is safe to call more than once.
func StartShared() (*Server, func(), error) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	b, err := locateBinaries(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("pgtest: %w", err)
	}
	a, err := runAccount()
	if err != nil {
		return nil, nil, fmt.Errorf("pgtest: %w", err)
	}
	root, err := tempRoot(a)
	if err != nil {
		return nil, nil, fmt.Errorf("pgtest: %w", err)
	}
	s := &Server{Host: "127.0.0.1", User: "agops_test", Password: randomHex(16), root: root}
	var once sync.Once
	stop := func() { once.Do(s.stop) }
	if err := s.boot(ctx, b, a); err != nil {
		stop()
		return nil, nil, fmt.Errorf("pgtest: %w", err)
	}
	return s, stop, nil
}

// errPortTaken says another process took the port between choosing and binding it.
var errPortTaken = errors.New("port taken")

// boot creates the cluster and starts the server, on another port if the chosen one was taken meanwhile.
func (s *Server) boot(ctx context.Context, b binaries, a *account) error {
	pwfile, sock, data := filepath.Join(s.root, "pw"), filepath.Join(s.root, "sock"), filepath.Join(s.root, "data")
	if err := os.WriteFile(pwfile, []byte(s.Password+"\n"), 0o600); err != nil {
		return err
	}
	if err := os.Mkdir(sock, 0o700); err != nil {
		return err
	}
	if err := a.own(pwfile, sock); err != nil {
		return err
	}
	if err := initCluster(ctx, b, a, data, s.User, pwfile); err != nil {
		return err
	}
	_ = os.Remove(pwfile)
	var err error
	for range 3 {
		if err = s.listen(ctx, b, a, data, sock); !errors.Is(err, errPortTaken) {
			return err
		}
	}
	return err
}

// listen starts postgres on a free port and waits until it accepts the superuser.
func (s *Server) listen(ctx context.Context, b binaries, a *account, data, sock string) error {
	port, err := netutil.FreePort()
	if err != nil {
		return err
	}
	logFile := filepath.Join(s.root, "postgres.log")
	p, err := launch(b, a, data, sock, port, logFile)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.proc, s.Port = p, port
	s.mu.Unlock()
	conn, err := s.waitReady(ctx, logFile)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		p.stop()
		s.proc = nil
		return err
	}
	s.admin = conn
	return nil
}

// waitReady connects to the new server until it answers, fails, or a minute passes.
func (s *Server) waitReady(ctx context.Context, logFile string) (*pgx.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for {
		if s.proc.exited() {
			tail := logTail(logFile)
			if strings.Contains(tail, "could not bind") || strings.Contains(tail, "already in use") {
				return nil, errPortTaken
			}
			return nil, fmt.Errorf("postgres exited while starting:\n%s", tail)
		}
		try, cancelTry := context.WithTimeout(ctx, 5*time.Second)
		conn, err := pgx.Connect(try, s.DSN("postgres"))
		cancelTry()
		if err == nil {
			return conn, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("postgres did not accept connections within a minute: %v\n%s", err, logTail(logFile))
		case <-time.After(25 * time.Millisecond):
		}
	}
}

// stop closes the admin connection, stops the server and removes its files.
func (s *Server) stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.admin != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = s.admin.Close(ctx)
		cancel()
		s.admin = nil
	}
	if s.proc != nil {
		s.proc.stop()
		s.proc = nil
	}
	_ = os.RemoveAll(s.root)
}

// DSN is a connection URL for database on the server, with the superuser and its password.
func (s *Server) DSN(database string) string {
	u := url.URL{Scheme: "postgres", User: url.UserPassword(s.User, s.Password),
		Host: net.JoinHostPort(s.Host, strconv.Itoa(s.Port)), Path: "/" + database, RawQuery: "sslmode=disable"}
	return u.String()
}

// NewDatabase creates an empty database for the test, dropped (with any connections left to it) when the test ends,
// and returns its DSN.
func (s *Server) NewDatabase(t testing.TB) string {
	t.Helper()
	name, err := s.createDatabase(t.Name())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.dropDatabase(name); err != nil {
			t.Errorf("pgtest: %v", err)
		}
	})
	return s.DSN(name)
}

func (s *Server) createDatabase(testName string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.admin == nil {
		return "", errors.New("pgtest: the server is stopped")
	}
	s.n++
	name := dbName(s.n, testName)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := s.admin.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return "", fmt.Errorf("pgtest: creating database %s: %w", name, err)
	}
	return name, nil
}

func (s *Server) dropDatabase(name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.admin == nil {
		return nil // the server is gone, and its databases with it
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := s.admin.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
		return fmt.Errorf("dropping database %s: %w", name, err)
	}
	return nil
}

// dbName makes a database name from a counter and the test's name: t7_testputoverwrites, at most 63 bytes.
func dbName(n int, testName string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "t%d_", n)
	for _, r := range strings.ToLower(testName) {
		if b.Len() >= 63 {
			break
		}
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	return b.String()
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
