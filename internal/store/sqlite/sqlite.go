// Package sqlite implements store.Store on an embedded SQLite database (the
// pure-Go modernc.org/sqlite driver, so builds need no cgo) in WAL mode.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
	"sync"

	_ "modernc.org/sqlite" // registers the "sqlite" driver

	"github.com/vireo-project/vireo/internal/store"
)

// FileName is the database file inside a data directory.
const FileName = "vireo.db"

// Store is a store.Store on one SQLite database file.
type Store struct {
	db *sql.DB

	// mu guards closed.
	mu     sync.RWMutex
	closed bool
}

var _ store.Store = (*Store)(nil)

// Open opens (creating if needed) the database in dir and brings its schema
// up to date.
func Open(ctx context.Context, dir string) (*Store, error) {
	path := filepath.Join(dir, FileName)
	q := url.Values{}
	for _, p := range []string{"journal_mode(WAL)", "synchronous(NORMAL)", "busy_timeout(10000)", "foreign_keys(ON)"} {
		q.Add("_pragma", p)
	}
	q.Set("_txlock", "immediate")
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	// One connection: SQLite has a single writer, and WAL readers are cheap
	// enough for start-up loads. Writers queue on the pool instead of
	// retrying on SQLITE_BUSY.
	db.SetMaxOpenConns(1)
	s := &Store{db: db}
	if err := migrate(ctx, db); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// DB exposes the underlying database to packages that keep their own tables
// in the same file (events, statistics).
func (s *Store) DB() *sql.DB { return s.db }

func (s *Store) check() error {
	if s.closed {
		return store.ErrClosed
	}
	return nil
}

// Objects implements store.Store.
func (s *Store) Objects(ctx context.Context) ([]store.Object, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.check(); err != nil {
		return nil, err
	}
	rows, err := s.db.QueryContext(ctx, `SELECT type, id, data FROM objects`)
	if err != nil {
		return nil, fmt.Errorf("sqlite: load objects: %w", err)
	}
	defer rows.Close()
	var out []store.Object
	for rows.Next() {
		var o store.Object
		if err := rows.Scan(&o.Type, &o.ID, &o.Data); err != nil {
			return nil, fmt.Errorf("sqlite: scan object: %w", err)
		}
		out = append(out, o)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: load objects: %w", err)
	}
	return out, nil
}

// Meta implements store.Store.
func (s *Store) Meta(ctx context.Context, key string) (string, bool, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.check(); err != nil {
		return "", false, err
	}
	var v string
	err := s.db.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = ?`, key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("sqlite: meta %q: %w", key, err)
	}
	return v, true, nil
}

// MetaPrefix implements store.Store.
func (s *Store) MetaPrefix(ctx context.Context, prefix string) (map[string]string, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.check(); err != nil {
		return nil, err
	}
	esc := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(prefix)
	rows, err := s.db.QueryContext(ctx, `SELECT key, value FROM meta WHERE key LIKE ? ESCAPE '\'`, esc+"%")
	if err != nil {
		return nil, fmt.Errorf("sqlite: meta prefix %q: %w", prefix, err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var k, v string
		if err := rows.Scan(&k, &v); err != nil {
			return nil, fmt.Errorf("sqlite: scan meta: %w", err)
		}
		out[k] = v
	}
	return out, rows.Err()
}

// Commit implements store.Store.
func (s *Store) Commit(ctx context.Context, b *store.Batch) (err error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.check(); err != nil {
		return err
	}
	if b.Empty() {
		return nil
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite: begin: %w", err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	if len(b.Put) > 0 {
		st, err := tx.PrepareContext(ctx, `INSERT INTO objects(id, type, data) VALUES(?, ?, ?)
			ON CONFLICT(id) DO UPDATE SET type = excluded.type, data = excluded.data`)
		if err != nil {
			return fmt.Errorf("sqlite: prepare put: %w", err)
		}
		defer st.Close()
		for _, o := range b.Put {
			if _, err := st.ExecContext(ctx, o.ID, o.Type, o.Data); err != nil {
				return fmt.Errorf("sqlite: put %s: %w", o.ID, err)
			}
		}
	}
	for _, id := range b.Delete {
		if _, err := tx.ExecContext(ctx, `DELETE FROM objects WHERE id = ?`, id); err != nil {
			return fmt.Errorf("sqlite: delete %s: %w", id, err)
		}
	}
	for k, v := range b.Meta {
		if _, err := tx.ExecContext(ctx, `INSERT INTO meta(key, value) VALUES(?, ?)
			ON CONFLICT(key) DO UPDATE SET value = excluded.value`, k, v); err != nil {
			return fmt.Errorf("sqlite: meta %s: %w", k, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite: commit: %w", err)
	}
	return nil
}

// Close implements store.Store.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	return s.db.Close()
}
