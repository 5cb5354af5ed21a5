package main

import (
	"strings"
	"testing"
	"time"
)

func TestParseConfig(t *testing.T) {
	tests := []struct {
		name    string
		cmd     string
		env     map[string]string
		args    []string
		wantErr string
		check   func(t *testing.T, c Config)
	}{
		{name: "defaults", cmd: "serve", check: func(t *testing.T, c Config) {
			if c.PublicURL.String() != "http://localhost:8080" || c.Listen != ":8080" ||
				c.PostInterval != 10*time.Minute || c.CommentInterval != 15*time.Second ||
				c.RequestsPerMinute != 100 || c.RegistrationsPerHour != 10 || c.AllowPrivateAddresses ||
				c.AuthorizedFetch || c.MediaMaxBytes != 16<<20 || c.DataDir != "./.data" || c.NoWorker {
				t.Errorf("defaults: %+v", c)
			}
		}},
		{name: "environment", cmd: "serve", env: map[string]string{
			"AISTAGRAM_PUBLIC_URL": "https://Aistagram.Example/", "AISTAGRAM_POST_INTERVAL": "1s",
			"AISTAGRAM_COMMENT_INTERVAL": "0s", "AISTAGRAM_REQUESTS_PER_MINUTE": "7",
			"AISTAGRAM_REGISTRATIONS_PER_HOUR": "0", "AISTAGRAM_ALLOW_PRIVATE_ADDRESSES": "true",
			"AISTAGRAM_AUTHORIZED_FETCH": "1", "AISTAGRAM_TRUSTED_PROXIES": "10.0.0.0/8, 192.168.1.5",
			"AISTAGRAM_MEDIA_MAX_BYTES": "2MB", "AISTAGRAM_LISTEN": "127.0.0.1:9000",
		}, check: func(t *testing.T, c Config) {
			if c.PublicURL.String() != "https://aistagram.example" || c.PostInterval != time.Second ||
				c.CommentInterval != 0 || c.RequestsPerMinute != 7 || c.RegistrationsPerHour != 0 ||
				!c.AllowPrivateAddresses || !c.AuthorizedFetch || len(c.TrustedProxies) != 2 ||
				c.TrustedProxies[1].String() != "192.168.1.5/32" || c.MediaMaxBytes != 2000000 || c.Listen != "127.0.0.1:9000" {
				t.Errorf("from env: %+v", c)
			}
		}},
		{name: "flags beat environment", cmd: "serve", env: map[string]string{"AISTAGRAM_LISTEN": ":1"},
			args: []string{"-listen", ":2", "--no-worker"}, check: func(t *testing.T, c Config) {
				if c.Listen != ":2" || !c.NoWorker {
					t.Errorf("flags: %+v", c)
				}
			}},
		{name: "bad duration", cmd: "serve", env: map[string]string{"AISTAGRAM_POST_INTERVAL": "often"}, wantErr: "AISTAGRAM_POST_INTERVAL"},
		{name: "negative count", cmd: "serve", env: map[string]string{"AISTAGRAM_REQUESTS_PER_MINUTE": "-1"}, wantErr: "AISTAGRAM_REQUESTS_PER_MINUTE"},
		{name: "public url with path", cmd: "serve", env: map[string]string{"AISTAGRAM_PUBLIC_URL": "https://x.example/social"}, wantErr: "AISTAGRAM_PUBLIC_URL"},
		{name: "public url without scheme", cmd: "serve", env: map[string]string{"AISTAGRAM_PUBLIC_URL": "x.example"}, wantErr: "AISTAGRAM_PUBLIC_URL"},
		{name: "bad proxy", cmd: "serve", env: map[string]string{"AISTAGRAM_TRUSTED_PROXIES": "10.0.0.0/99"}, wantErr: "AISTAGRAM_TRUSTED_PROXIES"},
		{name: "bad bool", cmd: "serve", env: map[string]string{"AISTAGRAM_AUTHORIZED_FETCH": "maybe"}, wantErr: "AISTAGRAM_AUTHORIZED_FETCH"},
		{name: "bad size", cmd: "serve", env: map[string]string{"AISTAGRAM_MEDIA_MAX_BYTES": "big"}, wantErr: "AISTAGRAM_MEDIA_MAX_BYTES"},
		{name: "s3 without bucket", cmd: "serve", env: map[string]string{"AISTAGRAM_MEDIA_S3_ENDPOINT": "https://s3.example"}, wantErr: "AISTAGRAM_MEDIA_S3_BUCKET"},
		{name: "no-worker only on serve", cmd: "worker", args: []string{"--no-worker"}, wantErr: "no-worker"},
		{name: "stray argument", cmd: "migrate", args: []string{"now"}, wantErr: "unexpected argument"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := parseConfig(tt.cmd, tt.args, func(k string) string { return tt.env[k] })
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one mentioning %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, c)
		})
	}
}

func TestParseBytes(t *testing.T) {
	tests := map[string]int64{"16MiB": 16 << 20, "10MB": 10e6, "512KiB": 512 << 10, "1048576": 1 << 20, "1 GiB": 1 << 30, "3M": 3 << 20}
	for in, want := range tests {
		if got, err := parseBytes(in); err != nil || got != want {
			t.Errorf("parseBytes(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "0", "-1MiB", "lots", "1.5MiB"} {
		if _, err := parseBytes(bad); err == nil {
			t.Errorf("parseBytes(%q) accepted", bad)
		}
	}
}

func TestRunUnreachableDatabaseFailsInOneLine(t *testing.T) {
	var stderr strings.Builder
	env := map[string]string{
		"AISTAGRAM_DATABASE_URL": "postgres://nobody@127.0.0.1:1/none?sslmode=disable&connect_timeout=2",
		"AISTAGRAM_LOG_LEVEL":    "error",
	}
	code := run([]string{"migrate"}, func(k string) string { return env[k] }, &stderr)
	if code != 1 || !strings.Contains(stderr.String(), "cannot reach PostgreSQL at postgres://nobody@127.0.0.1:1/none") {
		t.Fatalf("exit %d, stderr %q", code, stderr.String())
	}
	if strings.Count(strings.TrimSpace(stderr.String()), "\n") != 0 {
		t.Fatalf("want one line, got %q", stderr.String())
	}
}
