package main

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/aistagram/aistagram/cmd/internal/childserver"
)

// redisInstance is a private redis-server, a child process of devenv.
type redisInstance struct {
	bin  string
	dir  string
	log  string
	port int
	args []string
	cmd  *exec.Cmd
}

func newRedis(bin, area string, port int, args ...string) *redisInstance {
	return &redisInstance{bin: bin, dir: filepath.Join(area, "redis"), log: filepath.Join(area, "redis.log"), port: port, args: args}
}

func (r *redisInstance) start(ctx context.Context) error {
	if err := os.MkdirAll(r.dir, 0o700); err != nil {
		return err
	}
	args := append([]string{
		"--bind", "127.0.0.1", "--port", strconv.Itoa(r.port), "--protected-mode", "yes",
		"--dir", r.dir, "--logfile", r.log, "--daemonize", "no", "--databases", "256",
	}, r.args...)
	say("starting Redis on 127.0.0.1:%d", r.port)
	r.cmd = exec.Command(r.bin, args...)
	// Its own process group, so Ctrl-C reaches devenv only and devenv stops
	// things in order; Pdeathsig so it never outlives a killed devenv.
	r.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	if err := r.cmd.Start(); err != nil {
		return fmt.Errorf("start redis-server: %w", err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for !redisPing(r.port) {
		if time.Now().After(deadline) || r.cmd.ProcessState != nil {
			r.stop()
			return fmt.Errorf("Redis did not become ready on 127.0.0.1:%d within 20s; see %s:\n%s", r.port, r.log, tail(r.log, 15))
		}
		select {
		case <-ctx.Done():
			r.stop()
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return nil
}

// redisPing sends PING over raw TCP and expects +PONG.
func redisPing(port int) bool {
	c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(port), 500*time.Millisecond)
	if err != nil {
		return false
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return false
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	return err == nil && line == "+PONG\r\n"
}

func (r *redisInstance) stop() {
	if r.cmd == nil || r.cmd.Process == nil {
		return
	}
	_ = r.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = r.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = r.cmd.Process.Kill()
		<-done
	}
	r.cmd = nil
}

func (r *redisInstance) url(db int) string {
	return fmt.Sprintf("redis://127.0.0.1:%d/%d", r.port, db)
}

// freePort asks the kernel for an unused loopback port.
func freePort() (int, error) { return childserver.FreePort() }
