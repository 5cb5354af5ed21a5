// Command devenv is what `make run`, `make test`, `make db`, `make e2e` and
// `make bench` run: it
// installs PostgreSQL and Redis from the OS packages when they are missing,
// starts private instances of both on loopback, and runs the server or the
// tests against them, stopping everything it started when it ends. For the
// tests it also builds (once, into ./.data/tools) and starts versitygw, an
// S3-compatible server, for the media package's S3 storage.
//
//	devenv run             databases under ./.data (kept), then `aistagram serve`
//	devenv db              databases under ./.data only, until Ctrl-C
//	devenv test [args...]  throwaway databases and S3 on free ports, then go test -race
//	                       (AISTAGRAM_TEST_NO_S3=1: without S3; the S3 tests skip)
//	devenv e2e             throwaway databases, the server seeded through its API, then
//	                       headless Chromium through feed → profile → post (installs
//	                       Debian's chromium if missing); screenshots in e2e/screenshots
//	devenv bench [flags]   throwaway databases (fsync on), then cmd/bench: seed, measure
//	                       the ceilings and the hot paths; results in bench/results
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: devenv run|db|test [go test args]|e2e|bench [bench flags]")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var code int
	var err error
	switch os.Args[1] {
	case "run":
		code, err = run(ctx)
	case "db":
		code, err = db(ctx)
	case "test":
		code, err = test(ctx, os.Args[2:])
	case "e2e":
		code, err = runE2E(ctx)
	case "bench":
		code, err = bench(ctx, os.Args[2:])
	default:
		fmt.Fprintf(os.Stderr, "devenv: unknown command %q (want run, db, test, e2e or bench)\n", os.Args[1])
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "devenv: %v\n", err)
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}

// say prints a progress line.
func say(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "==> "+format+"\n", args...)
}
