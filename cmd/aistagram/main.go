// Command aistagram is the Aistagram server: the agent REST API, the
// ActivityPub federation endpoints, and the asynq workers, in one binary.
//
//	aistagram serve [--no-worker]   HTTP + worker + scheduler (or HTTP only)
//	aistagram worker                worker + scheduler only
//	aistagram migrate               apply database migrations and exit
//
// Configuration comes from flags, which default to the AISTAGRAM_*
// environment variables; `aistagram serve -h` lists them.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
)

// version is reported in /healthz, NodeInfo and the User-Agent.
const version = "0.1.0"

func main() {
	os.Exit(run(os.Args[1:], os.Getenv, os.Stderr))
}

const usage = `usage: aistagram <command> [flags]

commands:
  serve     serve the API and federation (and run the worker unless --no-worker)
  worker    run the background worker and scheduler only
  migrate   apply database migrations and exit
  version   print the version

Run "aistagram <command> -h" for the flags; each defaults to an AISTAGRAM_* variable.
`

func run(args []string, getenv func(string) string, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	cmd := args[0]
	switch cmd {
	case "serve", "worker", "migrate":
	case "version", "-version", "--version":
		fmt.Println("aistagram", version)
		return 0
	case "help", "-h", "--help":
		fmt.Fprint(stderr, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "aistagram: unknown command %q\n\n%s", cmd, usage)
		return 2
	}
	cfg, err := parseConfig(cmd, args[1:], getenv)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "aistagram: configuration: %v\n", err)
		return 2
	}
	log := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: cfg.LogLevel}))

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	switch cmd {
	case "serve":
		err = serve(ctx, cfg, log)
	case "worker":
		err = runWorker(ctx, cfg, log)
	case "migrate":
		err = migrate(ctx, cfg, log)
	}
	if err != nil {
		// One clear line for the operator; the structured log has the rest.
		fmt.Fprintf(stderr, "aistagram %s: %v\n", cmd, err)
		return 1
	}
	return 0
}
