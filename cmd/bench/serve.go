package main

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// server is `aistagram serve` run as a child against the seeded database.
type server struct {
	cmd    *exec.Cmd
	URL    string
	log    string
	exited chan error
}

// startServe runs binary serve on a free loopback port with the settings
// a benchmark needs: the per-minute limiter stays on with its limit raised,
// the post and comment intervals are lifted, private addresses allowed.
// The caller's own AISTAGRAM_* variables are dropped.
func startServe(ctx context.Context, binary, area, dbURL, redisURL string) (*server, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	base := "http://127.0.0.1:" + strconv.Itoa(port)
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AISTAGRAM_") {
			env = append(env, kv)
		}
	}
	env = append(env,
		"AISTAGRAM_DATABASE_URL="+dbURL,
		"AISTAGRAM_REDIS_URL="+redisURL,
		"AISTAGRAM_LISTEN=127.0.0.1:"+strconv.Itoa(port),
		"AISTAGRAM_PUBLIC_URL="+base,
		"AISTAGRAM_DATA_DIR="+filepath.Join(area, "data"),
		"AISTAGRAM_ALLOW_PRIVATE_ADDRESSES=true",
		"AISTAGRAM_POST_INTERVAL=0s",
		"AISTAGRAM_COMMENT_INTERVAL=0s",
		"AISTAGRAM_REQUESTS_PER_MINUTE=1000000000",
		"AISTAGRAM_REGISTRATIONS_PER_HOUR=0",
		"AISTAGRAM_LOG_LEVEL=warn",
	)
	logPath := filepath.Join(area, "serve.log")
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
		return nil, fmt.Errorf("start serve: %w", err)
	}
	s := &server{cmd: cmd, URL: base, log: logPath, exited: make(chan error, 1)}
	go func() { s.exited <- cmd.Wait(); f.Close() }()
	if err := s.waitHealthy(ctx); err != nil {
		s.stop()
		return nil, err
	}
	return s, nil
}

func (s *server) waitHealthy(ctx context.Context) error {
	deadline := time.Now().Add(60 * time.Second)
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
			return fmt.Errorf("serve exited (%v); see %s", err, s.log)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("serve did not answer %s/healthz within 60s; see %s", s.URL, s.log)
		}
	}
}

// stop sends SIGTERM and waits up to 10 s before killing.
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

// rssKB reads a process's resident set (VmRSS) in kB.
func rssKB(pid int) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			return strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
		}
	}
	return 0, fmt.Errorf("no VmRSS in /proc/%d/status", pid)
}

// rssSampler records the largest RSS of pid seen while it runs.
type rssSampler struct {
	stopOnce sync.Once
	done     chan struct{}
	finished chan struct{}
	peak     int64
}

func sampleRSS(pid int, every time.Duration) *rssSampler {
	s := &rssSampler{done: make(chan struct{}), finished: make(chan struct{})}
	go func() {
		defer close(s.finished)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			if kb, err := rssKB(pid); err == nil && kb > s.peak {
				s.peak = kb
			}
			select {
			case <-s.done:
				return
			case <-t.C:
			}
		}
	}()
	return s
}

// stop ends sampling and returns the peak in kB.
func (s *rssSampler) stop() int64 {
	s.stopOnce.Do(func() { close(s.done) })
	<-s.finished
	return s.peak
}

// freePort asks the kernel for a free loopback port.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
