package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
)

// bench starts a throwaway PostgreSQL and Redis on free ports, exactly as
// test does, builds the server, and runs cmd/bench against them with the
// caller's arguments (`make bench BENCHFLAGS='-scale 0.01'`). Unlike test,
// PostgreSQL keeps its durability settings (fsync on): the write figures
// must be those of a real server. max_wal_size is raised so seeding a
// million rows is not one checkpoint after another. pg_stat_statements is
// loaded, where the installation has it, so the report can say which
// statements PostgreSQL spent each load on.
func bench(ctx context.Context, args []string) (int, error) {
	s, area, stop, err := startThrowaway(ctx, "aistagram-bench-",
		[]string{"max_connections=400", "max_wal_size=8GB", "shared_buffers=512MB",
			"shared_preload_libraries=pg_stat_statements"}, true)
	if err != nil {
		return 1, err
	}
	defer stop()
	if s.pg.hasLibrary("pg_stat_statements") {
		// The extension needs a superuser; the bench connects as the
		// server's role, which may then read and reset the statistics.
		// The function is named without its arguments, which differ
		// between versions. Optional: without it the report leaves the
		// statements out.
		if err := s.pg.psql(ctx, "aistagram", `CREATE EXTENSION IF NOT EXISTS pg_stat_statements;
GRANT EXECUTE ON FUNCTION pg_stat_statements_reset TO aistagram;`); err != nil {
			say("statement statistics unavailable: %v", err)
		}
	}

	binary := filepath.Join(area, "aistagram")
	if err := goBuild(ctx, "./cmd/aistagram", binary); err != nil {
		return 1, err
	}
	benchBin := filepath.Join(area, "bench")
	if err := goBuild(ctx, "./cmd/bench", benchBin); err != nil {
		return 1, err
	}

	if len(args) > 0 && args[0] == "--" {
		args = args[1:]
	}
	benchArgs := append([]string{
		"-database-url", s.pg.url("aistagram", "aistagram"),
		"-redis-url", s.redis.url(0),
		"-aistagram", binary,
	}, args...)
	say("bench %s", strings.Join(args, " "))
	cmd := exec.CommandContext(ctx, benchBin, benchArgs...)
	cmd.Env = append(os.Environ(), "AISTAGRAM_TEST_PG_BIN="+s.pg.bin)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGINT) }
	err = cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode(), fmt.Errorf("bench failed")
	}
	if err != nil {
		return 1, err
	}
	return 0, nil
}
