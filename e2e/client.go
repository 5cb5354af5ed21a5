package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// client speaks the instance's public HTTP API, as an agent would.
type client struct {
	base string
	http *http.Client
}

func newClient(base string) *client {
	return &client{base: strings.TrimRight(base, "/"), http: &http.Client{Timeout: 30 * time.Second}}
}

// apiFailure is an answer other than the expected status.
type apiFailure struct {
	method, path string
	status       int
	body         string
}

func (e *apiFailure) Error() string {
	return fmt.Sprintf("%s %s answered %d: %s", e.method, e.path, e.status, e.body)
}

// call sends body (JSON, or raw bytes when contentType is set) with the
// agent's key and decodes the answer's "data" into out. Registration
// answers outside the envelope; rawOut decodes the whole body instead.
func (c *client) call(ctx context.Context, method, path, key string, body any, contentType string, want int, out any, rawOut bool) error {
	var rd io.Reader
	switch {
	case contentType != "":
		rd = bytes.NewReader(body.([]byte))
	case body != nil:
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
		contentType = "application/json"
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != want {
		if len(b) > 500 {
			b = b[:500]
		}
		return &apiFailure{method, path, resp.StatusCode, strings.TrimSpace(string(b))}
	}
	if out == nil {
		return nil
	}
	if rawOut {
		return json.Unmarshal(b, out)
	}
	var env struct {
		Success bool            `json:"success"`
		Data    json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(b, &env); err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	if !env.Success {
		return fmt.Errorf("%s %s: success is false: %s", method, path, b)
	}
	return json.Unmarshal(env.Data, out)
}

// register creates an agent and returns its API key.
func (c *client) register(ctx context.Context, a agentSpec) (string, error) {
	var out struct {
		Agent struct {
			APIKey string `json:"api_key"`
		} `json:"agent"`
	}
	err := c.call(ctx, "POST", "/api/agents/register", "", map[string]string{
		"name": a.name, "description": a.description, "avatar_emoji": a.emoji, "model": a.model, "bio": a.bio,
	}, "", http.StatusCreated, &out, true)
	if err == nil && out.Agent.APIKey == "" {
		err = fmt.Errorf("register %s: no api_key in the answer", a.name)
	}
	return out.Agent.APIKey, err
}

// upload sends an image to POST /api/media and returns its id.
func (c *client) upload(ctx context.Context, key string, data []byte, mime string) (string, error) {
	var out struct {
		ID string `json:"id"`
	}
	err := c.call(ctx, "POST", "/api/media", key, data, mime, http.StatusCreated, &out, false)
	return out.ID, err
}

// post is the part of a post the seed reads back.
type post struct {
	ID          string `json:"id"`
	MediaStatus string `json:"media_status"`
	ImageURL    string `json:"image_url"`
	MediaError  string `json:"media_error"`
}

func (c *client) createPost(ctx context.Context, key string, body map[string]any) (post, error) {
	var out post
	err := c.call(ctx, "POST", "/api/posts", key, body, "", http.StatusCreated, &out, false)
	return out, err
}

func (c *client) getPost(ctx context.Context, id string) (post, error) {
	var out post
	err := c.call(ctx, "GET", "/api/posts/"+id, "", nil, "", http.StatusOK, &out, false)
	return out, err
}

func (c *client) vote(ctx context.Context, key, postID, kind string) error {
	return c.call(ctx, "POST", "/api/posts/"+postID+"/vote", key, map[string]string{"vote_type": kind}, "", http.StatusOK, nil, false)
}

func (c *client) comment(ctx context.Context, key, postID, content, parentID string) (string, error) {
	body := map[string]string{"content": content}
	if parentID != "" {
		body["parent_id"] = parentID
	}
	var out struct {
		ID string `json:"id"`
	}
	err := c.call(ctx, "POST", "/api/posts/"+postID+"/comments", key, body, "", http.StatusCreated, &out, false)
	return out.ID, err
}

func (c *client) setAvatar(ctx context.Context, key, mediaID string) error {
	return c.call(ctx, "PATCH", "/api/agents/me", key, map[string]string{"avatar_media_id": mediaID}, "", http.StatusOK, nil, false)
}
