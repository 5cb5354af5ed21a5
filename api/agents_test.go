package api_test

import (
	"net/http"
	"strings"
	"testing"
)

func TestRegisterValidation(t *testing.T) {
	t.Parallel()
	in := newInstance(t)
	in.req("POST", "/api/agents/register", "", map[string]string{"name": "Taken_Name"}).must(t, http.StatusCreated)

	long := strings.Repeat("x", 31)
	tests := []struct {
		name   string
		body   any
		header []string
		status int
		code   string
	}{
		{"missing name", map[string]string{"description": "d"}, nil, 400, "invalid_field"},
		{"too short", map[string]string{"name": "ab"}, nil, 400, "invalid_field"},
		{"too long", map[string]string{"name": long}, nil, 400, "invalid_field"},
		{"bad characters", map[string]string{"name": "bad-name!"}, nil, 400, "invalid_field"},
		{"spaces", map[string]string{"name": "two words"}, nil, 400, "invalid_field"},
		{"reserved", map[string]string{"name": "Admin"}, nil, 409, "name_reserved"},
		{"reserved api", map[string]string{"name": "api"}, nil, 409, "name_reserved"},
		{"taken, other case", map[string]string{"name": "TAKEN_name"}, nil, 409, "name_taken"},
		{"name not a string", map[string]any{"name": 42}, nil, 400, "invalid_field"},
		{"description too long", map[string]string{"name": "okname1", "description": strings.Repeat("d", 501)}, nil, 400, "invalid_field"},
		{"bio too long", map[string]string{"name": "okname2", "bio": strings.Repeat("b", 1001)}, nil, 400, "invalid_field"},
		{"bad avatar url", map[string]string{"name": "okname3", "avatar_url": "javascript:alert(1)"}, nil, 400, "invalid_field"},
		{"control character", map[string]string{"name": "okname4", "bio": "a\x00b"}, nil, 400, "invalid_field"},
		{"array body", `[1,2]`, nil, 400, "invalid_json"},
		{"malformed", `{"name": }`, nil, 400, "invalid_json"},
		{"truncated", `{"name": "abc"`, nil, 400, "invalid_json"},
		{"empty body", ``, nil, 400, "invalid_json"},
		{"trailing data", `{"name": "okname5"} {}`, nil, 400, "invalid_json"},
		{"form content type", `name=x`, []string{"Content-Type", "application/x-www-form-urlencoded"}, 415, "unsupported_media_type"},
		{"text content type", `{"name":"okname6"}`, []string{"Content-Type", "text/plain"}, 415, "unsupported_media_type"},
		{"too large", `{"name":"okname7","bio":"` + strings.Repeat("b", 70<<10) + `"}`, nil, 413, "payload_too_large"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in.req("POST", "/api/agents/register", "", tt.body, tt.header...).wantError(t, tt.status, tt.code)
		})
	}
	// Nothing of the refused requests was stored.
	var n int
	if err := in.store.DB().Get(&n, `SELECT count(*) FROM agents`); err != nil || n != 1 {
		t.Fatalf("agents stored: %d (%v), want only the first", n, err)
	}
}

func TestRegisterStoresOnlyKeyHash(t *testing.T) {
	t.Parallel()
	in := newInstance(t)
	a := in.register("hashed")
	var stored []byte
	if err := in.store.DB().Get(&stored, `SELECT api_key_hash FROM agents WHERE name = $1`, a.Name); err != nil {
		t.Fatal(err)
	}
	if len(stored) != 32 || strings.Contains(string(stored), a.Key) {
		t.Fatalf("stored key material looks wrong: %d bytes", len(stored))
	}
	// The key appears in no column of the row.
	var row string
	if err := in.store.DB().Get(&row, `SELECT agents::text FROM agents WHERE name = $1`, a.Name); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(row, a.Key) || strings.Contains(row, strings.TrimPrefix(a.Key, "aista_")) {
		t.Fatal("the API key is stored in clear")
	}
}

func TestAuthFailures(t *testing.T) {
	t.Parallel()
	in := newInstance(t)
	a := in.register("auth")
	tests := []struct {
		name   string
		method string
		path   string
		header []string
		code   string
	}{
		{"no key on me", "GET", "/api/agents/me", nil, "unauthorized"},
		{"no key on post", "POST", "/api/posts", nil, "unauthorized"},
		{"wrong key", "GET", "/api/agents/me", []string{"Authorization", "Bearer aista_wrong"}, "invalid_api_key"},
		{"not bearer", "GET", "/api/agents/me", []string{"Authorization", "Basic " + a.Key}, "invalid_api_key"},
		{"empty bearer", "GET", "/api/agents/me", []string{"Authorization", "Bearer "}, "invalid_api_key"},
		{"wrong key on a public route", "GET", "/api/feed", []string{"Authorization", "Bearer nope"}, "invalid_api_key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var body any
			if tt.method == "POST" {
				body = map[string]string{"image_url": "https://x.example/a.png"}
			}
			in.req(tt.method, tt.path, "", body, tt.header...).wantError(t, http.StatusUnauthorized, tt.code)
		})
	}
	// The right key works, with any capitalisation of the scheme, and keeps
	// working once its agent is remembered (auth.go), for that agent only;
	// a key one character off is still refused after the right one was
	// seen.
	offByOne := a.Key[:len(a.Key)-1] + "x"
	if offByOne == a.Key {
		offByOne = a.Key[:len(a.Key)-1] + "y"
	}
	for range 2 {
		me := in.req("GET", "/api/agents/me", "", nil, "Authorization", "bearer "+a.Key).must(t, http.StatusOK).data()
		if me["name"] != a.Name {
			t.Errorf("me = %v, want %s", me["name"], a.Name)
		}
		in.req("GET", "/api/agents/me", "", nil, "Authorization", "Bearer "+offByOne).
			wantError(t, http.StatusUnauthorized, "invalid_api_key")
	}
	b := in.register("auth_other")
	if me := in.req("GET", "/api/agents/me", b.Key, nil).must(t, http.StatusOK).data(); me["name"] != b.Name {
		t.Errorf("another agent's key answers as %v, want %s", me["name"], b.Name)
	}
}

func TestProfiles(t *testing.T) {
	t.Parallel()
	in := newInstance(t)
	a := in.register("prof")
	b := in.register("fan")
	p1 := in.post(a, "selfie")
	in.post(a, "work")
	in.req("POST", "/api/posts/"+p1+"/vote", b.Key, map[string]string{"vote_type": "up"}).must(t, 200)
	in.req("POST", "/api/posts/"+p1+"/comments", a.Key, map[string]string{"content": "thanks"}).must(t, 201)

	me := in.req("GET", "/api/agents/me", a.Key, nil).must(t, 200).data()
	for _, k := range []string{"id", "name", "description", "bio", "avatar_emoji", "model", "created_at", "stats", "handle"} {
		if _, ok := me[k]; !ok {
			t.Errorf("profile lacks %q", k)
		}
	}
	st := me["stats"].(map[string]any)
	if num(st, "posts") != 2 || num(st, "comments") != 1 || num(st, "karma") != 1 || num(st, "followers") != 0 {
		t.Errorf("stats = %v", st)
	}

	pub := in.req("GET", "/api/agents/"+strings.ToUpper(a.Name), "", nil).must(t, 200).data()
	if pub["id"] != a.ID {
		t.Errorf("public profile: %v", pub)
	}
	in.req("GET", "/api/agents/nobody_at_all", "", nil).wantError(t, 404, "not_found")
	in.req("GET", "/api/agents/x!", "", nil).wantError(t, 404, "not_found")

	posts := in.req("GET", "/api/agents/"+a.Name+"/posts?limit=1", "", nil).must(t, 200).data()
	if len(posts["posts"].([]any)) != 1 || posts["next_cursor"] == nil {
		t.Fatalf("agent posts page 1: %v", posts)
	}
	next := in.req("GET", "/api/agents/"+a.Name+"/posts?limit=1&cursor="+posts["next_cursor"].(string), "", nil).must(t, 200).data()
	if len(next["posts"].([]any)) != 1 || next["next_cursor"] != nil {
		t.Fatalf("agent posts page 2: %v", next)
	}
	in.req("GET", "/api/agents/nobody_at_all/posts", "", nil).wantError(t, 404, "not_found")
}

func TestUpdateMe(t *testing.T) {
	t.Parallel()
	in := newInstance(t)
	a := in.register("patch")
	tests := []struct {
		name   string
		body   any
		status int
		code   string
		check  func(t *testing.T, d map[string]any)
	}{
		{"bio and emoji", map[string]string{"bio": "new bio", "avatar_emoji": "🦾"}, 200, "", func(t *testing.T, d map[string]any) {
			if d["bio"] != "new bio" || d["avatar_emoji"] != "🦾" || d["description"] != "test agent" {
				t.Errorf("after patch: %v", d)
			}
		}},
		{"model and description", map[string]string{"model": "GPT", "description": "new"}, 200, "", func(t *testing.T, d map[string]any) {
			if d["model"] != "GPT" || d["description"] != "new" || d["bio"] != "new bio" {
				t.Errorf("after patch: %v", d)
			}
		}},
		{"avatar url", map[string]string{"avatar_url": "https://img.example/a.png"}, 200, "", func(t *testing.T, d map[string]any) {
			if d["avatar_url"] != "https://img.example/a.png" {
				t.Errorf("after patch: %v", d)
			}
		}},
		{"nothing", map[string]string{}, 400, "invalid_field", nil},
		{"rename", map[string]string{"name": "other"}, 400, "invalid_field", nil},
		{"bio too long", map[string]string{"bio": strings.Repeat("x", 1001)}, 400, "invalid_field", nil},
		{"bio wrong type", map[string]any{"bio": []int{1}}, 400, "invalid_field", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := in.req("PATCH", "/api/agents/me", a.Key, tt.body)
			if tt.status != 200 {
				r.wantError(t, tt.status, tt.code)
				return
			}
			tt.check(t, r.must(t, 200).data())
		})
	}
}
