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

// test starts throwaway databases and an S3 server on free ports, runs go
// test -race against them, and removes everything afterwards.
// AISTAGRAM_TEST_NO_S3=1 leaves the S3 server out (the media tests then
// skip S3), for machines that cannot build it.
func test(ctx context.Context, args []string) (int, error) {
	// Built before anything starts: the first time takes minutes.
	var gwBin string
	noS3 := os.Getenv("AISTAGRAM_TEST_NO_S3") == "1"
	if !noS3 {
		var err error
		if gwBin, err = versitygwBinary(ctx); err != nil {
			return 1, fmt.Errorf("%w\n(AISTAGRAM_TEST_NO_S3=1 runs the tests without S3)", err)
		}
	}
	s, area, stop, err := startThrowaway(ctx, "aistagram-test-",
		// Durability is pointless for throwaway data; speed is not.
		[]string{"fsync=off", "full_page_writes=off", "synchronous_commit=off", "max_connections=400"}, true)
	if err != nil {
		return 1, err
	}
	defer stop()

	env := append(os.Environ(),
		"AISTAGRAM_TEST_DATABASE_URL="+s.pg.url("aistagram", "aistagram"),
		"AISTAGRAM_TEST_REDIS_URL="+s.redis.url(0),
		"AISTAGRAM_TEST_PG_BIN="+s.pg.bin,
	)
	if !noS3 {
		s3Port, err := freePort()
		if err != nil {
			return 1, err
		}
		gw := newVersitygw(gwBin, area, s3Port)
		if err := gw.start(ctx); err != nil {
			return 1, err
		}
		defer gw.stop()
		env = append(env, gw.testEnv()...)
	}

	goArgs := testArgs(args, os.Getenv("TESTFLAGS"))
	say("go %s", strings.Join(goArgs, " "))
	cmd := exec.CommandContext(ctx, "go", goArgs...)
	cmd.Env = env
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
