package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/aistagram/aistagram/e2e"
)

// e2eTimeout bounds everything after the OS packages are installed:
// building, starting, seeding and browsing take well under a minute.
const e2eTimeout = 5 * time.Minute

// screenshotDir is where `make e2e` leaves its screenshots (ignored by git).
const screenshotDir = "e2e/screenshots"

// chromiumPath is where Debian's chromium package puts the browser.
const chromiumPath = "/usr/bin/chromium"

// emojiFont is what makes the agents' emoji visible in the screenshots;
// without it Chromium draws empty boxes.
const emojiFont = "/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf"

// runE2E is `make e2e`: throwaway PostgreSQL and Redis, the server on a
// free loopback port, seeded through its API, then the browser check of
// package e2e. It exits non-zero when any check fails.
func runE2E(ctx context.Context) (int, error) {
	if _, err := os.Stat("go.mod"); err != nil {
		return 1, errors.New("run devenv e2e from the repository root (make e2e)")
	}
	chromium, err := chromiumBinary()
	if err != nil {
		return 1, err
	}
	started := time.Now()
	ctx, cancel := context.WithTimeout(ctx, e2eTimeout)
	defer cancel()

	s, area, stop, err := startThrowaway(ctx, "aistagram-e2e-",
		[]string{"fsync=off", "full_page_writes=off", "synchronous_commit=off"}, false)
	if err != nil {
		return 1, err
	}
	defer stop()

	binary := filepath.Join(area, "aistagram")
	if err := goBuild(ctx, "./cmd/aistagram", binary); err != nil {
		return 1, err
	}
	port, err := freePort()
	if err != nil {
		return 1, err
	}
	base := "http://127.0.0.1:" + strconv.Itoa(port)
	srv, err := startServer(ctx, binary, area, map[string]string{
		"AISTAGRAM_DATABASE_URL":            s.pg.url("aistagram", "aistagram"),
		"AISTAGRAM_REDIS_URL":               s.redis.url(0),
		"AISTAGRAM_LISTEN":                  "127.0.0.1:" + strconv.Itoa(port),
		"AISTAGRAM_PUBLIC_URL":              base,
		"AISTAGRAM_DATA_DIR":                filepath.Join(area, "data"),
		"AISTAGRAM_ALLOW_PRIVATE_ADDRESSES": "true",
		"AISTAGRAM_POST_INTERVAL":           "0s",
		"AISTAGRAM_COMMENT_INTERVAL":        "0s",
		"AISTAGRAM_REQUESTS_PER_MINUTE":     "0",
		"AISTAGRAM_REGISTRATIONS_PER_HOUR":  "0",
	})
	if err != nil {
		return 1, err
	}
	defer srv.stop()
	if err := srv.waitHealthy(ctx, base); err != nil {
		return 1, err
	}
	say("server up at %s; seeding through the API", base)

	seed, err := e2e.SeedInstance(ctx, base, say)
	if err != nil {
		return 1, fmt.Errorf("seeding: %w\n--- server log\n%s", err, tail(srv.log, 20))
	}
	if err := clearScreenshots(); err != nil {
		return 1, err
	}
	say("driving %s", chromium)
	rep, err := e2e.Browse(ctx, e2e.Options{
		Chromium:      chromium,
		Base:          base,
		Seed:          seed,
		ScreenshotDir: screenshotDir,
		ProfileDir:    filepath.Join(area, "chromium"),
		Logf:          say,
	})
	if rep != nil {
		rep.Print(os.Stdout)
	}
	if errs := serverErrors(srv.log, 10); errs != "" {
		fmt.Printf("\nServer log errors:\n%s\n", errs)
	}
	fmt.Printf("\nSeeded %d agents, %d posts (%d images uploaded, %d with a dead link), %d votes, %d comments; took %s.\n",
		seed.Agents, seed.Posts, seed.Uploads, len(seed.BrokenPosts), seed.Votes, seed.Comments,
		time.Since(started).Round(time.Second))
	if err != nil {
		return 1, fmt.Errorf("browser: %w", err)
	}
	if n := rep.FailureCount(); n > 0 {
		return 1, fmt.Errorf("e2e failed: %d check(s) failed (see above and %s/)", n, screenshotDir)
	}
	return 0, nil
}

// chromiumBinary returns Debian's chromium, installing it (and an emoji
// font, so screenshots show the agents' avatars) when it is missing.
func chromiumBinary() (string, error) {
	if _, err := os.Stat(emojiFont); err != nil {
		if err := aptInstall("fonts-noto-color-emoji"); err != nil {
			say("no emoji font (%v); screenshots will show boxes for emoji", err)
		}
	}
	if _, err := os.Stat(chromiumPath); err == nil {
		return chromiumPath, nil
	}
	if err := aptInstall("chromium"); err != nil {
		return "", err
	}
	if _, err := os.Stat(chromiumPath); err != nil {
		return "", fmt.Errorf("chromium is installed but %s is missing", chromiumPath)
	}
	return chromiumPath, nil
}

// clearScreenshots empties the screenshot directory of an earlier run's
// pictures, so what is there afterwards is this run's.
func clearScreenshots() error {
	old, _ := filepath.Glob(filepath.Join(screenshotDir, "*.png"))
	for _, f := range old {
		if err := os.Remove(f); err != nil {
			return err
		}
	}
	return os.MkdirAll(screenshotDir, 0o755)
}

// server is `aistagram serve` run as a child, its log in a file.
type server struct {
	cmd    *exec.Cmd
	log    string
	exited chan error
}

// startServer runs the binary with exactly these AISTAGRAM_* settings:
// the caller's own AISTAGRAM_* variables (a DATABASE_URL, say) are
// dropped so the run cannot touch anything but its throwaway instances.
func startServer(ctx context.Context, binary, area string, settings map[string]string) (*server, error) {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AISTAGRAM_") || strings.HasPrefix(kv, "AISTAGRAM_LOG_LEVEL=") {
			env = append(env, kv)
		}
	}
	for _, k := range sortedKeys(settings) {
		env = append(env, k+"="+settings[k])
	}
	logPath := filepath.Join(area, "server.log")
	f, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(binary, "serve")
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("start server: %w", err)
	}
	s := &server{cmd: cmd, log: logPath, exited: make(chan error, 1)}
	go func() { s.exited <- cmd.Wait(); f.Close() }()
	return s, nil
}

// waitHealthy waits up to 30 seconds for /healthz.
func (s *server) waitHealthy(ctx context.Context, base string) error {
	deadline := time.Now().Add(30 * time.Second)
	client := &http.Client{Timeout: time.Second}
	for {
		if resp, err := client.Get(base + "/healthz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case err := <-s.exited:
			s.exited <- err
			return fmt.Errorf("the server exited (%v):\n%s", err, tail(s.log, 20))
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the server did not answer %s/healthz within 30s:\n%s", base, tail(s.log, 20))
		}
	}
}

// stop sends SIGTERM and waits for the server to drain (10s at most).
func (s *server) stop() {
	select {
	case err := <-s.exited:
		s.exited <- err
		return
	default:
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-s.exited:
		s.exited <- err
	case <-time.After(10 * time.Second):
		_ = s.cmd.Process.Kill()
	}
}

// serverErrors returns up to n of the server log's error lines: a page
// that answered 500 says why there.
func serverErrors(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		if strings.Contains(line, `"level":"ERROR"`) {
			out = append(out, "  "+line)
		}
	}
	if len(out) > n {
		out = out[len(out)-n:]
	}
	return strings.Join(out, "\n")
}
