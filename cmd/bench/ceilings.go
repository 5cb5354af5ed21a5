package main

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"database/sql"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
)

// ceilingServer serves h on its own loopback listener, in this process.
type ceilingServer struct {
	srv *http.Server
	URL string
}

func startCeiling(h http.Handler) (*ceilingServer, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return &ceilingServer{srv: srv, URL: "http://" + ln.Addr().String()}, nil
}

func (c *ceilingServer) close() { _ = c.srv.Close() }

// httpCeiling is the fastest any handler can be here: a fixed JSON body
// (as large as a real feed page), written with no work at all.
func httpCeiling(body []byte) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", fmt.Sprint(len(body)))
		_, _ = w.Write(body)
	})
}

// ceilingPost is what the database ceiling reads of a post.
type ceilingPost struct {
	ID           uuid.UUID `json:"id"`
	AgentID      uuid.UUID `json:"agent_id"`
	ImageURL     string    `json:"image_url"`
	Caption      string    `json:"caption"`
	Prompt       string    `json:"prompt"`
	Category     string    `json:"category"`
	Score        int       `json:"score"`
	Upvotes      int       `json:"upvotes"`
	Downvotes    int       `json:"downvotes"`
	CommentCount int       `json:"comment_count"`
	CreatedAt    time.Time `json:"created_at"`
}

// openCeilingPool opens the database ceiling's own pool. Its connections
// keep one generic plan for the ceiling's statement: left to choose,
// PostgreSQL planned it again on every call on some seeded tables (the
// cost of a custom plan for its one parameter came out close to the generic
// plan's), and planning took longer than running it (pg_stat_statements:
// 2.1 s of planning to 0.8 s of execution). The ceiling is the fastest such
// a page can be, so it must not pay for that.
func openCeilingPool(dbURL string) (*sql.DB, error) {
	u, err := url.Parse(dbURL)
	if err != nil {
		return nil, fmt.Errorf("database URL: %w", err)
	}
	q := u.Query()
	q.Set("plan_cache_mode", "force_generic_plan") // lib/pq sends unknown keys as settings
	u.RawQuery = q.Encode()
	pool, err := sql.Open("postgres", u.String())
	if err != nil {
		return nil, fmt.Errorf("database ceiling pool: %w", err)
	}
	pool.SetMaxOpenConns(dbCeilingConns)
	pool.SetMaxIdleConns(dbCeilingConns)
	return pool, nil
}

// dbCeiling runs one prepared keyset query for 20 posts per request, on
// its own small pool, and encodes them: the fastest a feed page that goes
// to the database can be. A ?before=<RFC3339> starts the keyset lower.
func dbCeiling(ctx context.Context, db *sql.DB) (http.Handler, func(), error) {
	stmt, err := db.PrepareContext(ctx, `
		SELECT id, agent_id, image_url, caption, prompt, category, score, upvotes, downvotes, comment_count, created_at
		FROM posts WHERE deleted_at IS NULL AND created_at < $1
		ORDER BY created_at DESC, id DESC LIMIT 20`)
	if err != nil {
		return nil, nil, fmt.Errorf("prepare ceiling query: %w", err)
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		before := time.Now().Add(time.Hour)
		if b := r.URL.Query().Get("before"); b != "" {
			if t, err := time.Parse(time.RFC3339Nano, b); err == nil {
				before = t
			}
		}
		rows, err := stmt.QueryContext(r.Context(), before)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		defer rows.Close()
		posts := make([]ceilingPost, 0, 20)
		for rows.Next() {
			var p ceilingPost
			if err := rows.Scan(&p.ID, &p.AgentID, &p.ImageURL, &p.Caption, &p.Prompt, &p.Category,
				&p.Score, &p.Upvotes, &p.Downvotes, &p.CommentCount, &p.CreatedAt); err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			posts = append(posts, p)
		}
		if err := rows.Err(); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		// Sent with its length in one write, as the server's answers are:
		// streamed, it would go out chunked in several.
		body, err := json.Marshal(map[string]any{"success": true, "data": map[string]any{"posts": posts}})
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		_, _ = w.Write(body)
	})
	return h, func() { stmt.Close() }, nil
}

// rsaCeiling counts RSA-2048 PKCS#1 v1.5 SHA-256 signs and verifies per
// second with one goroutine per core: the delivery and inbox ceilings.
func rsaCeiling(d time.Duration) (signs, verifies float64, err error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return 0, 0, err
	}
	digest := sha256.Sum256([]byte("(request-target): post /inbox\nhost: example\ndate: now"))
	sig, err := rsa.SignPKCS1v15(nil, key, crypto.SHA256, digest[:])
	if err != nil {
		return 0, 0, err
	}
	measure := func(op func() error) (float64, error) {
		var n atomic.Int64
		var firstErr error
		var once sync.Once
		deadline := time.Now().Add(d)
		start := time.Now()
		var wg sync.WaitGroup
		for range runtime.NumCPU() {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for time.Now().Before(deadline) {
					if err := op(); err != nil {
						once.Do(func() { firstErr = err })
						return
					}
					n.Add(1)
				}
			}()
		}
		wg.Wait()
		return float64(n.Load()) / time.Since(start).Seconds(), firstErr
	}
	signs, err = measure(func() error {
		_, err := rsa.SignPKCS1v15(nil, key, crypto.SHA256, digest[:])
		return err
	})
	if err != nil {
		return 0, 0, err
	}
	verifies, err = measure(func() error {
		return rsa.VerifyPKCS1v15(&key.PublicKey, crypto.SHA256, digest[:], sig)
	})
	return signs, verifies, err
}
