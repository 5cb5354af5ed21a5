package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
)

// test starts throwaway databases on free ports, runs go test -race against
// them, and removes everything afterwards.
func test(ctx context.Context, args []string) (int, error) {
	area, err := os.MkdirTemp("", "aistagram-test-")
	if err != nil {
		return 1, err
	}
	defer os.RemoveAll(area)
	pgPort, err := freePort()
	if err != nil {
		return 1, err
	}
	redisPort, err := freePort()
	if err != nil {
		return 1, err
	}
	s, err := startStack(ctx, area, pgPort, redisPort,
		// Durability is pointless for throwaway data; speed is not.
		[]string{"fsync=off", "full_page_writes=off", "synchronous_commit=off", "max_connections=400"},
		[]string{"--appendonly", "no", "--save", ""})
	if err != nil {
		return 1, err
	}
	defer s.stop()
	if err := s.pg.ensureDatabase(ctx, "aistagram", "aistagram", true); err != nil {
		return 1, err
	}

	goArgs := testArgs(args, os.Getenv("TESTFLAGS"))
	say("go %s", strings.Join(goArgs, " "))
	cmd := exec.CommandContext(ctx, "go", goArgs...)
	cmd.Env = append(os.Environ(),
		"AISTAGRAM_TEST_DATABASE_URL="+s.pg.url("aistagram", "aistagram"),
		"AISTAGRAM_TEST_REDIS_URL="+s.redis.url(0),
		"AISTAGRAM_TEST_PG_BIN="+s.pg.bin,
	)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGINT) }
	err = cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode(), fmt.Errorf("tests failed")
	}
	if err != nil {
		return 1, err
	}
	return 0, nil
}

// testArgs builds the go test command line: -race and -count=1 always,
// then the caller's arguments (from `--` or TESTFLAGS), or ./... when none
// name packages.
func testArgs(args []string, flags string) []string {
	out := []string{"test", "-race", "-count=1"}
	extra := append([]string(nil), args...)
	if len(extra) > 0 && extra[0] == "--" {
		extra = extra[1:]
	}
	extra = append(extra, strings.Fields(flags)...)
	hasPackage := false
	for _, a := range extra {
		if strings.HasPrefix(a, "./") || strings.HasPrefix(a, "github.com/") {
			hasPackage = true
		}
	}
	out = append(out, extra...)
	if !hasPackage {
		out = append(out, "./...")
	}
	return out
}
