package main

import (
	"bufio"
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// clockTicks is the unit of /proc's CPU times: USER_HZ, which Linux fixes
// at 100 for every architecture it exports /proc to.
const clockTicks = 100

// cpuMeter reads, from /proc, how much CPU the processes a figure depends on
// used while it was measured: the server under load, PostgreSQL (the
// postmaster and every backend, living or gone), Redis, and this process
// (the load generator). What is left of the machine's busy time is other
// work. It answers "what was the machine doing" for every target, the first
// question when a figure misses.
type cpuMeter struct {
	server, postmaster, redis int // pids; 0 when not known
	self                      int
	// stmts, when PostgreSQL keeps statement statistics, says what its
	// share of the cores was spent on.
	stmts *statementStats
}

// loadAccount is where a load's time went: the cores by process, and
// PostgreSQL's busiest statements. Every figure with a load embeds it.
type loadAccount struct {
	CPU        *cpuShare        `json:"cpu,omitempty"`
	Statements []statementShare `json:"statements,omitempty"`
}

// cpuReading is the CPU seconds each had used at one instant.
type cpuReading struct {
	at                       time.Time
	server, redis, self      float64
	machineBusy, machineIdle float64
	// pg is PostgreSQL's time by process, and pgReaped the postmaster's own
	// with that of its children gone before the reading.
	pg       map[int]pgProcess
	pgReaped float64
}

// pgProcess is one PostgreSQL process: its kind, from its title, and its
// CPU seconds.
type pgProcess struct {
	kind string
	secs float64
}

// cpuShare is how many cores each used on average between two readings.
type cpuShare struct {
	Server   float64 `json:"server"`
	Postgres float64 `json:"postgres"`
	Redis    float64 `json:"redis"`
	Loader   float64 `json:"load_generator"`
	Other    float64 `json:"other"`
	Idle     float64 `json:"idle"`
	// PostgresByKind splits Postgres by process kind: "client backends"
	// (the queries of the load), the background processes by their title
	// (checkpointer, autovacuum worker, walwriter...), and "ended processes" for
	// processes that ended during the load.
	PostgresByKind map[string]float64 `json:"postgres_by_kind,omitempty"`
}

// clientBackends is the kind of PostgreSQL processes serving connections.
const clientBackends = "client backends"

// Background is PostgreSQL's busiest work other than the load's queries, as
// "checkpointer 0.31, autovacuum worker 0.12": what it spent its CPU on
// while no query asked for it.
func (s *cpuShare) Background() string {
	type kv struct {
		k string
		v float64
	}
	var kinds []kv
	for k, v := range s.PostgresByKind {
		if k != clientBackends && v >= 0.01 {
			kinds = append(kinds, kv{k, v})
		}
	}
	slices.SortFunc(kinds, func(a, b kv) int { return cmp.Compare(b.v, a.v) })
	var parts []string
	for _, x := range kinds[:min(len(kinds), 3)] {
		parts = append(parts, fmt.Sprintf("%s %.2f", x.k, x.v))
	}
	if len(parts) == 0 {
		return "–"
	}
	return strings.Join(parts, ", ")
}

// newCPUMeter finds PostgreSQL's postmaster (the parent of a backend of
// db) and Redis's pid (INFO server) for the server at serverPID. A part it
// cannot find is left out of the readings rather than failing the run.
func newCPUMeter(ctx context.Context, db *sql.DB, redisURL string, serverPID int) *cpuMeter {
	m := &cpuMeter{server: serverPID, self: os.Getpid(), stmts: newStatementStats(ctx, db)}
	var backend int
	if err := db.QueryRowContext(ctx, `SELECT pg_backend_pid()`).Scan(&backend); err == nil {
		if st, err := readStat(backend); err == nil {
			m.postmaster = st.ppid
		}
	}
	if m.postmaster == 0 {
		logf("CPU meter: PostgreSQL's postmaster not found; its CPU counts as other")
	}
	if opts, err := redis.ParseURL(redisURL); err == nil {
		rdb := redis.NewClient(opts)
		if info, err := rdb.Info(ctx, "server").Result(); err == nil {
			for _, line := range strings.Split(info, "\n") {
				if v, ok := strings.CutPrefix(strings.TrimSpace(line), "process_id:"); ok {
					m.redis, _ = strconv.Atoi(v)
				}
			}
		}
		_ = rdb.Close()
	}
	if m.redis == 0 {
		logf("CPU meter: Redis's pid not found; its CPU counts as other")
	}
	return m
}

// withServer is the meter for another server process (a ceiling's).
func (m *cpuMeter) withServer(pid int) *cpuMeter {
	c := *m
	c.server = pid
	return &c
}

// start takes a reading now and returns a function that accounts for the
// time since. A nil meter measures nothing (tests load without one).
func (m *cpuMeter) start(ctx context.Context) (stop func() loadAccount) {
	if m == nil {
		return func() loadAccount { return loadAccount{} }
	}
	statements := m.stmts.start(ctx)
	a := m.read()
	return func() loadAccount {
		cpu := m.share(a, m.read())
		return loadAccount{CPU: cpu, Statements: statements()}
	}
}

// read takes a reading. A process that cannot be read counts zero.
func (m *cpuMeter) read() cpuReading {
	r := cpuReading{at: time.Now()}
	r.server = processSeconds(m.server, false)
	r.self = processSeconds(m.self, false)
	r.redis = processSeconds(m.redis, false)
	if m.postmaster != 0 {
		// The postmaster's own time includes its reaped children's, so
		// backends that ended in between are not lost.
		r.pgReaped = processSeconds(m.postmaster, true)
		r.pg = map[int]pgProcess{}
		for pid, st := range childrenOf(m.postmaster) {
			r.pg[pid] = pgProcess{kind: pgKind(pid), secs: st.seconds(false)}
		}
	}
	r.machineBusy, r.machineIdle = machineSeconds()
	return r
}

// postgres is PostgreSQL's CPU seconds: its living processes' and the
// postmaster's own with its reaped children's.
func (r cpuReading) postgres() float64 {
	t := r.pgReaped
	for _, p := range r.pg {
		t += p.secs
	}
	return t
}

// share is the cores each used from a to b.
func (m *cpuMeter) share(a, b cpuReading) *cpuShare {
	secs := b.at.Sub(a.at).Seconds()
	if secs <= 0 {
		return nil
	}
	cores := func(x, y float64) float64 { return max(0, y-x) / secs }
	s := &cpuShare{
		Server:   cores(a.server, b.server),
		Postgres: cores(a.postgres(), b.postgres()),
		Redis:    cores(a.redis, b.redis),
		Loader:   cores(a.self, b.self),
		Idle:     cores(a.machineIdle, b.machineIdle),
	}
	s.Other = max(0, cores(a.machineBusy, b.machineBusy)-s.Server-s.Postgres-s.Redis-s.Loader)
	if b.pg != nil {
		s.PostgresByKind = map[string]float64{}
		for pid, p := range b.pg {
			// A process new since a started within the window: all its
			// time counts.
			s.PostgresByKind[p.kind] += cores(a.pg[pid].secs, p.secs)
		}
		// A process that ended in between moved its whole life's time
		// into the postmaster's reaped time; what it had used by a was
		// counted then.
		ended := b.pgReaped - a.pgReaped
		for pid, p := range a.pg {
			if _, alive := b.pg[pid]; !alive {
				ended -= p.secs
			}
		}
		s.PostgresByKind["ended processes"] += max(0, ended) / secs
	}
	return s
}

// pgKind names a PostgreSQL process by its title: "postgres: checkpointer",
// "postgres: autovacuum worker"; a connection's title ("postgres: USER DB
// HOST(PORT) STATE") is a client backend.
func pgKind(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return "unknown"
	}
	title := strings.TrimSpace(strings.TrimPrefix(strings.TrimRight(string(b), "\x00 "), "postgres: "))
	for _, k := range []string{"checkpointer", "background writer", "walwriter", "autovacuum launcher",
		"autovacuum worker", "logical replication launcher", "archiver", "stats collector", "parallel worker"} {
		if strings.HasPrefix(title, k) {
			return k
		}
	}
	return clientBackends
}

// procStat is what bench needs of /proc/PID/stat.
type procStat struct {
	ppid                         int
	utime, stime, cutime, cstime float64 // ticks
}

func readStat(pid int) (procStat, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return procStat{}, err
	}
	// The command name, in parentheses, may hold spaces: fields are
	// counted from after its closing parenthesis (field 3, the state).
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return procStat{}, fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 15 {
		return procStat{}, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f)+2)
	}
	num := func(k int) float64 { v, _ := strconv.ParseFloat(f[k-3], 64); return v }
	return procStat{ppid: int(num(4)), utime: num(14), stime: num(15), cutime: num(16), cstime: num(17)}, nil
}

// processSeconds is pid's CPU time, with its reaped children's when asked.
func processSeconds(pid int, withReaped bool) float64 {
	if pid == 0 {
		return 0
	}
	st, err := readStat(pid)
	if err != nil {
		return 0
	}
	return st.seconds(withReaped)
}

// seconds is the process's CPU time, with its reaped children's when asked.
func (st procStat) seconds(withReaped bool) float64 {
	t := st.utime + st.stime
	if withReaped {
		t += st.cutime + st.cstime
	}
	return t / clockTicks
}

// childrenOf is pid's living children with their stat, read once: finding
// them means reading every process's.
func childrenOf(pid int) map[int]procStat {
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	out := map[int]procStat{}
	for _, d := range dirs {
		child, err := strconv.Atoi(filepath.Base(d))
		if err != nil {
			continue
		}
		if st, err := readStat(child); err == nil && st.ppid == pid {
			out[child] = st
		}
	}
	return out
}

// machineSeconds is the whole machine's busy and idle CPU time (all cores).
func machineSeconds() (busy, idle float64) {
	f, err := os.Open("/proc/stat")
	if err != nil {
		return 0, 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	if !sc.Scan() {
		return 0, 0
	}
	// cpu user nice system idle iowait irq softirq steal guest guest_nice;
	// guest time is already counted in user.
	fields := strings.Fields(sc.Text())
	for i, v := range fields[1:min(len(fields), 9)] {
		n, _ := strconv.ParseFloat(v, 64)
		if i == 3 || i == 4 {
			idle += n
		} else {
			busy += n
		}
	}
	return busy / clockTicks, idle / clockTicks
}
