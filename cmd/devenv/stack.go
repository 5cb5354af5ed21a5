package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
)

// Default ports of the kept development instances: unusual ones, so they
// never collide with a system PostgreSQL (5432) or Redis (6379).
const (
	defaultPGPort    = 55432
	defaultRedisPort = 56379
)

// stack is a PostgreSQL and a Redis started together.
type stack struct {
	pg    *postgres
	redis *redisInstance
}

// startStack installs what is missing and starts both servers under area.
func startStack(ctx context.Context, area string, pgPort, redisPort int, pgExtra, redisExtra []string) (*stack, error) {
	bin, err := postgresBinDir()
	if err != nil {
		return nil, err
	}
	rbin, err := redisServer()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(area, 0o755); err != nil {
		return nil, err
	}
	// The postgres user must be able to reach its directories inside area.
	if err := os.Chmod(area, 0o755); err != nil {
		return nil, err
	}
	s := &stack{pg: newPostgres(bin, area, pgPort, pgExtra...), redis: newRedis(rbin, area, redisPort, redisExtra...)}
	if err := s.pg.prepare(ctx); err != nil {
		return nil, err
	}
	if err := s.pg.start(ctx); err != nil {
		return nil, err
	}
	if err := s.redis.start(ctx); err != nil {
		_ = s.pg.stop()
		return nil, err
	}
	return s, nil
}

// stop stops Redis, then PostgreSQL.
func (s *stack) stop() {
	s.redis.stop()
	if err := s.pg.stop(); err != nil {
		fmt.Fprintln(os.Stderr, "devenv:", err)
	}
}

// envPort reads a port from the environment, or returns def.
func envPort(name string, def int) (int, error) {
	v := os.Getenv(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > 65535 {
		return 0, fmt.Errorf("%s=%q is not a port number", name, v)
	}
	return n, nil
}

// mergeEnv adds defaults to an environment without overriding what the
// user set: their AISTAGRAM_* values win.
func mergeEnv(env []string, defaults map[string]string) []string {
	set := map[string]bool{}
	for _, kv := range env {
		for i := 0; i < len(kv); i++ {
			if kv[i] == '=' {
				set[kv[:i]] = true
				break
			}
		}
	}
	out := append([]string(nil), env...)
	for _, k := range sortedKeys(defaults) {
		if !set[k] {
			out = append(out, k+"="+defaults[k])
		}
	}
	return out
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	for i := 1; i < len(keys); i++ {
		for j := i; j > 0 && keys[j] < keys[j-1]; j-- {
			keys[j], keys[j-1] = keys[j-1], keys[j]
		}
	}
	return keys
}

// startThrowaway starts PostgreSQL (with pgSettings) and Redis (no
// persistence) on free ports under a new temporary directory, with the
// aistagram database created (createdb lets its role create more, as the
// tests' per-test databases need). stop removes everything.
func startThrowaway(ctx context.Context, prefix string, pgSettings []string, createdb bool) (s *stack, area string, stop func(), err error) {
	area, err = os.MkdirTemp("", prefix)
	if err != nil {
		return nil, "", nil, err
	}
	fail := func(err error) (*stack, string, func(), error) {
		_ = os.RemoveAll(area)
		return nil, "", nil, err
	}
	pgPort, err := freePort()
	if err != nil {
		return fail(err)
	}
	redisPort, err := freePort()
	if err != nil {
		return fail(err)
	}
	s, err = startStack(ctx, area, pgPort, redisPort, pgSettings, []string{"--appendonly", "no", "--save", ""})
	if err != nil {
		return fail(err)
	}
	stop = func() {
		s.stop()
		_ = os.RemoveAll(area)
	}
	if err := s.pg.ensureDatabase(ctx, "aistagram", "aistagram", createdb); err != nil {
		stop()
		return nil, "", nil, err
	}
	return s, area, stop, nil
}

// goBuild builds one package of the module into out, saying so.
func goBuild(ctx context.Context, pkg, out string) error {
	say("building %s", pkg)
	build := exec.CommandContext(ctx, "go", "build", "-o", out, pkg)
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		return fmt.Errorf("go build %s: %w", pkg, err)
	}
	return nil
}
