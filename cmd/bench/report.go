package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// report is one run's figures, written as JSON and as a Markdown table.
type report struct {
	Started   time.Time `json:"started"`
	Scale     float64   `json:"scale"`
	Conns     int       `json:"conns"`
	DurationS float64   `json:"duration_s"`
	// WarmupS is the unmeasured load before each read target.
	WarmupS float64 `json:"warmup_s"`
	CPUs    int     `json:"cpus"`

	Dataset     *dataset `json:"dataset"`
	SeedSeconds float64  `json:"seed_s"`
	// SharedBuffers is the PostgreSQL setting the run had: figures that
	// read at random through the dataset depend on it.
	SharedBuffers        string  `json:"postgres_shared_buffers"`
	RankingAllSeconds    float64 `json:"ranking_all_posts_s"` // cold pass, see recompute
	RankingWindowSeconds float64 `json:"ranking_window_s"`    // steady state, see recompute

	Ceilings struct {
		BodyBytes int    `json:"http_body_bytes"`
		HTTP      result `json:"http"`
		DB        result `json:"db"`
		// HTTPInLoader is the HTTP ceiling's handler served inside the load
		// generator's process, as bench measured it before: shown for
		// comparison, not used (ceilingproc.go says why).
		HTTPInLoader      result  `json:"http_in_load_generator"`
		RSASignsPerSec    float64 `json:"rsa_signs_per_s"`
		RSAVerifiesPerSec float64 `json:"rsa_verifies_per_s"`
		// WriteTPS is pgbench's TPC-B-like transactions per second on the
		// same PostgreSQL (fsync on): the write ceiling.
		WriteTPS float64 `json:"write_tps"`
	} `json:"ceilings"`
	Targets []result `json:"targets"`
	// CountersWrong counts posts whose counters disagree with their vote
	// rows after the write targets (0 when exact).
	CountersWrong int `json:"counters_wrong"`
	// FanOut is the federation fan-out (fanout.go).
	FanOut []fanoutResult `json:"fanout"`
	// Intake is the inbox intake and apply (intake.go).
	Intake *intakeReport `json:"intake,omitempty"`

	RSSIdleKB int64 `json:"serve_rss_idle_kb"`
	RSSPeakKB int64 `json:"serve_rss_peak_kb"`
	// RSSPeakPhase is the target (or federation phase) during which the
	// peak was seen.
	RSSPeakPhase string `json:"serve_rss_peak_phase"`
}

// write saves <out>/<timestamp>.md and .json and prints the Markdown.
func (r *report) write(stdout io.Writer, out string) error {
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	stamp := r.Started.Format("20060102T150405Z")
	js, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(out, stamp+".json"), append(js, '\n'), 0o644); err != nil {
		return err
	}
	md := r.markdown()
	if err := os.WriteFile(filepath.Join(out, stamp+".md"), []byte(md), 0o644); err != nil {
		return err
	}
	_, err = io.WriteString(stdout, md)
	logf("wrote %s.{md,json}", filepath.Join(out, stamp))
	return err
}

func (r *report) markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "# Aistagram bench, %s\n\n", r.Started.Format(time.RFC3339))
	d := r.Dataset
	fmt.Fprintf(&b, "Scale %g: %d agents, %d posts, %d votes, %d comments, seeded in %.1f s. "+
		"Ranking recompute: cold pass over all posts %.2f s; the worker's per-minute run %.2f s "+
		"(steady state: the slowest of %d simulated minutes after it).\n", r.Scale,
		d.Agents, d.Posts, d.Votes, d.Comments, r.SeedSeconds, r.RankingAllSeconds, r.RankingWindowSeconds, steadyMinutes)
	fmt.Fprintf(&b, "Load: %d connections × %g s per target, each read target after %g s of the same load unmeasured (steady state, not a cold start), %d CPUs (load generator included); PostgreSQL shared_buffers %s.\n\n",
		r.Conns, r.DurationS, r.WarmupS, r.CPUs, r.SharedBuffers)
	fmt.Fprintf(&b, "Ceilings: HTTP %.0f req/s (%d-byte body, p99 %.2f ms; %.0f req/s when served inside the load generator's process, which no server can be), "+
		"database %.0f req/s (%d conns, p99 %.2f ms), "+
		"writes %.0f TPS (pgbench TPC-B-like, %d clients, fsync on), RSA-2048 %.0f signs/s, %.0f verifies/s. "+
		"The HTTP and database ceilings are served by a process of their own, as `serve` is.\n\n",
		r.Ceilings.HTTP.RPS, r.Ceilings.BodyBytes, r.Ceilings.HTTP.P99ms, r.Ceilings.HTTPInLoader.RPS, r.Ceilings.DB.RPS, dbCeilingConns,
		r.Ceilings.DB.P99ms, r.Ceilings.WriteTPS, pgbenchClients, r.Ceilings.RSASignsPerSec, r.Ceilings.RSAVerifiesPerSec)
	tableHead(&b, "target", "req/s", "p50 ms", "p99 ms", "errors", "vs HTTP ceiling", "vs DB ceiling", "vs write ceiling",
		"its ceiling just before", "vs that", "from cache")
	pct := func(v float64) string {
		if v <= 0 {
			return "–"
		}
		return fmt.Sprintf("%.1f %%", 100*v)
	}
	row := func(x result) {
		cached := "–"
		if x.CacheAnswers > 0 {
			cached = fmt.Sprintf("%.1f %%", 100*float64(x.CacheHits)/float64(x.CacheAnswers))
		}
		before := "–"
		if x.CeilingBefore > 0 {
			before = fmt.Sprintf("%.0f", x.CeilingBefore)
		}
		fmt.Fprintf(&b, "| %s | %.0f | %.2f | %.2f | %d | %s | %s | %s | %s | %s | %s |\n",
			x.Name, x.RPS, x.P50ms, x.P99ms, x.Errors, pct(x.VsHTTP), pct(x.VsDB), pct(x.VsWrite),
			before, pct(x.VsCeilingBefore), cached)
	}
	for _, x := range r.Targets {
		row(x)
	}
	for _, x := range r.Targets {
		if x.Meanwhile != "" {
			fmt.Fprintf(&b, "\nDuring %s (its warm-up included): %s.\n", x.Name, x.Meanwhile)
		}
	}
	loads := append([]result{r.Ceilings.HTTP, r.Ceilings.DB}, r.Targets...)
	for _, f := range r.FanOut {
		loads = append(loads, result{Name: f.Name, loadAccount: f.loadAccount})
	}
	if r.Intake != nil {
		loads = append(loads, result{Name: "inbox intake", loadAccount: r.Intake.Accepted.loadAccount})
	}
	cpuLines(&b, loads)
	statementLines(&b, loads)
	fanoutLines(&b, r.FanOut)
	intakeLines(&b, r.Intake)
	exact := "exact"
	if r.CountersWrong > 0 {
		exact = fmt.Sprintf("WRONG on %d posts", r.CountersWrong)
	}
	fmt.Fprintf(&b, "\nVote counters after the write targets: %s.\n", exact)
	fmt.Fprintf(&b, "\n`serve` RSS: %.1f MiB idle, %.1f MiB peak under load (during %s).\n",
		float64(r.RSSIdleKB)/1024, float64(r.RSSPeakKB)/1024, r.RSSPeakPhase)
	var errs []string
	for _, x := range append([]result{r.Ceilings.HTTP, r.Ceilings.DB}, r.Targets...) {
		if x.FirstError != "" {
			errs = append(errs, fmt.Sprintf("- %s: %d errors, first: %s", x.Name, x.Errors, x.FirstError))
		}
	}
	if len(errs) > 0 {
		b.WriteString("\nErrors:\n" + strings.Join(errs, "\n") + "\n")
	}
	return b.String()
}

// tableHead starts a Markdown table: its header row and the alignment row
// made from it, so the two always have as many columns. Columns hold
// numbers, right-aligned, except the first and those named with a leading
// "<", which hold text.
func tableHead(b *strings.Builder, cols ...string) {
	var names, aligns strings.Builder
	for i, c := range cols {
		name, text := strings.CutPrefix(c, "<")
		names.WriteString("| " + name + " ")
		if text || i == 0 {
			aligns.WriteString("| --- ")
		} else {
			aligns.WriteString("| ---: ")
		}
	}
	b.WriteString(names.String() + "|\n" + aligns.String() + "|\n")
}

// cpuLines is the table of where the cores went during each load: what
// limited a figure starts there (a server short of CPU, PostgreSQL busy,
// the machine busy with something else).
func cpuLines(b *strings.Builder, rs []result) {
	rows := slices.DeleteFunc(slices.Clone(rs), func(x result) bool { return x.CPU == nil })
	if len(rows) == 0 {
		return
	}
	b.WriteString("\nCores used during each load (from /proc; the server is `serve`, or the ceiling's own process):\n\n")
	tableHead(b, "load", "server", "PostgreSQL", "<of which not the load's queries", "Redis", "load generator", "other", "idle")
	for _, x := range rows {
		c := x.CPU
		fmt.Fprintf(b, "| %s | %.2f | %.2f | %s | %.2f | %.2f | %.2f | %.2f |\n",
			x.Name, c.Server, c.Postgres, c.Background(), c.Redis, c.Loader, c.Other, c.Idle)
	}
}
