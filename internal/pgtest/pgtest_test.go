package pgtest

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

var shared *Server

// orphanEnv makes the test binary start a server and exit without stopping it (TestParentDeathStopsServer).
const orphanEnv = "AGOPS_PGTEST_ORPHAN"

func TestMain(m *testing.M) {
	if os.Getenv(orphanEnv) != "" {
		s, _, err := StartShared()
		if err != nil {
			fmt.Println("error:", err)
			os.Exit(2)
		}
		fmt.Println(s.root)
		os.Exit(0)
	}
	s, stop, err := StartShared()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	shared = s
	code := m.Run()
	stop()
	os.Exit(code)
}

func connect(t *testing.T, dsn string) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	return conn
}

func TestDatabasesAreIsolated(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a, b := connect(t, shared.NewDatabase(t)), connect(t, shared.NewDatabase(t))
	if _, err := a.Exec(ctx, "CREATE TABLE only_in_a (x int)"); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := a.QueryRow(ctx, "SELECT count(*) FROM pg_tables WHERE tablename = 'only_in_a'").Scan(&n); err != nil || n != 1 {
		t.Fatalf("in a: count %d, err %v; want 1", n, err)
	}
	if err := b.QueryRow(ctx, "SELECT count(*) FROM pg_tables WHERE tablename = 'only_in_a'").Scan(&n); err != nil || n != 0 {
		t.Fatalf("in b: count %d, err %v; want 0", n, err)
	}
}

func TestDatabaseDroppedAtCleanup(t *testing.T) {
	t.Parallel()
	var name string
	t.Run("use", func(t *testing.T) {
		conn := connect(t, shared.NewDatabase(t))
		if err := conn.QueryRow(context.Background(), "SELECT current_database()").Scan(&name); err != nil {
			t.Fatal(err)
		}
	})
	var n int
	admin := connect(t, shared.DSN("postgres"))
	err := admin.QueryRow(context.Background(), "SELECT count(*) FROM pg_database WHERE datname = $1", name).Scan(&n)
	if err != nil || n != 0 {
		t.Fatalf("database %q after its test: count %d, err %v; want it dropped", name, n, err)
	}
}

func TestPasswordIsRequired(t *testing.T) {
	t.Parallel()
	dsn := strings.Replace(shared.DSN("postgres"), ":"+shared.Password+"@", ":not-the-password@", 1)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err == nil {
		_ = conn.Close(ctx)
		t.Fatal("connected with a wrong password")
	}
}

func TestStopLeavesNothing(t *testing.T) {
	t.Parallel()
	s, stop, err := StartShared()
	if err != nil {
		t.Fatal(err)
	}
	pid, root, dsn := s.proc.cmd.Process.Pid, s.root, s.DSN("postgres")
	if procs := serverProcesses(t, root); len(procs) < 2 {
		t.Fatalf("found %d server processes (%v) while running; want the postmaster and its helpers", len(procs), procs)
	}
	stop()
	stop() // twice is harmless
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("postmaster %d after stop: kill -0 gave %v, want ESRCH", pid, err)
	}
	if procs := serverProcesses(t, root); len(procs) > 0 {
		t.Errorf("server processes left after stop: %v", procs)
	}
	if _, err := os.Stat(root); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s after stop: %v, want it removed", root, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if conn, err := pgx.Connect(ctx, dsn); err == nil {
		_ = conn.Close(ctx)
		t.Error("connected after stop")
	}
}

// TestParentDeathStopsServer runs a test binary that starts a server and exits without stopping it: the server must
// go too.
func TestParentDeathStopsServer(t *testing.T) {
	t.Parallel()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), orphanEnv+"=1")
	out, err := cmd.Output()
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	root := lines[len(lines)-1]
	if err != nil || !filepath.IsAbs(root) {
		t.Fatalf("orphan run: %v\n%s", err, out)
	}
	t.Cleanup(func() { _ = os.RemoveAll(root) })
	if _, err := os.Stat(filepath.Join(root, "data")); err != nil {
		t.Fatalf("the orphaned server's data folder: %v", err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for len(serverProcesses(t, root)) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("server processes still running 30 s after their test binary died: %v", serverProcesses(t, root))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// serverProcesses lists the processes working in root's data folder: PostgreSQL's postmaster and every process it
// forks change into the data directory.
func serverProcesses(t *testing.T, root string) []int {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Skip("no /proc to list processes in:", err)
	}
	data := filepath.Join(root, "data")
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cwd, err := os.Readlink(filepath.Join("/proc", e.Name(), "cwd"))
		if err == nil && (cwd == data || strings.HasPrefix(cwd, data+" ") || strings.HasPrefix(cwd, data+"/")) {
			pids = append(pids, pid)
		}
	}
	return pids
}

func TestFindBinariesPicksNewestVersion(t *testing.T) {
	root := t.TempDir()
	for _, v := range []string{"9.6", "15", "10", "16"} {
		dir := filepath.Join(root, v, "bin")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		names := []string{"initdb", "postgres"}
		if v == "16" {
			names = names[:1] // incomplete: no server
		}
		for _, name := range names {
			if err := os.WriteFile(filepath.Join(dir, name), []byte("#!/bin/sh\n"), 0o755); err != nil {
				t.Fatal(err)
			}
		}
	}
	t.Setenv("PATH", t.TempDir())
	b, ok := findBinaries(filepath.Join(root, "*", "bin"))
	if want := filepath.Join(root, "15", "bin", "postgres"); !ok || b.postgres != want {
		t.Fatalf("findBinaries = %+v, %v; want %s", b, ok, want)
	}
	if _, ok := findBinaries(filepath.Join(t.TempDir(), "*", "bin")); ok {
		t.Fatal("found binaries in an empty folder")
	}
}

func TestSweepStaleRemovesOnlyDeadOldFolders(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	old := time.Now().Add(-time.Hour)
	mk := func(name, pid string, mtime time.Time) string {
		dir := filepath.Join(base, name)
		if err := os.MkdirAll(filepath.Join(dir, "data"), 0o700); err != nil {
			t.Fatal(err)
		}
		if pid != "" {
			if err := os.WriteFile(filepath.Join(dir, "data", "postmaster.pid"), []byte(pid+"\n/data\n"), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.Chtimes(dir, mtime, mtime); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	dead := mk("agops-pgtest-dead", "", old)
	alive := mk("agops-pgtest-alive", strconv.Itoa(os.Getpid()), old)
	young := mk("agops-pgtest-young", "", time.Now())
	other := mk("something-else", "", old)
	sweepStale(base)
	for dir, want := range map[string]bool{dead: false, alive: true, young: true, other: true} {
		if _, err := os.Stat(dir); (err == nil) != want {
			t.Errorf("%s: exists %v, want %v", filepath.Base(dir), err == nil, want)
		}
	}
}

func TestDBName(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("Sub/Test-", 20)
	for _, tc := range []struct {
		n    int
		in   string
		want string
	}{
		{1, "TestPut/valid-overwrite", "t1_testput_valid_overwrite"},
		{12, long, ("t12_" + strings.Repeat("sub_test_", 7))[:63]},
	} {
		if got := dbName(tc.n, tc.in); got != tc.want {
			t.Errorf("dbName(%d, %q) = %q, want %q", tc.n, tc.in, got, tc.want)
		}
	}
}

// TestServerLogIsKept checks that the server writes its log where error messages read it from.
func TestServerLogIsKept(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile(filepath.Join(shared.root, "postgres.log"))
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if strings.Contains(sc.Text(), "ready to accept connections") {
			return
		}
	}
	t.Fatalf("the server log does not say it is ready:\n%s", b)
}

// BenchmarkStartStop measures a whole server's life: initdb, start, first connection, stop, removal.
func BenchmarkStartStop(b *testing.B) {
	for b.Loop() {
		_, stop, err := StartShared()
		if err != nil {
			b.Fatal(err)
		}
		stop()
	}
}

// BenchmarkNewDatabase measures creating and dropping a test's database on the shared server.
func BenchmarkNewDatabase(b *testing.B) {
	for b.Loop() {
		name, err := shared.createDatabase(b.Name())
		if err != nil {
			b.Fatal(err)
		}
		if err := shared.dropDatabase(name); err != nil {
			b.Fatal(err)
		}
	}
}
