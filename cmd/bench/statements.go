package main

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"
)

// statementsShown is how many of a load's busiest statements the report
// lists.
const statementsShown = 3

// statementStats reads pg_stat_statements, where the database has it
// (make bench loads it), to say which statements PostgreSQL spent each
// load's time on: the CPU table says how busy PostgreSQL was, this says
// with what.
type statementStats struct {
	db *sql.DB
}

// statementShare is one normalised statement's part of a load.
type statementShare struct {
	Query string `json:"query"`
	Calls int64  `json:"calls"`
	Rows  int64  `json:"rows"`
	// MeanMicros is its mean execution time (planning not included).
	MeanMicros float64 `json:"mean_us"`
	// Share is its part of every statement's execution time in the load.
	Share float64 `json:"share"`
}

// newStatementStats returns nil, saying why, when pg_stat_statements
// cannot be read and reset with db's role.
func newStatementStats(ctx context.Context, db *sql.DB) *statementStats {
	if _, err := db.ExecContext(ctx, `SELECT pg_stat_statements_reset()`); err != nil {
		logf("statement statistics: not available (%v); the report leaves them out", err)
		return nil
	}
	return &statementStats{db: db}
}

// start resets the statistics and returns a function that reads the
// busiest statements since. A nil statementStats reads nothing.
func (s *statementStats) start(ctx context.Context) (stop func() []statementShare) {
	if s == nil {
		return func() []statementShare { return nil }
	}
	if _, err := s.db.ExecContext(ctx, `SELECT pg_stat_statements_reset()`); err != nil {
		logf("statement statistics: reset: %v", err)
		return func() []statementShare { return nil }
	}
	return func() []statementShare {
		top, err := s.busiest(ctx)
		if err != nil {
			logf("statement statistics: %v", err)
		}
		return top
	}
}

// busiest reads the statementsShown statements with the most execution
// time since the last reset, leaving out the bench's own.
func (s *statementStats) busiest(ctx context.Context) ([]statementShare, error) {
	rows, err := s.db.QueryContext(ctx, `WITH s AS (
			SELECT coalesce(query, '') AS query, calls, rows, total_exec_time, mean_exec_time
			FROM pg_stat_statements
			WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
			  AND query NOT LIKE '%pg_stat_statements%')
		SELECT query, calls, rows, mean_exec_time * 1000,
			total_exec_time / NULLIF(sum(total_exec_time) OVER (), 0)
		FROM s ORDER BY total_exec_time DESC LIMIT $1`, statementsShown)
	if err != nil {
		return nil, fmt.Errorf("read pg_stat_statements: %w", err)
	}
	defer rows.Close()
	var out []statementShare
	for rows.Next() {
		var st statementShare
		var share sql.NullFloat64
		if err := rows.Scan(&st.Query, &st.Calls, &st.Rows, &st.MeanMicros, &share); err != nil {
			return nil, fmt.Errorf("read pg_stat_statements: %w", err)
		}
		st.Query, st.Share = oneLine(st.Query, 110), share.Float64
		out = append(out, st)
	}
	return out, rows.Err()
}

// oneLine collapses a statement's whitespace and cuts it to n bytes (on a
// rune boundary), for a table cell.
func oneLine(q string, n int) string {
	q = strings.Join(strings.Fields(q), " ")
	if len(q) <= n {
		return q
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(q[cut]) {
		cut--
	}
	return q[:cut] + "…"
}

// statementLines lists each load's busiest statements.
func statementLines(b *strings.Builder, rs []result) {
	rows := slices.DeleteFunc(slices.Clone(rs), func(x result) bool { return len(x.Statements) == 0 })
	if len(rows) == 0 {
		return
	}
	b.WriteString("\nPostgreSQL's busiest statements during each load (pg_stat_statements; share of all statements' execution time, planning not included):\n\n")
	tableHead(b, "load", "share", "calls", "mean µs", "rows", "<statement")
	for _, x := range rows {
		for i, st := range x.Statements {
			name := ""
			if i == 0 {
				name = x.Name
			}
			fmt.Fprintf(b, "| %s | %.0f %% | %d | %.0f | %d | `%s` |\n",
				name, 100*st.Share, st.Calls, st.MeanMicros, st.Rows, strings.ReplaceAll(st.Query, "|", "\\|"))
		}
	}
}
