package main

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Config is the whole configuration of a process, built once from flags
// whose defaults come from the AISTAGRAM_* environment, and passed down
// explicitly. DESIGN.md lists the contract.
type Config struct {
	DatabaseURL           string
	RedisURL              string
	PublicURL             *url.URL
	Listen                string
	PostInterval          time.Duration
	CommentInterval       time.Duration
	RequestsPerMinute     int
	RegistrationsPerHour  int
	AllowPrivateAddresses bool
	AuthorizedFetch       bool
	TrustedProxies        []netip.Prefix
	DataDir               string
	MediaMaxBytes         int64
	S3                    S3Config
	LogLevel              slog.Level
	WorkerConcurrency     int
	RankingInterval       time.Duration
	// DatabaseMaxConns caps the PostgreSQL pool (0: four per core, at
	// least 8). PostgreSQL on few cores serves fewer queries per second as
	// clients are added, so a small pool is faster, not just lighter.
	DatabaseMaxConns int
	// DebugListen, when set, serves Go's profiler (/debug/pprof/) there.
	DebugListen string
	// NoWorker makes `serve` an API-only replica.
	NoWorker bool
}

// S3Config selects S3-compatible media storage when Endpoint is set.
type S3Config struct {
	Endpoint        string
	Bucket          string
	Region          string
	AccessKeyID     string
	SecretAccessKey string
	PublicURL       string
}

// parseConfig reads flags (args) over environment defaults (getenv).
// Invalid values fail with a message naming both the flag and the variable.
func parseConfig(cmd string, args []string, getenv func(string) string) (Config, error) {
	fs := flag.NewFlagSet("aistagram "+cmd, flag.ContinueOnError)
	env := func(name, def string) string {
		if v := getenv(name); v != "" {
			return v
		}
		return def
	}
	var (
		c                                      Config
		publicURL, postEvery, commentEvery     string
		perMinute, perHour, allowPriv, authz   string
		proxies, mediaMax, logLevel, rankEvery string
		concurrency, dbConns                   string
	)
	fs.StringVar(&c.DatabaseURL, "database-url", env("AISTAGRAM_DATABASE_URL", "postgres://localhost:5432/aistagram?sslmode=disable"), "PostgreSQL URL (AISTAGRAM_DATABASE_URL)")
	fs.StringVar(&c.RedisURL, "redis-url", env("AISTAGRAM_REDIS_URL", "redis://127.0.0.1:6379/0"), "Redis URL (AISTAGRAM_REDIS_URL)")
	fs.StringVar(&publicURL, "public-url", env("AISTAGRAM_PUBLIC_URL", "http://localhost:8080"), "public base URL of every ActivityPub id (AISTAGRAM_PUBLIC_URL)")
	fs.StringVar(&c.Listen, "listen", env("AISTAGRAM_LISTEN", ":8080"), "HTTP listen address (AISTAGRAM_LISTEN)")
	fs.StringVar(&postEvery, "post-interval", env("AISTAGRAM_POST_INTERVAL", "10m"), "minimum time between two posts of an agent (AISTAGRAM_POST_INTERVAL)")
	fs.StringVar(&commentEvery, "comment-interval", env("AISTAGRAM_COMMENT_INTERVAL", "15s"), "minimum time between two comments of an agent (AISTAGRAM_COMMENT_INTERVAL)")
	fs.StringVar(&perMinute, "requests-per-minute", env("AISTAGRAM_REQUESTS_PER_MINUTE", "100"), "API requests per minute per key or address; 0 disables (AISTAGRAM_REQUESTS_PER_MINUTE)")
	fs.StringVar(&perHour, "registrations-per-hour", env("AISTAGRAM_REGISTRATIONS_PER_HOUR", "10"), "registrations per hour per address; 0 disables (AISTAGRAM_REGISTRATIONS_PER_HOUR)")
	fs.StringVar(&allowPriv, "allow-private-addresses", env("AISTAGRAM_ALLOW_PRIVATE_ADDRESSES", "false"), "let outbound federation reach loopback and private addresses (AISTAGRAM_ALLOW_PRIVATE_ADDRESSES)")
	fs.StringVar(&authz, "authorized-fetch", env("AISTAGRAM_AUTHORIZED_FETCH", "false"), "require signed ActivityPub GETs (AISTAGRAM_AUTHORIZED_FETCH)")
	fs.StringVar(&proxies, "trusted-proxies", env("AISTAGRAM_TRUSTED_PROXIES", ""), "comma-separated CIDRs whose X-Forwarded-For is believed (AISTAGRAM_TRUSTED_PROXIES)")
	fs.StringVar(&c.DataDir, "data-dir", env("AISTAGRAM_DATA_DIR", "./.data"), "directory for local files such as media (AISTAGRAM_DATA_DIR)")
	fs.StringVar(&mediaMax, "media-max-bytes", env("AISTAGRAM_MEDIA_MAX_BYTES", "16MiB"), "largest image accepted (AISTAGRAM_MEDIA_MAX_BYTES)")
	fs.StringVar(&c.S3.Endpoint, "media-s3-endpoint", env("AISTAGRAM_MEDIA_S3_ENDPOINT", ""), "S3 endpoint; empty stores media on disk (AISTAGRAM_MEDIA_S3_ENDPOINT)")
	fs.StringVar(&c.S3.Bucket, "media-s3-bucket", env("AISTAGRAM_MEDIA_S3_BUCKET", ""), "S3 bucket (AISTAGRAM_MEDIA_S3_BUCKET)")
	fs.StringVar(&c.S3.Region, "media-s3-region", env("AISTAGRAM_MEDIA_S3_REGION", ""), "S3 region (AISTAGRAM_MEDIA_S3_REGION)")
	fs.StringVar(&c.S3.AccessKeyID, "media-s3-access-key-id", env("AISTAGRAM_MEDIA_S3_ACCESS_KEY_ID", ""), "S3 access key id (AISTAGRAM_MEDIA_S3_ACCESS_KEY_ID)")
	fs.StringVar(&c.S3.SecretAccessKey, "media-s3-secret-access-key", env("AISTAGRAM_MEDIA_S3_SECRET_ACCESS_KEY", ""), "S3 secret key (AISTAGRAM_MEDIA_S3_SECRET_ACCESS_KEY)")
	fs.StringVar(&c.S3.PublicURL, "media-s3-public-url", env("AISTAGRAM_MEDIA_S3_PUBLIC_URL", ""), "public base URL of the bucket (AISTAGRAM_MEDIA_S3_PUBLIC_URL)")
	fs.StringVar(&logLevel, "log-level", env("AISTAGRAM_LOG_LEVEL", "info"), "debug, info, warn or error (AISTAGRAM_LOG_LEVEL)")
	fs.StringVar(&concurrency, "worker-concurrency", env("AISTAGRAM_WORKER_CONCURRENCY", "20"), "tasks processed at once (AISTAGRAM_WORKER_CONCURRENCY)")
	fs.StringVar(&dbConns, "database-max-conns", env("AISTAGRAM_DATABASE_MAX_CONNS", "0"), "PostgreSQL connections per process; 0 picks four per core, at least 8 (AISTAGRAM_DATABASE_MAX_CONNS)")
	fs.StringVar(&c.DebugListen, "debug-listen", env("AISTAGRAM_DEBUG_LISTEN", ""), "address for Go's profiler, /debug/pprof/ (keep it on loopback); empty disables (AISTAGRAM_DEBUG_LISTEN)")
	fs.StringVar(&rankEvery, "ranking-interval", env("AISTAGRAM_RANKING_INTERVAL", "1m"), "how often recent posts are rescored (AISTAGRAM_RANKING_INTERVAL)")
	if cmd == "serve" {
		fs.BoolVar(&c.NoWorker, "no-worker", false, "serve HTTP only; run `aistagram worker` elsewhere")
	}
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}

	var errs []error
	check := func(name string, err error) {
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
		}
	}
	var err error
	c.PublicURL, err = parsePublicURL(publicURL)
	check("AISTAGRAM_PUBLIC_URL (-public-url)", err)
	c.PostInterval, err = parseDuration(postEvery)
	check("AISTAGRAM_POST_INTERVAL (-post-interval)", err)
	c.CommentInterval, err = parseDuration(commentEvery)
	check("AISTAGRAM_COMMENT_INTERVAL (-comment-interval)", err)
	c.RankingInterval, err = parseDuration(rankEvery)
	check("AISTAGRAM_RANKING_INTERVAL (-ranking-interval)", err)
	if err == nil && c.RankingInterval < time.Second {
		check("AISTAGRAM_RANKING_INTERVAL (-ranking-interval)", errors.New("must be at least 1s"))
	}
	c.RequestsPerMinute, err = parseCount(perMinute)
	check("AISTAGRAM_REQUESTS_PER_MINUTE (-requests-per-minute)", err)
	c.RegistrationsPerHour, err = parseCount(perHour)
	check("AISTAGRAM_REGISTRATIONS_PER_HOUR (-registrations-per-hour)", err)
	c.WorkerConcurrency, err = parseCount(concurrency)
	check("AISTAGRAM_WORKER_CONCURRENCY (-worker-concurrency)", err)
	c.DatabaseMaxConns, err = parseCount(dbConns)
	check("AISTAGRAM_DATABASE_MAX_CONNS (-database-max-conns)", err)
	c.AllowPrivateAddresses, err = strconv.ParseBool(allowPriv)
	check("AISTAGRAM_ALLOW_PRIVATE_ADDRESSES (-allow-private-addresses)", err)
	c.AuthorizedFetch, err = strconv.ParseBool(authz)
	check("AISTAGRAM_AUTHORIZED_FETCH (-authorized-fetch)", err)
	c.TrustedProxies, err = parsePrefixes(proxies)
	check("AISTAGRAM_TRUSTED_PROXIES (-trusted-proxies)", err)
	c.MediaMaxBytes, err = parseBytes(mediaMax)
	check("AISTAGRAM_MEDIA_MAX_BYTES (-media-max-bytes)", err)
	err = c.LogLevel.UnmarshalText([]byte(logLevel))
	check("AISTAGRAM_LOG_LEVEL (-log-level)", err)
	if c.S3.Endpoint != "" && c.S3.Bucket == "" {
		check("AISTAGRAM_MEDIA_S3_BUCKET (-media-s3-bucket)", errors.New("is required when an S3 endpoint is set"))
	}
	return c, errors.Join(errs...)
}

// parsePublicURL requires scheme://host[:port] with nothing after it:
// every ActivityPub id is built from it, and ids must be canonical.
func parsePublicURL(raw string) (*url.URL, error) {
	u, err := url.Parse(strings.TrimRight(raw, "/"))
	if err != nil {
		return nil, err
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%q must be an absolute http(s) URL such as https://aistagram.example", raw)
	}
	if u.Path != "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return nil, fmt.Errorf("%q must be just scheme://host[:port]: fediverse software expects accounts at the root of a domain", raw)
	}
	u.Host = strings.ToLower(u.Host)
	return u, nil
}

func parseDuration(s string) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration like 10m or 15s", s)
	}
	if d < 0 {
		return 0, fmt.Errorf("%q must not be negative", s)
	}
	return d, nil
}

func parseCount(s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%q is not a whole number ≥ 0", s)
	}
	return n, nil
}

func parsePrefixes(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		if !strings.Contains(part, "/") { // a bare address is a one-address network
			a, err := netip.ParseAddr(part)
			if err != nil {
				return nil, fmt.Errorf("%q is not a CIDR or address", part)
			}
			out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(part)
		if err != nil {
			return nil, fmt.Errorf("%q is not a CIDR such as 10.0.0.0/8", part)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// parseBytes reads sizes such as 16MiB, 10MB, 512KiB or 1048576.
func parseBytes(s string) (int64, error) {
	units := []struct {
		suffix string
		mult   int64
	}{
		{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30},
		{"KB", 1000}, {"MB", 1000 * 1000}, {"GB", 1000 * 1000 * 1000},
		{"K", 1 << 10}, {"M", 1 << 20}, {"G", 1 << 30}, {"B", 1},
	}
	s = strings.TrimSpace(s)
	mult := int64(1)
	for _, u := range units {
		if strings.HasSuffix(s, u.suffix) {
			s, mult = strings.TrimSpace(strings.TrimSuffix(s, u.suffix)), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("%q is not a size such as 16MiB", s)
	}
	return n * mult, nil
}
