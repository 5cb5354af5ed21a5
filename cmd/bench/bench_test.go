package main

import (
	"context"
	"database/sql"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aistagram/aistagram/store/storetest"
)

// TestMain lets the test binary be the ceilings' child process too, as
// the bench binary is.
func TestMain(m *testing.M) {
	if os.Getenv(ceilingChildEnv) != "" {
		os.Exit(serveCeilingChild())
	}
	os.Exit(m.Run())
}

// TestHarness seeds a tiny dataset into a fresh database and drives two
// targets (the two HTTP ceilings) for a second with two connections: it
// proves the harness works, and asserts nothing about speed.
func TestHarness(t *testing.T) {
	ctx := context.Background()
	dbURL := storetest.NewURL(t)
	rep := &report{Started: time.Now().UTC(), Scale: 0.0002, Conns: 2, DurationS: 1}
	d, err := prepare(ctx, dbURL, rep.Scale, rep)
	if err != nil {
		t.Fatal(err)
	}
	if len(d.postIDs) != d.Posts || len(d.agentNames) != d.Agents || d.Votes == 0 || d.Comments == 0 {
		t.Fatalf("dataset = %+v", d)
	}

	db, err := sql.Open("postgres", dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var wrong int
	if err := db.QueryRowContext(ctx, `
		SELECT count(*) FROM posts p WHERE
			upvotes <> (SELECT count(*) FROM votes v WHERE v.post_id = p.id AND v.value = 1) OR
			downvotes <> (SELECT count(*) FROM votes v WHERE v.post_id = p.id AND v.value = -1) OR
			comment_count <> (SELECT count(*) FROM comments c WHERE c.post_id = p.id) OR
			-- a post whose net votes are -(comments+1) rightly scores 0
			(hot_score = 0) <> (score + comment_count + 1 = 0)`).Scan(&wrong); err != nil {
		t.Fatal(err)
	}
	if wrong != 0 {
		t.Errorf("%d posts have counters that disagree with their rows, or were not scored", wrong)
	}
	if err := db.QueryRowContext(ctx, `
		SELECT count(*) FROM agents a
		WHERE a.last_post_at IS DISTINCT FROM (SELECT max(created_at) FROM posts p WHERE p.agent_id = a.id)`).Scan(&wrong); err != nil {
		t.Fatal(err)
	}
	if wrong != 0 {
		t.Errorf("%d agents have a last_post_at that is not their newest post's", wrong)
	}
	var rows int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM votes`).Scan(&rows); err != nil || rows != d.Votes {
		t.Errorf("votes in the table = %d (%v), seed says %d", rows, err, d.Votes)
	}

	l := newLoader(2, time.Second)
	defer l.close()
	meter := newCPUMeter(ctx, db, os.Getenv("AISTAGRAM_TEST_REDIS_URL"), 0)
	if meter.postmaster == 0 {
		t.Error("the CPU meter did not find PostgreSQL's postmaster")
	}
	cs, err := measureCeilings(ctx, l, meter, t.TempDir(), dbURL, []byte(`{"success":true,"data":{"posts":[]}}`), rep)
	if err != nil {
		t.Fatal(err)
	}
	defer cs.close()
	for _, r := range []result{rep.Ceilings.HTTP, rep.Ceilings.DB} {
		if r.Requests == 0 || r.Errors != 0 {
			t.Errorf("%s: %d requests, %d errors (%s)", r.Name, r.Requests, r.Errors, r.FirstError)
		}
		// The ceilings run in their own process: it, not this one, serves.
		if r.CPU == nil || r.CPU.Server <= 0 {
			t.Errorf("%s: no CPU recorded for the ceilings' process: %+v", r.Name, r.CPU)
		}
	}
	if rep.Ceilings.DB.CPU != nil && rep.Ceilings.DB.CPU.Postgres <= 0 {
		t.Errorf("DB ceiling: no PostgreSQL CPU recorded: %+v", rep.Ceilings.DB.CPU)
	}
	rep.Targets = []result{rep.Ceilings.DB}

	out := t.TempDir()
	if err := rep.write(io.Discard, out); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(out)
	if err != nil || len(entries) != 2 {
		t.Fatalf("results directory holds %v (%v), want a .md and a .json", entries, err)
	}
	md, _ := os.ReadFile(filepath.Join(out, entries[1].Name())) // ReadDir sorts: .json, then .md
	if !strings.Contains(string(md), "| DB ceiling |") || !strings.Contains(string(md), "| load | server | PostgreSQL |") {
		t.Errorf("the table lacks the DB ceiling row:\n%s", md)
	}
}
