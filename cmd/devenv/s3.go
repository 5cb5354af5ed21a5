package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// versitygwVersion is the S3 gateway the media tests run against. It is
// built from source with `go install`, so the only network it needs is the
// Go module proxy, and the binary lives under .data/tools/versitygw-<v>/ so
// that changing the version here installs the new one.
const versitygwVersion = "v1.8.0"

// The test gateway's fixed credentials: it listens on loopback only and its
// data is thrown away, so they protect nothing.
const (
	s3TestAccessKey = "aistagram-test"
	s3TestSecretKey = "aistagram-test-secret"
	s3TestRegion    = "us-east-1"
)

// versitygwBinary returns the versitygw binary, building it on first use
// (about two minutes on a fresh machine).
func versitygwBinary(ctx context.Context) (string, error) {
	dir, err := filepath.Abs(filepath.Join(".data", "tools", "versitygw-"+versitygwVersion))
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "versitygw")
	if fi, err := os.Stat(bin); err == nil && fi.Mode().IsRegular() {
		return bin, nil
	}
	say("installing versitygw %s (an S3 server for the media tests) into %s; this happens once and takes a few minutes", versitygwVersion, dir)
	cmd := exec.CommandContext(ctx, "go", "install", "github.com/versity/versitygw/cmd/versitygw@"+versitygwVersion)
	cmd.Env = append(os.Environ(), "GOBIN="+dir)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go install versitygw@%s (needs the Go module proxy or a module cache holding it): %w", versitygwVersion, err)
	}
	return bin, nil
}

// versitygw is a private S3 gateway on its posix backend, a child process
// of devenv, serving the buckets under its area.
type versitygw struct {
	bin    string
	root   string // buckets are its directories
	meta   string // object metadata (content type, cache control)
	log    string
	port   int
	cmd    *exec.Cmd
	exited chan struct{}
}

func newVersitygw(bin, area string, port int) *versitygw {
	// Siblings with unrelated names: versitygw takes a sidecar whose path
	// merely starts with the root's ("s3" and "s3meta") as inside it.
	return &versitygw{bin: bin, root: filepath.Join(area, "s3", "buckets"), meta: filepath.Join(area, "s3", "meta"),
		log: filepath.Join(area, "versitygw.log"), port: port}
}

// start launches the gateway and waits until it answers. Metadata goes to
// a sidecar directory rather than extended attributes, which the test
// area's filesystem may lack (tmpfs has user xattrs only since Linux 6.6).
func (v *versitygw) start(ctx context.Context) error {
	for _, d := range []string{v.root, v.meta} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return err
		}
	}
	logf, err := os.OpenFile(v.log, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	defer logf.Close() // the child has its own copy
	say("starting versitygw (S3) on 127.0.0.1:%d", v.port)
	v.cmd = exec.Command(v.bin,
		"--access", s3TestAccessKey, "--secret", s3TestSecretKey, "--region", s3TestRegion,
		"--port", "127.0.0.1:"+strconv.Itoa(v.port), "--quiet",
		"posix", "--sidecar", v.meta, v.root)
	v.cmd.Stdout, v.cmd.Stderr = logf, logf
	// As for Redis: its own process group, and never outliving devenv.
	v.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	if err := v.cmd.Start(); err != nil {
		return fmt.Errorf("start versitygw: %w", err)
	}
	v.exited = make(chan struct{})
	go func() { _ = v.cmd.Wait(); close(v.exited) }()

	deadline := time.Now().Add(30 * time.Second)
	for !v.answers() {
		select {
		case <-v.exited:
			return fmt.Errorf("versitygw exited on start; see %s:\n%s", v.log, tail(v.log, 15))
		case <-ctx.Done():
			v.stop()
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			v.stop()
			return fmt.Errorf("versitygw did not answer on 127.0.0.1:%d within 30s; see %s:\n%s", v.port, v.log, tail(v.log, 15))
		}
	}
	return nil
}

// answers reports whether our gateway serves S3 on the port: an anonymous
// request is refused, but the refusal names the server, which tells it
// apart from anything else that took the port.
func (v *versitygw) answers() bool {
	c := http.Client{Timeout: time.Second}
	resp, err := c.Get(v.endpoint() + "/")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.Header.Get("Server") == "VERSITYGW"
}

func (v *versitygw) stop() {
	if v.cmd == nil || v.cmd.Process == nil {
		return
	}
	_ = v.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-v.exited:
	case <-time.After(10 * time.Second):
		_ = v.cmd.Process.Kill()
		<-v.exited
	}
	v.cmd = nil
}

func (v *versitygw) endpoint() string {
	return "http://127.0.0.1:" + strconv.Itoa(v.port)
}

// testEnv is what the media tests read to reach the gateway.
func (v *versitygw) testEnv() []string {
	return []string{
		"AISTAGRAM_TEST_S3_ENDPOINT=" + v.endpoint(),
		"AISTAGRAM_TEST_S3_ACCESS_KEY_ID=" + s3TestAccessKey,
		"AISTAGRAM_TEST_S3_SECRET_ACCESS_KEY=" + s3TestSecretKey,
		"AISTAGRAM_TEST_S3_REGION=" + s3TestRegion,
	}
}
