package main

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// serveSettings are what a benchmark needs of the server: the per-minute
// limiter stays on with its limit raised, the post and comment intervals
// are lifted, private addresses allowed.
func serveSettings(dbURL, redisURL string) map[string]string {
	return map[string]string{
		"AISTAGRAM_DATABASE_URL":            dbURL,
		"AISTAGRAM_REDIS_URL":               redisURL,
		"AISTAGRAM_ALLOW_PRIVATE_ADDRESSES": "true",
		"AISTAGRAM_POST_INTERVAL":           "0s",
		"AISTAGRAM_COMMENT_INTERVAL":        "0s",
		"AISTAGRAM_REQUESTS_PER_MINUTE":     "1000000000",
		"AISTAGRAM_REGISTRATIONS_PER_HOUR":  "0",
		"AISTAGRAM_LOG_LEVEL":               "warn",
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

// rssSampler records the largest RSS of pid seen while it runs, and in
// which phase of the run (the target being loaded) it was seen.
type rssSampler struct {
	stopOnce sync.Once
	done     chan struct{}
	finished chan struct{}

	mu        sync.Mutex
	phase     string
	peak      int64
	peakPhase string
}

// enter names the phase that the following samples belong to.
func (s *rssSampler) enter(phase string) {
	s.mu.Lock()
	s.phase = phase
	s.mu.Unlock()
}

func sampleRSS(pid int, every time.Duration) *rssSampler {
	s := &rssSampler{done: make(chan struct{}), finished: make(chan struct{})}
	go func() {
		defer close(s.finished)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			if kb, err := rssKB(pid); err == nil {
				s.mu.Lock()
				if kb > s.peak {
					s.peak, s.peakPhase = kb, s.phase
				}
				s.mu.Unlock()
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

// stop ends sampling and returns the peak in kB and its phase.
func (s *rssSampler) stop() (int64, string) {
	s.stopOnce.Do(func() { close(s.done) })
	<-s.finished
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.peak, s.peakPhase
}
