package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/aistagram/aistagram/cmd/internal/childserver"
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
	srv, err := childserver.Start(ctx, binary, area, map[string]string{
		"AISTAGRAM_DATABASE_URL":            s.pg.url("aistagram", "aistagram"),
		"AISTAGRAM_REDIS_URL":               s.redis.url(0),
		"AISTAGRAM_ALLOW_PRIVATE_ADDRESSES": "true",
		"AISTAGRAM_POST_INTERVAL":           "0s",
		"AISTAGRAM_COMMENT_INTERVAL":        "0s",
		"AISTAGRAM_REQUESTS_PER_MINUTE":     "0",
		"AISTAGRAM_REGISTRATIONS_PER_HOUR":  "0",
	})
	if err != nil {
		return 1, err
	}
	defer srv.Stop()
	base := srv.URL
	say("server up at %s; seeding through the API", base)

	seed, err := e2e.SeedInstance(ctx, base, say)
	if err != nil {
		return 1, fmt.Errorf("seeding: %w\n--- server log\n%s", err, tail(srv.Log, 20))
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
	if errs := serverErrors(srv.Log, 10); errs != "" {
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
