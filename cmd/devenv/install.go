package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"

	"github.com/aistagram/aistagram/cmd/internal/childserver"
)

// postgresBinDir returns the newest /usr/lib/postgresql/<v>/bin holding
// initdb, installing the postgresql package if there is none.
func postgresBinDir() (string, error) {
	if dir := findPostgres(); dir != "" {
		return dir, nil
	}
	if err := aptInstall("postgresql"); err != nil {
		return "", err
	}
	if dir := findPostgres(); dir != "" {
		return dir, nil
	}
	return "", errors.New("postgresql is installed but no /usr/lib/postgresql/*/bin/initdb was found")
}

func findPostgres() string {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	sort.Slice(dirs, func(i, j int) bool { return pgVersion(dirs[i]) > pgVersion(dirs[j]) })
	if len(dirs) == 0 {
		return ""
	}
	return filepath.Dir(dirs[0])
}

// pgVersion reads the major version out of /usr/lib/postgresql/<v>/bin/initdb.
func pgVersion(initdb string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(initdb))))
	return v
}

// redisServer returns the redis-server binary, installing redis-server if
// it is missing.
func redisServer() (string, error) {
	if p, err := exec.LookPath("redis-server"); err == nil {
		return p, nil
	}
	if err := aptInstall("redis-server"); err != nil {
		return "", err
	}
	return exec.LookPath("redis-server")
}

// aptInstall installs a Debian/Ubuntu package, refreshing the package lists
// once if the first attempt fails. Nothing is downloaded any other way.
func aptInstall(pkg string) error {
	if _, err := exec.LookPath("apt-get"); err != nil {
		return fmt.Errorf("%s is missing and there is no apt-get to install it; install it with your package manager", pkg)
	}
	if os.Geteuid() != 0 {
		return fmt.Errorf("%s is missing; run as root (or `sudo apt-get install %s`) so it can be installed", pkg, pkg)
	}
	say("installing %s from the OS packages", pkg)
	install := func() error {
		cmd := exec.Command("apt-get", "install", "-y", "--no-install-recommends", pkg)
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		return cmd.Run()
	}
	if err := install(); err == nil {
		return nil
	}
	say("apt-get install failed; refreshing the package lists and retrying")
	update := exec.Command("apt-get", "update")
	update.Stdout, update.Stderr = os.Stderr, os.Stderr
	if err := update.Run(); err != nil {
		return fmt.Errorf("apt-get update: %w", err)
	}
	if err := install(); err != nil {
		return fmt.Errorf("apt-get install %s: %w", pkg, err)
	}
	return nil
}

// tail is the last n lines of a file, for error messages.
func tail(path string, n int) string { return childserver.Tail(path, n) }
