package activities

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/agops/agops/internal/pgtest"
)

// pg is the PostgreSQL server this package's tests share; each test takes a database of its own.
var pg *pgtest.Server

func TestMain(m *testing.M) {
	s, stop, err := pgtest.StartShared()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	pg = s
	code := m.Run()
	stop()
	os.Exit(code)
}

func openPostgres(t testing.TB, dsn string) *PostgresStore {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := OpenPostgres(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// withPassword returns dsn (a URL) with its password replaced.
func withPassword(t *testing.T, dsn, password string) string {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.UserPassword(u.User.Username(), password)
	return u.String()
}

func TestOpenPostgresBadDSN(t *testing.T) {
	t.Parallel()
	const secret = "s3cr3t-Pw"
	good := pg.NewDatabase(t)
	for _, tc := range []struct {
		name, dsn, says string
	}{
		{"invalid-port", "postgres://agops:" + secret + "@127.0.0.1:notaport/db", "transcript database"},
		{"invalid-keyword-syntax", "host=127.0.0.1 password='" + secret, "transcript database"},
		{"invalid-scheme", "mysql://agops:" + secret + "@127.0.0.1/db", "transcript database"},
		{"invalid-wrong-password", withPassword(t, good, secret), "password authentication failed"},
		{"invalid-unreachable-url", "postgres://agops:" + secret + "@127.0.0.1:1/db?connect_timeout=5", "127.0.0.1"},
		{"invalid-unreachable-keywords", "host=127.0.0.1 port=1 user=agops password='" + secret + " x' connect_timeout=5", "127.0.0.1"},
		{"invalid-no-database", pg.DSN("no_such_database"), "does not exist"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			s, err := OpenPostgres(ctx, tc.dsn)
			if err == nil {
				_ = s.Close()
				t.Fatal("opened")
			}
			wantErr(t, err, tc.says)
			for _, pw := range []string{secret, pg.Password} {
				if strings.Contains(err.Error(), pw) {
					t.Fatalf("the error shows a password: %v", err)
				}
			}
		})
	}
}

func TestOpenPostgresByManyWorkersAtOnce(t *testing.T) {
	t.Parallel()
	dsn := pg.NewDatabase(t)
	stores := make([]*PostgresStore, 8)
	var wg sync.WaitGroup
	errs := make([]error, len(stores))
	for i := range stores {
		wg.Go(func() { stores[i], errs[i] = OpenPostgres(context.Background(), dsn) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("worker %d: %v", i, err)
		}
		t.Cleanup(func() { _ = stores[i].Close() })
	}
	mustPut(t, stores[0], "k", 0, msgA)
	wantMessages(t, stores[7], "k", msgA)
	openPostgres(t, dsn) // once more, with the table there
}

func TestPostgresRefusesKeysItCannotStore(t *testing.T) {
	t.Parallel()
	s := openPostgres(t, pg.NewDatabase(t))
	for _, key := range []string{"nul\x00key", "bad-utf8-\xff"} {
		wantErr(t, s.Put(context.Background(), key, 0, msgA), "PostgreSQL cannot store a key")
		_, err := s.Get(context.Background(), key, 0)
		wantErr(t, err, "PostgreSQL cannot store a key")
	}
}

func TestPostgresGetWantsMoreThanAnIndex(t *testing.T) {
	t.Parallel()
	s := openPostgres(t, pg.NewDatabase(t))
	_, err := s.Get(context.Background(), "k", 1<<40)
	wantErr(t, err, "has 0 messages, want 1099511627776")
}

// TestPostgresDSNFromEnv connects as a worker in Kubernetes would: the password in PGPASSWORD (from a Secret), here
// one that needs quoting.
func TestPostgresDSNFromEnv(t *testing.T) {
	dsn := pg.NewDatabase(t)
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	role, password := "worker_"+strings.TrimPrefix(u.Path, "/t"), `p@ss w'o\rd:/?#&= x`
	admin, err := pgx.Connect(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(context.Background())
	// The role outlives the test (roles belong to the cluster, which the fixture throws away at the end).
	for _, q := range []string{
		fmt.Sprintf("CREATE ROLE %s LOGIN PASSWORD '%s'", pgx.Identifier{role}.Sanitize(), strings.ReplaceAll(password, "'", "''")),
		fmt.Sprintf("GRANT CREATE ON SCHEMA public TO %s", pgx.Identifier{role}.Sanitize()),
	} {
		if _, err := admin.Exec(context.Background(), q); err != nil {
			t.Fatal(err)
		}
	}
	for k, v := range map[string]string{"PGHOST": pg.Host, "PGPORT": u.Port(), "PGUSER": role, "PGPASSWORD": password,
		"PGDATABASE": strings.TrimPrefix(u.Path, "/"), "PGSSLMODE": "disable"} {
		t.Setenv(k, v)
	}
	envDSN, ok := PostgresDSNFromEnv()
	if !ok {
		t.Fatal("PostgresDSNFromEnv: not ok with PGHOST set")
	}
	s := openPostgres(t, envDSN)
	mustPut(t, s, "k", 0, msgA, msgB)
	wantMessages(t, s, "k", msgA, msgB)
}

func TestDSNFromEnvQuotes(t *testing.T) {
	t.Parallel()
	env := map[string]string{"PGHOST": "db.example", "PGPORT": "6432", "PGUSER": "agops", "PGPASSWORD": `it's a \ "pw"`,
		"PGDATABASE": "agops db", "PGSSLMODE": "require"}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	dsn, ok := dsnFromEnv(lookup)
	if !ok {
		t.Fatal("not ok with PGHOST set")
	}
	cfg, err := pgconn.ParseConfig(dsn)
	if err != nil {
		t.Fatalf("pgconn cannot parse %s: %v", RedactDSN(dsn), err)
	}
	if cfg.Host != "db.example" || cfg.Port != 6432 || cfg.User != "agops" || cfg.Password != env["PGPASSWORD"] || cfg.Database != "agops db" {
		t.Fatalf("parsed %s as host %q port %d user %q database %q (password right: %v)", RedactDSN(dsn), cfg.Host,
			cfg.Port, cfg.User, cfg.Database, cfg.Password == env["PGPASSWORD"])
	}
	if strings.Contains(RedactDSN(dsn), "pw") {
		t.Fatalf("RedactDSN(%q) keeps the password", RedactDSN(dsn))
	}
	delete(env, "PGHOST")
	if _, ok := dsnFromEnv(lookup); ok {
		t.Fatal("ok without PGHOST")
	}
}

func TestRedactDSN(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want string }{
		{"postgres://agops:s3cret@db:5432/agops?sslmode=require", "postgres://agops:xxxxx@db:5432/agops?sslmode=require"},
		{"postgresql://agops@db/agops?password=s3cret&sslmode=disable", "postgresql://agops@db/agops?password=xxxxx&sslmode=disable"},
		{"postgres://db/agops", "postgres://db/agops"},
		{"postgres://agops:s3cret@db:notaport/agops", "postgres://agops:xxxxx@db:notaport/agops"},
		{"host=db password=s3cret user=agops", "host=db password=xxxxx user=agops"},
		{`host=db password = 's3 c\'ret' user=agops`, "host=db password=xxxxx user=agops"},
		{"host=db user=agops", "host=db user=agops"},
	} {
		if got := RedactDSN(tc.in); got != tc.want {
			t.Errorf("RedactDSN(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestPostgresStoreWritesRows checks the table as other tools see it: one row per message, in order.
func TestPostgresStoreWritesRows(t *testing.T) {
	t.Parallel()
	dsn := pg.NewDatabase(t)
	s := openPostgres(t, dsn)
	mustPut(t, s, "k", 0, msgA, msgB, msgC)
	mustPut(t, s, "k", 1, msgX)
	conn, err := pgx.Connect(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	rows, _ := conn.Query(context.Background(), "SELECT idx, message->>'content' FROM agops_transcripts WHERE key = 'k' ORDER BY idx")
	got, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (string, error) {
		var idx int
		var content string
		err := r.Scan(&idx, &content)
		return fmt.Sprintf("%d:%s", idx, content), err
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"0:a", "1:x"}; strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("rows %v, want %v", got, want)
	}
}
