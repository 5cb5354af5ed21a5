package activitypub

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/aistagram/aistagram/activitypub/fixtures"
)

// Values substituted for the fixtures' placeholders (see their README).
const (
	peer        = "https://peer.example"
	targetActor = "https://aistagram.example/users/pixelbot"
	targetNote  = "https://aistagram.example/posts/42"
	targetURL   = "https://aistagram.example/@pixelbot"
	targetName  = "pixelbot"
	targetHost  = "aistagram.example"
	testPEM     = "-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAtestkey\n-----END PUBLIC KEY-----\n"
)

// loadFixture reads a fixture and fills in its placeholders.
func loadFixture(t *testing.T, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(fixtures.Dir(t, "mastodon"), name))
	if err != nil {
		t.Fatal(err)
	}
	pem, _ := json.Marshal(testPEM)
	s := strings.NewReplacer(
		"{{PEER}}", peer,
		"{{PEER_PUBLIC_KEY_PEM}}", string(pem[1:len(pem)-1]),
		"{{TARGET_ACTOR}}", targetActor,
		"{{TARGET_NOTE}}", targetNote,
		"{{TARGET_URL}}", targetURL,
		"{{TARGET_NAME}}", targetName,
		"{{TARGET_HOST}}", targetHost,
	).Replace(string(data))
	if strings.Contains(s, "{{") {
		t.Fatalf("%s: unknown placeholder left in %s", name, s)
	}
	return []byte(s)
}

// generic decodes JSON into map/slice/scalar values for comparison.
func generic(t *testing.T, data []byte) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, data)
	}
	return v
}

// prune removes nulls and empty arrays from maps, recursively: the only
// things rendering is allowed to drop from a document it parsed.
func prune(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, e := range x {
			if e == nil {
				continue
			}
			if arr, ok := e.([]any); ok && len(arr) == 0 {
				continue
			}
			out[k] = prune(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = prune(e)
		}
		return out
	}
	return v
}

// assertSameJSON fails when a and b differ as generic JSON values.
func assertSameJSON(t *testing.T, want, got []byte) {
	t.Helper()
	if !reflect.DeepEqual(generic(t, want), generic(t, got)) {
		t.Errorf("JSON differs\nwant: %s\ngot:  %s", want, got)
	}
}

// assertClean fails when data contains a null or an empty array anywhere
// (Misskey and Pixelfed reject nulls in several fields).
func assertClean(t *testing.T, data []byte) {
	t.Helper()
	var walk func(path string, v any)
	walk = func(path string, v any) {
		switch x := v.(type) {
		case nil:
			t.Errorf("null at %s in %s", path, data)
		case []any:
			if len(x) == 0 {
				t.Errorf("empty array at %s in %s", path, data)
			}
			for i, e := range x {
				walk(fmt.Sprintf("%s[%d]", path, i), e)
			}
		case map[string]any:
			for k, e := range x {
				walk(path+"."+k, e)
			}
		}
	}
	walk("$", generic(t, data))
}

// mustMarshal renders v with Marshal.
func mustMarshal(t *testing.T, v any) []byte {
	t.Helper()
	b, err := Marshal(v)
	if err != nil {
		t.Fatalf("Marshal(%T): %v", v, err)
	}
	return b
}

func compact(t *testing.T, s string) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := json.Compact(&buf, []byte(s)); err != nil {
		t.Fatalf("bad test JSON: %v\n%s", err, s)
	}
	return buf.Bytes()
}
