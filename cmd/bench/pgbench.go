package main

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"time"
)

const (
	// pgbenchClients matches the server's pool size: more clients than
	// cores only add contention on a small machine.
	pgbenchClients = 8
	// pgbenchScale is pgbench's -s: 10 branches (so clients rarely queue on
	// one branch row) and a million accounts.
	pgbenchScale = 10
	// pgbenchDatabase is created next to the seeded one and dropped after.
	pgbenchDatabase = "aistagram_pgbench"
)

var pgbenchTPS = regexp.MustCompile(`tps = ([0-9.]+) \(without initial connection time\)`)

// writeCeiling runs pgbench's TPC-B-like script (five statements and a
// commit per transaction, fsync as the server is configured) on a
// database of its own on the same PostgreSQL, and returns transactions per
// second: the write ceiling every write path is compared with.
func writeCeiling(ctx context.Context, pool *sql.DB, dbURL, pgBin string, d time.Duration) (float64, error) {
	pgbench := "pgbench"
	if pgBin != "" {
		pgbench = filepath.Join(pgBin, "pgbench")
	}
	if _, err := exec.LookPath(pgbench); err != nil {
		return 0, fmt.Errorf("the write ceiling needs pgbench (PostgreSQL's client tools): %w", err)
	}
	u, err := url.Parse(dbURL)
	if err != nil {
		return 0, fmt.Errorf("database URL: %w", err)
	}
	u.Path = "/" + pgbenchDatabase
	target := u.String()

	drop := func() {
		// A fresh context: this runs on the way out, interrupted or not.
		dctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_, _ = pool.ExecContext(dctx, `DROP DATABASE IF EXISTS `+pgbenchDatabase)
	}
	drop()
	if _, err := pool.ExecContext(ctx, `CREATE DATABASE `+pgbenchDatabase); err != nil {
		return 0, fmt.Errorf("create the pgbench database: %w", err)
	}
	defer drop()

	if out, err := exec.CommandContext(ctx, pgbench, "-i", "-q", "-s", strconv.Itoa(pgbenchScale), target).CombinedOutput(); err != nil {
		return 0, fmt.Errorf("pgbench -i: %w: %.500s", err, out)
	}
	secs := max(1, int(d.Round(time.Second)/time.Second))
	// Prepared, as the server's own hot writes are: with the simple
	// protocol pgbench plans its five statements on every transaction.
	out, err := exec.CommandContext(ctx, pgbench, "-n", "-M", "prepared", "-c", strconv.Itoa(pgbenchClients), "-j", "2",
		"-T", strconv.Itoa(secs), target).CombinedOutput()
	if err != nil {
		return 0, fmt.Errorf("pgbench: %w: %.500s", err, out)
	}
	m := pgbenchTPS.FindSubmatch(out)
	if m == nil {
		return 0, fmt.Errorf("pgbench printed no tps line: %.500s", out)
	}
	return strconv.ParseFloat(string(m[1]), 64)
}
