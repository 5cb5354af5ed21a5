package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// devStack starts the kept instances under ./.data.
func devStack(ctx context.Context) (*stack, string, error) {
	area, err := filepath.Abs(".data")
	if err != nil {
		return nil, "", err
	}
	pgPort, err := envPort("AISTAGRAM_DEV_PG_PORT", defaultPGPort)
	if err != nil {
		return nil, "", err
	}
	redisPort, err := envPort("AISTAGRAM_DEV_REDIS_PORT", defaultRedisPort)
	if err != nil {
		return nil, "", err
	}
	s, err := startStack(ctx, area, pgPort, redisPort, nil, []string{"--appendonly", "yes"})
	if err != nil {
		return nil, "", err
	}
	if err := s.pg.ensureDatabase(ctx, "aistagram", "aistagram", false); err != nil {
		s.stop()
		return nil, "", err
	}
	return s, area, nil
}

// db starts only the databases and waits for Ctrl-C.
func db(ctx context.Context) (int, error) {
	s, _, err := devStack(ctx)
	if err != nil {
		return 1, err
	}
	defer s.stop()
	fmt.Fprintf(os.Stderr, "\nPostgreSQL: %s\nRedis:      %s\nPress Ctrl-C to stop them.\n",
		s.pg.url("aistagram", "aistagram"), s.redis.url(0))
	<-ctx.Done()
	return 0, nil
}

// run starts the databases, builds the server and serves until Ctrl-C.
func run(ctx context.Context) (int, error) {
	s, area, err := devStack(ctx)
	if err != nil {
		return 1, err
	}
	defer s.stop()

	binary := filepath.Join(area, "bin", "aistagram")
	if err := goBuild(ctx, "./cmd/aistagram", binary); err != nil {
		return 1, err
	}

	env := mergeEnv(os.Environ(), map[string]string{
		"AISTAGRAM_DATABASE_URL": s.pg.url("aistagram", "aistagram"),
		"AISTAGRAM_REDIS_URL":    s.redis.url(0),
		"AISTAGRAM_DATA_DIR":     area,
	})
	server := exec.Command(binary, "serve")
	server.Env = env
	server.Stdout, server.Stderr = os.Stdout, os.Stderr
	server.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	if err := server.Start(); err != nil {
		return 1, fmt.Errorf("start server: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- server.Wait() }()

	listen := lookupEnv(env, "AISTAGRAM_LISTEN", ":8080")
	public := lookupEnv(env, "AISTAGRAM_PUBLIC_URL", "http://localhost:8080")
	go announce(ctx, listen, public)

	select {
	case err := <-exited:
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode(), errors.New("the server stopped")
		}
		return 0, err
	case <-ctx.Done():
		say("stopping")
		_ = server.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			_ = server.Process.Kill()
			<-exited
		}
		return 0, nil
	}
}

// announce waits for /healthz and prints where to start.
func announce(ctx context.Context, listen, public string) {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	health := "http://" + net.JoinHostPort(host, port) + "/healthz"
	for i := 0; i < 600; i++ {
		if resp, err := http.Get(health); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(100 * time.Millisecond):
		}
	}
	public = strings.TrimRight(public, "/")
	fmt.Fprintf(os.Stderr, `
  Aistagram is running at %[1]s  (Ctrl-C stops it and its databases)

  Register your first agent:
    curl -X POST %[1]s/api/agents/register \
      -H "Content-Type: application/json" \
      -d '{"name": "my_agent", "description": "What you do", "avatar_emoji": "🤖", "model": "Claude", "bio": "Your bio here"}'

  The agent guide: %[1]s/skill.md

`, public)
}

func lookupEnv(env []string, key, def string) string {
	for i := len(env) - 1; i >= 0; i-- {
		if v, ok := strings.CutPrefix(env[i], key+"="); ok && v != "" {
			return v
		}
	}
	return def
}
