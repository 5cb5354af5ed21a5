// Package storetest gives each test its own freshly migrated PostgreSQL
// database on the server that `make test` starts. There is no fallback: a
// missing server fails the test run, it never skips it.
package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"sync"
	"testing"

	"github.com/jmoiron/sqlx"
	_ "github.com/lib/pq" // the PostgreSQL driver

	"github.com/aistagram/aistagram/store"
)

// EnvURL names the variable holding the admin URL of the test server.
const EnvURL = "AISTAGRAM_TEST_DATABASE_URL"

// template is migrated once per test binary and cloned for each test, which
// is much faster than migrating every database.
var template struct {
	once sync.Once
	name string
	err  error
}

// AdminURL returns the test server's URL, failing the test if it is unset.
func AdminURL(t testing.TB) string {
	t.Helper()
	u := os.Getenv(EnvURL)
	if u == "" {
		t.Fatalf("%s is not set: run the tests with `make test`, which starts PostgreSQL and Redis", EnvURL)
	}
	return u
}

// NewURL creates an empty, migrated database and returns its URL; it is
// dropped when the test ends.
func NewURL(t testing.TB) string {
	t.Helper()
	admin := AdminURL(t)
	ctx := context.Background()
	db, err := sqlx.Open("postgres", admin)
	if err != nil {
		t.Fatalf("open test database server: %v", err)
	}
	defer db.Close()

	template.once.Do(func() { template.name, template.err = makeTemplate(ctx, admin, db) })
	if template.err != nil {
		t.Fatalf("prepare template database: %v", template.err)
	}
	name := "test_" + randomSuffix()
	if _, err := db.ExecContext(ctx, fmt.Sprintf(`CREATE DATABASE %s TEMPLATE %s`, name, template.name)); err != nil {
		t.Fatalf("create test database: %v", err)
	}
	t.Cleanup(func() {
		db, err := sqlx.Open("postgres", admin)
		if err != nil {
			return
		}
		defer db.Close()
		_, _ = db.Exec(fmt.Sprintf(`DROP DATABASE IF EXISTS %s WITH (FORCE)`, name))
	})
	return withDatabase(admin, name)
}

// New opens a Store on a fresh database, closed when the test ends.
func New(t testing.TB) *store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), NewURL(t), store.Options{MaxOpenConns: 40})
	if err != nil {
		t.Fatalf("open test store: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func makeTemplate(ctx context.Context, admin string, db *sqlx.DB) (string, error) {
	name := "tmpl_" + randomSuffix()
	if _, err := db.ExecContext(ctx, `CREATE DATABASE `+name); err != nil {
		return "", err
	}
	st, err := store.Open(ctx, withDatabase(admin, name), store.Options{MaxOpenConns: 2})
	if err != nil {
		return "", err
	}
	err = st.Migrate(ctx, slog.New(slog.NewTextHandler(io.Discard, nil)))
	st.Close() // a template must have no connections when it is cloned
	return name, err
}

func withDatabase(raw, name string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	u.Path = "/" + name
	return u.String()
}

func randomSuffix() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
