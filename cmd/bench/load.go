package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// target is one thing the load generator hammers. URL is called for every
// request with the connection's index and its request count, so a target
// can vary the path (random post ids, say). A target with Body POSTs what
// it returns as JSON; Auth, when set, gives each connection its API key.
type target struct {
	Name   string
	URL    func(conn, n int) string
	Header http.Header
	Body   func(conn, n int) []byte
	Auth   func(conn int) string
}

// result is one target's figures.
type result struct {
	Name     string  `json:"name"`
	Requests int     `json:"requests"`
	Errors   int     `json:"errors"`
	RPS      float64 `json:"rps"`
	P50ms    float64 `json:"p50_ms"`
	P99ms    float64 `json:"p99_ms"`
	// CacheHits counts the responses served from the server's memory
	// (X-Cache: hit) among the CacheAnswers that said either way.
	CacheHits    int `json:"cache_hits,omitempty"`
	CacheAnswers int `json:"cache_answers,omitempty"`
	// FirstError says what went wrong first, when anything did.
	FirstError string `json:"first_error,omitempty"`
	// Ratios to the ceilings measured in the same run (0 when not asked).
	VsHTTP float64 `json:"vs_http_ceiling,omitempty"`
	VsDB   float64 `json:"vs_db_ceiling,omitempty"`
	// VsWrite is the ratio to pgbench's TPS, for writes.
	VsWrite float64 `json:"vs_write_ceiling,omitempty"`
	// CeilingBefore is the target's own ceiling (database for pages
	// compared with it, else HTTP) measured again just before it, and
	// VsCeilingBefore the ratio to it; zero for writes.
	CeilingBefore   float64 `json:"ceiling_before_rps,omitempty"`
	VsCeilingBefore float64 `json:"vs_ceiling_before,omitempty"`
	// loadAccount is where the machine's cores and PostgreSQL's time went
	// while the figure was measured.
	loadAccount
	// Meanwhile says what other traffic ran during the load, if any.
	Meanwhile string `json:"meanwhile,omitempty"`
}

// loader is a bounded closed-loop generator: conns goroutines, each with
// one request in flight, for a fixed duration.
type loader struct {
	conns    int
	duration time.Duration
	client   *http.Client
}

func newLoader(conns int, duration time.Duration) *loader {
	tr := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        conns * 2,
		MaxIdleConnsPerHost: conns,
		MaxConnsPerHost:     conns,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
	return &loader{conns: conns, duration: duration, client: &http.Client{Transport: tr, Timeout: 10 * time.Second}}
}

// close drops the idle connections, so the next target starts fresh.
func (l *loader) close() { l.client.CloseIdleConnections() }

// run hammers t and returns its figures. A response is an error unless its
// status is 2xx and its body was read to the end.
func (l *loader) run(ctx context.Context, t target) result {
	return l.runFor(ctx, t, l.duration)
}

// runFor is run for a duration d other than the loader's.
func (l *loader) runFor(ctx context.Context, t target, d time.Duration) result {
	// No request starts after the deadline; those in flight then may finish
	// (within the client's timeout), so a slow target's figures count its
	// slow requests instead of dropping them.
	issue, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var (
		mu       sync.Mutex
		all      []time.Duration
		errs     atomic.Int64
		firstErr atomic.Value
		hits     atomic.Int64
		answers  atomic.Int64
	)
	start := time.Now()
	var wg sync.WaitGroup
	for c := 0; c < l.conns; c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			lat := make([]time.Duration, 0, 4096)
			for n := 0; issue.Err() == nil; n++ {
				method, body := http.MethodGet, io.Reader(nil)
				if t.Body != nil {
					method, body = http.MethodPost, bytes.NewReader(t.Body(c, n))
				}
				req, err := http.NewRequestWithContext(ctx, method, t.URL(c, n), body)
				if err != nil {
					errs.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
					return
				}
				for k, v := range t.Header {
					req.Header[k] = v
				}
				if t.Body != nil {
					req.Header.Set("Content-Type", "application/json")
				}
				if t.Auth != nil {
					req.Header.Set("Authorization", "Bearer "+t.Auth(c))
				}
				t0 := time.Now()
				resp, err := l.client.Do(req)
				if err == nil {
					switch resp.Header.Get("X-Cache") {
					case "hit":
						hits.Add(1)
						answers.Add(1)
					case "miss":
						answers.Add(1)
					}
					_, err = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if err == nil && (resp.StatusCode < 200 || resp.StatusCode > 299) {
						err = &statusError{resp.StatusCode, req.URL.String()}
					}
				}
				if ctx.Err() != nil {
					break // interrupted: not a server error
				}
				if err != nil {
					errs.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
					continue
				}
				lat = append(lat, time.Since(t0))
			}
			mu.Lock()
			all = append(all, lat...)
			mu.Unlock()
		}(c)
	}
	wg.Wait()
	elapsed := time.Since(start)
	slices.Sort(all)
	r := result{Name: t.Name, Requests: len(all), Errors: int(errs.Load()),
		RPS: float64(len(all)) / elapsed.Seconds(), P50ms: ms(percentile(all, 0.50)), P99ms: ms(percentile(all, 0.99)),
		CacheHits: int(hits.Load()), CacheAnswers: int(answers.Load())}
	if e, ok := firstErr.Load().(string); ok {
		r.FirstError = e
	}
	return r
}

type statusError struct {
	status int
	url    string
}

func (e *statusError) Error() string { return http.StatusText(e.status) + " from " + e.url }

// percentile of sorted latencies (nearest rank).
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted))*p+0.5) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
