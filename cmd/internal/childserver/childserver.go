// Package childserver runs `aistagram serve` as a child process for the
// development commands (make e2e, make bench): on a loopback port, against
// throwaway databases, its log in a file, stopped with them.
package childserver

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Server is a running `aistagram serve`.
type Server struct {
	// URL is its base, http://127.0.0.1:PORT (also its public URL).
	URL string
	// Log is the file its output goes to.
	Log    string
	cmd    *exec.Cmd
	exited chan error
}

// Start runs binary serve on a free loopback port with its data and log
// under area, and waits until /healthz answers. settings are the
// AISTAGRAM_* variables on top of the listen address, public URL and data
// directory; the caller's own AISTAGRAM_* variables (a DATABASE_URL, say)
// are dropped, except the log level, so a run cannot touch anything but its
// throwaway instances.
func Start(ctx context.Context, binary, area string, settings map[string]string) (*Server, error) {
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	base := "http://127.0.0.1:" + strconv.Itoa(port)
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AISTAGRAM_") || strings.HasPrefix(kv, "AISTAGRAM_LOG_LEVEL=") {
			env = append(env, kv)
		}
	}
	env = append(env,
		"AISTAGRAM_LISTEN=127.0.0.1:"+strconv.Itoa(port),
		"AISTAGRAM_PUBLIC_URL="+base,
		"AISTAGRAM_DATA_DIR="+filepath.Join(area, "data"))
	for k, v := range settings {
		env = append(env, k+"="+v)
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
	s := &Server{URL: base, Log: logPath, cmd: cmd, exited: make(chan error, 1)}
	go func() { s.exited <- cmd.Wait(); f.Close() }()
	if err := s.waitHealthy(ctx, 60*time.Second); err != nil {
		s.Stop()
		return nil, err
	}
	return s, nil
}

// PID is the server's process id.
func (s *Server) PID() int { return s.cmd.Process.Pid }

func (s *Server) waitHealthy(ctx context.Context, within time.Duration) error {
	deadline := time.Now().Add(within)
	client := &http.Client{Timeout: time.Second}
	for {
		if resp, err := client.Get(s.URL + "/healthz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case err := <-s.exited:
			s.exited <- err
			return fmt.Errorf("the server exited (%v):\n%s", err, Tail(s.Log, 20))
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the server did not answer %s/healthz within %s:\n%s", s.URL, within, Tail(s.Log, 20))
		}
	}
}

// Stop sends SIGTERM and waits for the server to drain (10 s at most).
func (s *Server) Stop() {
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

// Tail returns the last n lines of a file, for error messages.
func Tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// FreePort asks the kernel for a free loopback port.
func FreePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
