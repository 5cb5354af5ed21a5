package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"time"
)

// The HTTP and database ceilings are served by a child process (this
// binary, started again with ceilingChildEnv set), not by the load
// generator's own process. serve is a process of its own, and a handler
// inside the load generator's process skips what any server pays against
// it: two Go runtimes' schedulers sharing the cores, and a switch between
// processes for every request and every response. Measured on this 2-core
// machine, the same fixed-body handler answered 12 % more requests inside
// the load generator's process than in its own when alone (25.7k against
// 22.7-23.0k req/s, three rounds), and 34 % more in full-scale runs (the
// report shows both), so targets were compared with a ceiling no server
// could reach.
const (
	ceilingChildEnv    = "AISTAGRAM_BENCH_CEILING_CHILD"
	ceilingBodyEnv     = "AISTAGRAM_BENCH_CEILING_BODY"
	ceilingDatabaseEnv = "AISTAGRAM_BENCH_CEILING_DATABASE_URL"
)

// ceilingProcess is the child serving the ceilings.
type ceilingProcess struct {
	cmd   *exec.Cmd
	stdin io.Closer
	// HTTP and DB are the two ceilings' base URLs.
	HTTP, DB string
}

// startCeilingProcess starts the child: it serves bodyFile's bytes as the
// HTTP ceiling and the keyset query on dbURL as the database ceiling, each
// on its own loopback port.
func startCeilingProcess(ctx context.Context, bodyFile, dbURL string) (*ceilingProcess, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("ceiling process: %w", err)
	}
	cmd := exec.CommandContext(ctx, self)
	cmd.Env = append(os.Environ(), ceilingChildEnv+"=1", ceilingBodyEnv+"="+bodyFile, ceilingDatabaseEnv+"="+dbURL)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("ceiling process: %w", err)
	}
	p := &ceilingProcess{cmd: cmd, stdin: stdin}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if _, scanErr := fmt.Sscan(line, &p.HTTP, &p.DB); err != nil || scanErr != nil {
		p.close()
		return nil, fmt.Errorf("ceiling process did not say where it listens (%q): %w", line, errors.Join(err, scanErr))
	}
	return p, nil
}

func (p *ceilingProcess) pid() int { return p.cmd.Process.Pid }

// close ends the child: it exits when its standard input closes, and is
// killed if it has not within a few seconds.
func (p *ceilingProcess) close() {
	_ = p.stdin.Close()
	done := make(chan struct{})
	go func() { _ = p.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		_ = p.cmd.Process.Kill()
		<-done
	}
}

// serveCeilingChild is the child's whole life: serve both ceilings, print
// their URLs on one line, and stop when the parent closes standard input
// (or dies). It returns the exit code.
func serveCeilingChild() int {
	fail := func(err error) int {
		fmt.Fprintln(os.Stderr, "bench ceiling process:", err)
		return 1
	}
	ctx := context.Background()
	body, err := os.ReadFile(os.Getenv(ceilingBodyEnv))
	if err != nil {
		return fail(err)
	}
	pool, err := openCeilingPool(os.Getenv(ceilingDatabaseEnv))
	if err != nil {
		return fail(err)
	}
	defer pool.Close()
	dbHandler, closeStmt, err := dbCeiling(ctx, pool)
	if err != nil {
		return fail(err)
	}
	defer closeStmt()
	var urls []string
	for _, h := range []http.Handler{httpCeiling(body), dbHandler} {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return fail(err)
		}
		srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
		go func() { _ = srv.Serve(ln) }()
		defer srv.Close()
		urls = append(urls, "http://"+ln.Addr().String())
	}
	fmt.Println(strings.Join(urls, " "))
	_, _ = io.Copy(io.Discard, os.Stdin)
	return 0
}
