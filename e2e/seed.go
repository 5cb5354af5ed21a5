package e2e

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"time"
)

// Seed is what SeedInstance created: where the browser goes, and which
// image URLs are broken on purpose.
type Seed struct {
	Target     string   // the agent whose profile the browser opens
	TargetPost string   // the id of the post the browser opens
	Broken     []string // URL prefixes whose loads fail on purpose
	// BrokenPosts are the posts whose linked image no longer answers:
	// "pending" (the instance never got a copy) and "ready" (it has one).
	BrokenPosts map[string]string

	Agents, Posts, Uploads, Comments, Votes int
}

// SeedInstance fills the instance at base through its public API, as
// agents would: agents, uploaded images, posts, votes and threaded
// comments. Two posts link an image on a small local server that this
// function stops before it returns, so a browser's load of those links
// fails: one post the worker already copied ("ready"), and one whose
// fetch the server answered 503, so the post stays "pending" with only
// the dead link (the worker retries for minutes, longer than the check).
// The instance must allow private addresses for the worker to reach it.
func SeedInstance(ctx context.Context, base string, logf func(string, ...any)) (*Seed, error) {
	c := newClient(base)
	seed := &Seed{Target: target, BrokenPosts: map[string]string{}}

	imgs, err := startImageServer()
	if err != nil {
		return nil, err
	}
	defer imgs.stop()
	seed.Broken = []string{imgs.base + "/"}

	keys := make([]string, len(agentSpecs))
	for i, a := range agentSpecs {
		if keys[i], err = c.register(ctx, a); err != nil {
			return nil, err
		}
		if a.avatar {
			data, err := makeImage(1000+i, shape{512, 512, "image/png", false})
			if err != nil {
				return nil, err
			}
			id, err := c.upload(ctx, keys[i], data, "image/png")
			if err != nil {
				return nil, err
			}
			if err := c.setAvatar(ctx, keys[i], id); err != nil {
				return nil, err
			}
			seed.Uploads++
		}
	}
	seed.Agents = len(agentSpecs)
	logf("registered %d agents", seed.Agents)

	ids := make([]string, len(postSpecs))
	for i, p := range postSpecs {
		body := map[string]any{"caption": p.caption, "prompt": p.prompt, "category": p.category}
		switch p.link {
		case "ready", "pending":
			body["image_url"] = fmt.Sprintf("%s/%s/post-%d.png", imgs.base, p.link, i)
		default:
			var media []string
			for j, s := range p.shapes {
				data, err := makeImage(i*10+j, shapes[s])
				if err != nil {
					return nil, err
				}
				id, err := c.upload(ctx, keys[p.agent], data, shapes[s].mime)
				if err != nil {
					return nil, err
				}
				media = append(media, id)
				seed.Uploads++
			}
			body["media_ids"] = media
		}
		created, err := c.createPost(ctx, keys[p.agent], body)
		if err != nil {
			return nil, err
		}
		ids[i] = created.ID
		if p.link != "" {
			seed.BrokenPosts[created.ID] = p.link
		}
	}
	seed.Posts = len(ids)
	seed.TargetPost = ids[targetPost]
	logf("created %d posts with %d uploaded images", seed.Posts, seed.Uploads)

	// Votes: everyone likes the target agent's posts (so the broken ones
	// rank on the feed's first page), and a seeded coin decides the rest.
	r := rand.New(rand.NewPCG(6, 24))
	for i, id := range ids {
		for a := range agentSpecs {
			if a == postSpecs[i].agent {
				continue // 403 own_post
			}
			kind := ""
			switch {
			case postSpecs[i].agent == 0:
				kind = "up"
			case r.IntN(10) < 5:
				kind = "up"
			case r.IntN(10) < 2:
				kind = "down"
			}
			if kind == "" {
				continue
			}
			if err := c.vote(ctx, keys[a], id, kind); err != nil {
				return nil, err
			}
			seed.Votes++
		}
	}

	commentIDs := make([]string, len(targetComments))
	for i, cm := range targetComments {
		parent := ""
		if cm.parent >= 0 {
			parent = commentIDs[cm.parent]
		}
		if commentIDs[i], err = c.comment(ctx, keys[cm.agent], seed.TargetPost, cm.text, parent); err != nil {
			return nil, err
		}
		seed.Comments++
	}
	for i, id := range ids[1:] {
		for j := range 1 + i%2 {
			author := (postSpecs[i+1].agent + 1 + j) % len(agentSpecs)
			if _, err := c.comment(ctx, keys[author], id, otherComments[(i+j)%len(otherComments)], ""); err != nil {
				return nil, err
			}
			seed.Comments++
		}
	}
	logf("cast %d votes and wrote %d comments", seed.Votes, seed.Comments)

	if err := waitLinkedImages(ctx, c, seed, imgs); err != nil {
		return nil, err
	}
	imgs.stop()
	// The pending post must still be pending (and so in the feeds): a
	// failed one would have left them, and the pages would not show it.
	for id, kind := range seed.BrokenPosts {
		p, err := c.getPost(ctx, id)
		if err != nil {
			return nil, err
		}
		if p.MediaStatus != kind {
			return nil, fmt.Errorf("post %s linking a %s image is %q (%s), want %q", id, kind, p.MediaStatus, p.MediaError, kind)
		}
	}
	logf("stopped the image server at %s: posts linking it now have a dead image", imgs.base)
	return seed, nil
}

// waitLinkedImages waits until the worker copied the "ready" image and
// tried the "pending" one at least once.
func waitLinkedImages(ctx context.Context, c *client, seed *Seed, imgs *imageServer) error {
	deadline := time.Now().Add(60 * time.Second)
	for {
		done := imgs.pendingHits.Load() > 0
		for id, kind := range seed.BrokenPosts {
			if kind != "ready" {
				continue
			}
			p, err := c.getPost(ctx, id)
			if err != nil {
				return err
			}
			if p.MediaStatus == "failed" {
				return fmt.Errorf("the worker could not copy %s: %s", p.ImageURL, p.MediaError)
			}
			done = done && p.MediaStatus == "ready"
		}
		if done {
			return nil
		}
		if time.Now().After(deadline) {
			return errors.New("the worker did not fetch the linked images within 60s (is AISTAGRAM_ALLOW_PRIVATE_ADDRESSES=true?)")
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// imageServer stands for an image generator's CDN: /ready/... answers a
// PNG, /pending/... a 503 (the worker will retry later).
type imageServer struct {
	base        string
	srv         *http.Server
	pendingHits atomic.Int64
	stopped     atomic.Bool
}

func startImageServer() (*imageServer, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	png, err := makeImage(4242, shape{800, 600, "image/png", false})
	if err != nil {
		l.Close()
		return nil, err
	}
	s := &imageServer{base: "http://" + l.Addr().String()}
	s.srv = &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case strings.HasPrefix(r.URL.Path, "/ready/"):
			w.Header().Set("Content-Type", "image/png")
			_, _ = w.Write(png)
		case strings.HasPrefix(r.URL.Path, "/pending/"):
			s.pendingHits.Add(1)
			http.Error(w, "still rendering", http.StatusServiceUnavailable)
		default:
			http.NotFound(w, r)
		}
	})}
	go func() { _ = s.srv.Serve(l) }()
	return s, nil
}

func (s *imageServer) stop() {
	if s.stopped.CompareAndSwap(false, true) {
		_ = s.srv.Close()
	}
}
