package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// postgres is a private PostgreSQL instance: its own data directory, bound
// to 127.0.0.1 only, with its socket inside the data area.
type postgres struct {
	bin     string // /usr/lib/postgresql/<v>/bin
	dir     string // data directory
	sockDir string
	log     string
	port    int
	extra   []string // extra -c settings
	asUser  string   // "postgres" when we are root: PostgreSQL refuses to run as root
}

func newPostgres(bin, area string, port int, extra ...string) *postgres {
	p := &postgres{bin: bin, dir: filepath.Join(area, "postgres"), sockDir: filepath.Join(area, "run"),
		log: filepath.Join(area, "postgres.log"), port: port, extra: extra}
	if os.Geteuid() == 0 {
		p.asUser = "postgres"
	}
	return p
}

// command runs a PostgreSQL binary, as the postgres user when we are root.
func (p *postgres) command(ctx context.Context, name string, args ...string) *exec.Cmd {
	path := filepath.Join(p.bin, name)
	if p.asUser != "" {
		return exec.CommandContext(ctx, "runuser", append([]string{"-u", p.asUser, "--", path}, args...)...)
	}
	return exec.CommandContext(ctx, path, args...)
}

// prepare creates the directories (owned by the postgres user when we are
// root) and runs initdb on an empty data directory.
func (p *postgres) prepare(ctx context.Context) error {
	if p.asUser != "" {
		if err := ensureUser(p.asUser); err != nil {
			return err
		}
	}
	for _, d := range []string{p.dir, p.sockDir} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return err
		}
		if err := p.chown(d); err != nil {
			return err
		}
	}
	if f, err := os.OpenFile(p.log, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600); err == nil {
		f.Close()
		_ = p.chown(p.log)
	}
	if _, err := os.Stat(filepath.Join(p.dir, "PG_VERSION")); err == nil {
		return nil // initialised by an earlier run
	}
	say("initialising PostgreSQL in %s", p.dir)
	cmd := p.command(ctx, "initdb", "-D", p.dir, "-U", "postgres", "--auth=trust", "--encoding=UTF8", "--locale=C.UTF-8")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("initdb: %w\n%s", err, out)
	}
	return nil
}

func (p *postgres) chown(path string) error {
	if p.asUser == "" {
		return nil
	}
	u, err := user.Lookup(p.asUser)
	if err != nil {
		return err
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return os.Chown(path, uid, gid)
}

// ensureUser creates the postgres system user if the package did not.
func ensureUser(name string) error {
	if _, err := user.Lookup(name); err == nil {
		return nil
	}
	if out, err := exec.Command("useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name).CombinedOutput(); err != nil {
		return fmt.Errorf("useradd %s: %w: %s", name, err, out)
	}
	return nil
}

// start launches the server with pg_ctl (which waits until it accepts
// connections). A server left running by an earlier, killed run of the
// same data directory is stopped first, so the settings are ours.
func (p *postgres) start(ctx context.Context) error {
	if p.running(ctx) {
		say("stopping a PostgreSQL left running in %s", p.dir)
		_ = p.stop()
	}
	opts := []string{"-p", strconv.Itoa(p.port), "-k", p.sockDir, "-c", "listen_addresses=127.0.0.1"}
	for _, e := range p.extra {
		if lib, ok := strings.CutPrefix(e, "shared_preload_libraries="); ok && !p.hasLibrary(lib) {
			// An optional extension (the bench's statement statistics)
			// missing from this installation: start without it.
			say("PostgreSQL has no %s library here; starting without it", lib)
			continue
		}
		opts = append(opts, "-c", e)
	}
	say("starting PostgreSQL on 127.0.0.1:%d", p.port)
	cmd := p.command(ctx, "pg_ctl", "-D", p.dir, "-l", p.log, "-w", "-t", "60", "-o", strings.Join(opts, " "), "start")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("PostgreSQL did not start on 127.0.0.1:%d: %w\n%s\n--- %s\n%s", p.port, err, out, p.log, tail(p.log, 15))
	}
	return p.waitReady(ctx)
}

// hasLibrary reports whether the installation's package library directory
// (bin's sibling lib, as Debian and the PGDG packages lay it out) holds
// the shared library lib.
func (p *postgres) hasLibrary(lib string) bool {
	_, err := os.Stat(filepath.Join(filepath.Dir(p.bin), "lib", lib+".so"))
	return err == nil
}

func (p *postgres) running(ctx context.Context) bool {
	return p.command(ctx, "pg_ctl", "-D", p.dir, "status").Run() == nil
}

func (p *postgres) waitReady(ctx context.Context) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		cmd := exec.CommandContext(ctx, filepath.Join(p.bin, "pg_isready"), "-h", "127.0.0.1", "-p", strconv.Itoa(p.port), "-q")
		if cmd.Run() == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("PostgreSQL did not become ready on 127.0.0.1:%d within 30s; see %s", p.port, p.log)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// stop shuts the server down quickly (fast mode: no waiting for clients).
func (p *postgres) stop() error {
	cmd := p.command(context.Background(), "pg_ctl", "-D", p.dir, "-m", "fast", "-w", "stop")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("stop PostgreSQL: %w: %s", err, out)
	}
	return nil
}

// ensureDatabase creates role and database if missing.
func (p *postgres) ensureDatabase(ctx context.Context, role, database string, createdb bool) error {
	attrs := "LOGIN"
	if createdb {
		attrs += " CREATEDB"
	}
	sql := fmt.Sprintf(`DO $$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '%[1]s') THEN CREATE ROLE %[1]s %[2]s; END IF;
END $$;`, role, attrs)
	if err := p.psql(ctx, "postgres", sql); err != nil {
		return err
	}
	exists, err := p.query(ctx, fmt.Sprintf(`SELECT 1 FROM pg_database WHERE datname = '%s'`, database))
	if err != nil {
		return err
	}
	if exists == "1" {
		return nil
	}
	return p.psql(ctx, "postgres", fmt.Sprintf(`CREATE DATABASE %s OWNER %s`, database, role))
}

func (p *postgres) psql(ctx context.Context, db, sql string) error {
	cmd := exec.CommandContext(ctx, filepath.Join(p.bin, "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1",
		"-h", "127.0.0.1", "-p", strconv.Itoa(p.port), "-U", "postgres", "-d", db, "-c", sql)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("psql: %w: %s", err, out)
	}
	return nil
}

func (p *postgres) query(ctx context.Context, sql string) (string, error) {
	cmd := exec.CommandContext(ctx, filepath.Join(p.bin, "psql"), "-X", "-A", "-t",
		"-h", "127.0.0.1", "-p", strconv.Itoa(p.port), "-U", "postgres", "-d", "postgres", "-c", sql)
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return "", fmt.Errorf("psql: %w: %s", err, ee.Stderr)
		}
		return "", fmt.Errorf("psql: %w", err)
	}
	return strings.TrimSpace(string(out)), nil
}

// url is the connection URL for a role and database.
func (p *postgres) url(role, database string) string {
	return fmt.Sprintf("postgres://%s@127.0.0.1:%d/%s?sslmode=disable", role, p.port, database)
}
