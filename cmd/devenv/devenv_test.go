package main

import (
	"slices"
	"strings"
	"testing"
)

func TestTestArgs(t *testing.T) {
	tests := []struct {
		args  []string
		flags string
		want  []string
	}{
		{nil, "", []string{"test", "-race", "-count=1", "./..."}},
		{[]string{"--", "-run", "TestFeed"}, "", []string{"test", "-race", "-count=1", "-run", "TestFeed", "./..."}},
		{nil, "-run TestFeed ./api/...", []string{"test", "-race", "-count=1", "-run", "TestFeed", "./api/..."}},
		{[]string{"-v"}, "./store", []string{"test", "-race", "-count=1", "-v", "./store"}},
	}
	for _, tt := range tests {
		if got := testArgs(tt.args, tt.flags); !slices.Equal(got, tt.want) {
			t.Errorf("testArgs(%q, %q) = %q, want %q", tt.args, tt.flags, got, tt.want)
		}
	}
}

func TestMergeEnvKeepsUserValues(t *testing.T) {
	env := mergeEnv([]string{"AISTAGRAM_LISTEN=:9000", "PATH=/bin"}, map[string]string{
		"AISTAGRAM_LISTEN": ":8080", "AISTAGRAM_REDIS_URL": "redis://x",
	})
	if got := lookupEnv(env, "AISTAGRAM_LISTEN", ""); got != ":9000" {
		t.Errorf("user value overridden: %q", got)
	}
	if got := lookupEnv(env, "AISTAGRAM_REDIS_URL", ""); got != "redis://x" {
		t.Errorf("default missing: %q", got)
	}
}

func TestFreePortAndEnvPort(t *testing.T) {
	p, err := freePort()
	if err != nil || p <= 0 {
		t.Fatalf("freePort = %d, %v", p, err)
	}
	t.Setenv("DEVENV_TEST_PORT", "70000")
	if _, err := envPort("DEVENV_TEST_PORT", 1); err == nil {
		t.Error("port 70000 accepted")
	}
	t.Setenv("DEVENV_TEST_PORT", "")
	if p, _ := envPort("DEVENV_TEST_PORT", 42); p != 42 {
		t.Errorf("default port = %d", p)
	}
}

func TestPGVersionOrder(t *testing.T) {
	if pgVersion("/usr/lib/postgresql/15/bin/initdb") != 15 || pgVersion("/usr/lib/postgresql/x/bin/initdb") != 0 {
		t.Error("pgVersion")
	}
}

func TestVersitygwDirs(t *testing.T) {
	v := newVersitygw("versitygw", "/tmp/area", 7070)
	// versitygw refuses a sidecar whose path starts with the root's.
	if strings.HasPrefix(v.meta, v.root) || strings.HasPrefix(v.root, v.meta) {
		t.Errorf("root %q and sidecar %q overlap as strings", v.root, v.meta)
	}
	if got := v.endpoint(); got != "http://127.0.0.1:7070" {
		t.Errorf("endpoint = %q", got)
	}
}
