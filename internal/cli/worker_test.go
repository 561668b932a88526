package cli

import (
	"context"
	"errors"
	"net/url"
	"reflect"
	"strings"
	"testing"

	"github.com/agops/agops/internal/agent/activities"
	"github.com/agops/agops/internal/llm"
	"github.com/agops/agops/internal/pgtest"
)

func TestTranscriptsDSN(t *testing.T) {
	for _, k := range []string{"PGPORT", "PGUSER", "PGDATABASE", "PGSSLMODE"} {
		t.Setenv(k, "")
	}
	t.Setenv("PGHOST", "db.example")
	t.Setenv("PGPASSWORD", "s3cret")
	for _, tc := range []struct {
		spec, wantDSN string
		wantPG        bool
	}{
		{"postgres://agops:pw@db/agops", "postgres://agops:pw@db/agops", true},
		{"postgresql://db/agops?sslmode=require", "postgresql://db/agops?sslmode=require", true},
		{"POSTGRES://db/agops", "POSTGRES://db/agops", true},
		{"postgres", "host='db.example' password='s3cret'", true},
		{"./postgres", "", false},
		{".agops/transcripts", "", false},
		{"/var/lib/agops/transcripts", "", false},
		{"mysql://db/agops", "", false},
	} {
		dsn, ok, err := transcriptsDSN(tc.spec)
		if err != nil || ok != tc.wantPG || dsn != tc.wantDSN {
			t.Errorf("transcriptsDSN(%q) = %q, %v, %v; want %q, %v", tc.spec, dsn, ok, err, tc.wantDSN, tc.wantPG)
		}
	}
	t.Setenv("PGHOST", "")
	_, _, err := transcriptsDSN("postgres")
	var u usageError
	if !errors.As(err, &u) || !strings.Contains(err.Error(), "PGHOST is not set") {
		t.Fatalf("transcriptsDSN(postgres) without PGHOST: %v; want a usage error about PGHOST", err)
	}
}

// TestWorkerTranscriptsInPostgres builds the worker's activities on a real PostgreSQL, named by a DSN and by the
// PG* variables.
func TestWorkerTranscriptsInPostgres(t *testing.T) {
	pg := pgtest.Start(t)
	dsn := pg.NewDatabase(t)
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{"PGHOST": u.Hostname(), "PGPORT": u.Port(), "PGUSER": pg.User,
		"PGPASSWORD": pg.Password, "PGDATABASE": strings.TrimPrefix(u.Path, "/"), "PGSSLMODE": "disable"} {
		t.Setenv(k, v)
	}
	for _, spec := range []string{dsn, "postgres"} {
		f := &workerFlags{transcripts: spec, tokenFile: "unused"}
		acts, err := f.activities("")
		if err != nil {
			t.Fatal(err)
		}
		store, ok := acts.Store.(*activities.PostgresStore)
		if !ok {
			t.Fatalf("--transcripts %s gave a %T, want a *activities.PostgresStore", activities.RedactDSN(spec), acts.Store)
		}
		m := llm.Message{Role: llm.RoleUser, Content: "hello from " + activities.RedactDSN(spec)}
		if err := store.Put(context.Background(), "k", 0, m); err != nil {
			t.Fatal(err)
		}
		if got, err := store.Get(context.Background(), "k", 1); err != nil || !reflect.DeepEqual(got, []llm.Message{m}) {
			t.Fatalf("Get = %v, %v; want %v", got, err, m)
		}
		if err := store.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

func TestWorkerTranscriptsKeepThePasswordSecret(t *testing.T) {
	const secret = "s3cret-Pw"
	dsn := "postgres://agops:" + secret + "@127.0.0.1:1/agops?connect_timeout=5"
	r := run(t, "worker", "--gateway-token-file", "unused", "--transcripts", dsn)
	if r.code == exitOK || !strings.Contains(r.stderr, "transcript database") || strings.Contains(r.stderr, secret) {
		t.Fatalf("exit code %d, stderr:\n%s\nwant a failure naming the transcript database, without its password", r.code, r.stderr)
	}
	t.Setenv("AGOPS_TRANSCRIPTS", dsn)
	r = run(t, "worker", "--help")
	if r.code != exitOK || strings.Contains(r.stdout+r.stderr, secret) || !strings.Contains(r.stdout, "agops:xxxxx@") {
		t.Fatalf("worker --help with AGOPS_TRANSCRIPTS set: exit code %d, output:\n%s%s\nwant the default redacted", r.code, r.stdout, r.stderr)
	}
}

func TestWorkerTranscriptsFolder(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	acts, err := (&workerFlags{transcripts: dir, tokenFile: "unused"}).activities("")
	if err != nil {
		t.Fatal(err)
	}
	if fs, ok := acts.Store.(*activities.FileStore); !ok || fs.Dir != dir {
		t.Fatalf("--transcripts %s gave %#v, want a FileStore there", dir, acts.Store)
	}
}
