package activities

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/agops/agops/internal/llm"
)

// PostgresStore is a TranscriptStore in a PostgreSQL table, one row per message, so that workers on different
// machines share transcripts. A Put is one transaction under a per-key advisory lock: concurrent Puts on one
// transcript take turns, and a reader sees a Put whole or not at all.
type PostgresStore struct {
	pool  *pgxpool.Pool
	where string // the database without its password, for error messages
}

var _ TranscriptStore = (*PostgresStore)(nil)

// The table holds messages as json, not jsonb: the store only writes and reads them whole, and jsonb cannot hold the
// NUL character (\u0000) that tool output may contain.
const (
	createTranscripts = `CREATE TABLE IF NOT EXISTS agops_transcripts (
	key text NOT NULL, idx integer NOT NULL, message json NOT NULL, PRIMARY KEY (key, idx))`
	lockKey        = `SELECT pg_advisory_xact_lock(hashtext($1))`
	countMessages  = `SELECT count(*) FROM agops_transcripts WHERE key = $1`
	deleteFrom     = `DELETE FROM agops_transcripts WHERE key = $1 AND idx >= $2`
	insertMessages = `INSERT INTO agops_transcripts (key, idx, message)
	SELECT $1, $2::integer + (m.ord::integer - 1), m.value FROM json_array_elements($3::json) WITH ORDINALITY AS m(value, ord)`
	selectMessages = `SELECT message FROM agops_transcripts WHERE key = $1 AND idx < $2::bigint ORDER BY idx`
)

// schemaLock is the advisory lock under which OpenPostgres creates the table: CREATE TABLE IF NOT EXISTS alone can
// still fail with a duplicate-key error when several workers start at once.
const schemaLock = 0x61676f7073 // "agops"

// OpenPostgres connects to the database dsn names (a postgres:// URL or libpq's key=value form) and creates the
// transcript table if it is missing. Errors never carry the password.
func OpenPostgres(ctx context.Context, dsn string) (*PostgresStore, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("transcript database %s: %w", RedactDSN(dsn), redactErr(err, dsnPasswords(dsn)...))
	}
	c := cfg.ConnConfig
	where := fmt.Sprintf("postgres://%s@%s:%d/%s", c.User, c.Host, c.Port, c.Database)
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err == nil {
		err = createSchema(ctx, pool)
	}
	if err != nil {
		if pool != nil {
			pool.Close()
		}
		return nil, fmt.Errorf("transcript database %s: %w", where, redactErr(err, append(dsnPasswords(dsn), c.Password)...))
	}
	return &PostgresStore{pool: pool, where: where}, nil
}

func createSchema(ctx context.Context, pool *pgxpool.Pool) error {
	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(schemaLock)); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, createTranscripts)
		return err
	})
}

// Close closes the store's connections.
func (s *PostgresStore) Close() error {
	s.pool.Close()
	return nil
}

// Put implements TranscriptStore.
func (s *PostgresStore) Put(ctx context.Context, key string, from int, msgs ...llm.Message) error {
	if err := checkKey(key); err != nil {
		return err
	}
	if from < 0 {
		return fmt.Errorf("transcript %s: cannot store message %d", key, from)
	}
	batch, err := json.Marshal(append([]llm.Message{}, msgs...))
	if err != nil {
		return fmt.Errorf("transcript %s: %w", key, err)
	}
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		return putTx(ctx, tx, key, from, batch)
	})
	var gap gapError
	if err != nil && !errors.As(err, &gap) {
		return fmt.Errorf("storing transcript %s in %s: %w", key, s.where, err)
	}
	return err
}

// gapError refuses a Put that would leave a gap.
type gapError struct {
	key       string
	have, put int
}

func (e gapError) Error() string {
	return fmt.Sprintf("transcript %s has %d messages; cannot store message %d", e.key, e.have, e.put)
}

// putTx replaces messages from… of key with batch (a JSON array), after taking the key's lock: the lock and the
// count are separate statements, so that the count sees every Put that held the lock before.
func putTx(ctx context.Context, tx pgx.Tx, key string, from int, batch []byte) error {
	if _, err := tx.Exec(ctx, lockKey, key); err != nil {
		return err
	}
	var n int
	if err := tx.QueryRow(ctx, countMessages, key).Scan(&n); err != nil {
		return err
	}
	if n < from {
		return gapError{key: key, have: n, put: from}
	}
	var b pgx.Batch
	b.Queue(deleteFrom, key, from)
	b.Queue(insertMessages, key, from, string(batch))
	return tx.SendBatch(ctx, &b).Close()
}

// Get implements TranscriptStore.
func (s *PostgresStore) Get(ctx context.Context, key string, n int) ([]llm.Message, error) {
	if err := checkKey(key); err != nil {
		return nil, err
	}
	if n < 0 {
		return nil, fmt.Errorf("transcript %s: cannot get %d messages", key, n)
	}
	rows, _ := s.pool.Query(ctx, selectMessages, key, int64(n))
	msgs, err := pgx.CollectRows(rows, pgx.RowTo[llm.Message])
	if err != nil {
		return nil, fmt.Errorf("reading transcript %s from %s: %w", key, s.where, err)
	}
	if len(msgs) < n {
		return nil, fmt.Errorf("transcript %s has %d messages, want %d", key, len(msgs), n)
	}
	return msgs, nil
}

// checkKey refuses keys that PostgreSQL's text cannot hold.
func checkKey(key string) error {
	if !utf8.ValidString(key) || strings.ContainsRune(key, 0) {
		return fmt.Errorf("transcript key %q: PostgreSQL cannot store a key with a NUL byte or invalid UTF-8", key)
	}
	return nil
}
