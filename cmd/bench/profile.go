package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/aistagram/aistagram/cmd/internal/childserver"
)

// profiler fetches CPU profiles from serve's debug listener while a target
// is loaded, so a figure that misses its target comes with what limited it,
// and a heap profile at the end of each load, for what held the memory.
type profiler struct {
	addr    string
	dir     string
	seconds int
}

func newProfiler(dir string, d time.Duration) (*profiler, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	port, err := childserver.FreePort()
	if err != nil {
		return nil, err
	}
	// The profile covers the load's whole seconds; pprof takes whole seconds.
	return &profiler{addr: fmt.Sprintf("127.0.0.1:%d", port), dir: dir, seconds: max(1, int(d/time.Second))}, nil
}

// capture starts a CPU profile named after the target and returns a
// function that waits for it to be written, then writes the heap profile
// (NAME.heap.pprof). A nil profiler does nothing.
func (p *profiler) capture(ctx context.Context, name string) (wait func()) {
	if p == nil {
		return func() {}
	}
	base := filepath.Join(p.dir, strings.NewReplacer(" ", "-", ",", "", "/", "_").Replace(name))
	done := make(chan struct{})
	go func() {
		defer close(done)
		cpu := fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", p.addr, p.seconds)
		if err := p.fetch(ctx, cpu, base+".pprof"); err != nil {
			logf("profile of %s: %v", name, err)
		}
		if err := p.fetch(ctx, "http://"+p.addr+"/debug/pprof/heap", base+".heap.pprof"); err != nil {
			logf("heap profile of %s: %v", name, err)
		}
	}()
	return func() { <-done }
}

func (p *profiler) fetch(ctx context.Context, u, file string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", u, resp.Status)
	}
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	if _, err := f.ReadFrom(resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
