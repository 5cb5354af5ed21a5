package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// dbCeilingConns is the database ceiling's pool: small, because PostgreSQL
// on few cores slows down as clients are added.
const dbCeilingConns = 8

// fixed is a target that always requests the same URL.
func fixed(name, u string) target {
	return target{Name: name, URL: func(int, int) string { return u }}
}

// measureCeilings runs the HTTP and database ceilings through l and RSA
// on every core, recording them in rep. The HTTP ceiling's body is the
// server's real first feed page, so it has exactly that page's size.
func measureCeilings(ctx context.Context, l *loader, pool *sql.DB, base string, rep *report) error {
	page, err := get(ctx, base+"/api/feed?sort=new&limit=20", nil)
	if err != nil {
		return err
	}
	rep.Ceilings.BodyBytes = len(page)
	hc, err := startCeiling(httpCeiling(page))
	if err != nil {
		return err
	}
	logf("ceiling: HTTP (%d-byte body)", len(page))
	rep.Ceilings.HTTP = l.run(ctx, fixed("HTTP ceiling", hc.URL+"/"))
	l.close()
	hc.close()

	pool.SetMaxOpenConns(dbCeilingConns)
	pool.SetMaxIdleConns(dbCeilingConns)
	h, closeStmt, err := dbCeiling(ctx, pool)
	if err != nil {
		return err
	}
	defer closeStmt()
	dc, err := startCeiling(h)
	if err != nil {
		return err
	}
	logf("ceiling: database (%d connections)", dbCeilingConns)
	rep.Ceilings.DB = l.run(ctx, fixed("DB ceiling", dc.URL+"/"))
	l.close()
	dc.close()

	logf("ceiling: RSA-2048")
	rep.Ceilings.RSASignsPerSec, rep.Ceilings.RSAVerifiesPerSec, err = rsaCeiling(2 * time.Second)
	return err
}

// serverTarget is a target on the server and whether its figure is also
// compared with the database ceiling (pages that cannot be cached).
type serverTarget struct {
	target target
	vsDB   bool
}

// serverTargets lists what is loaded on the server.
func serverTargets(ctx context.Context, base string, d *dataset) ([]serverTarget, error) {
	host := strings.TrimPrefix(base, "http://")
	var out []serverTarget
	for _, sort := range []string{"new", "hot", "top", "discussed"} {
		out = append(out, serverTarget{target: fixed("feed "+sort, base+"/api/feed?sort="+sort+"&limit=20")})
	}
	deep, depth, err := deepPage(ctx, base+"/api/feed?sort=new&limit=20", 50)
	if err != nil {
		return nil, err
	}
	out = append(out, serverTarget{target: fixed(fmt.Sprintf("feed new, page %d", depth+1), deep), vsDB: true})
	out = append(out, serverTarget{target: target{Name: "post by id", URL: func(int, int) string {
		return base + "/api/posts/" + d.postIDs[rand.IntN(len(d.postIDs))].String()
	}}})
	if len(d.commented) > 0 {
		out = append(out, serverTarget{target: target{Name: "comments", URL: func(int, int) string {
			return base + "/api/posts/" + d.commented[rand.IntN(len(d.commented))].String() + "/comments"
		}}, vsDB: true})
	}
	name := func() string { return d.agentNames[rand.IntN(len(d.agentNames))] }
	out = append(out,
		serverTarget{target: target{Name: "webfinger", URL: func(int, int) string {
			return base + "/.well-known/webfinger?resource=" + url.QueryEscape("acct:"+name()+"@"+host)
		}}},
		serverTarget{target: fixed("nodeinfo", base+"/nodeinfo/2.1")},
		serverTarget{target: target{Name: "actor", URL: func(int, int) string { return base + "/users/" + name() },
			Header: http.Header{"Accept": {"application/activity+json"}}}},
		serverTarget{target: target{Name: "outbox page", URL: func(int, int) string { return base + "/users/" + name() + "/outbox?page=1" },
			Header: http.Header{"Accept": {"application/activity+json"}}}},
		serverTarget{target: fixed("web /", base+"/")},
	)
	return out, nil
}

// deepPage follows next_cursor up to n times from first and returns the
// URL of the last page reached and how many hops it took (fewer than n on
// a small dataset).
func deepPage(ctx context.Context, first string, n int) (string, int, error) {
	u := first
	for i := 0; i < n; i++ {
		body, err := get(ctx, u, nil)
		if err != nil {
			return "", 0, err
		}
		var page struct {
			Data struct {
				NextCursor *string `json:"next_cursor"`
			} `json:"data"`
		}
		if err := json.Unmarshal(body, &page); err != nil {
			return "", 0, fmt.Errorf("feed page %s: %w", u, err)
		}
		if page.Data.NextCursor == nil || *page.Data.NextCursor == "" {
			return u, i, nil
		}
		u = first + "&cursor=" + url.QueryEscape(*page.Data.NextCursor)
	}
	return u, n, nil
}

// get fetches u and returns its body, failing on anything but 200.
func get(ctx context.Context, u string, h http.Header) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	for k, v := range h {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s: %.200s", u, resp.Status, body)
	}
	return body, nil
}
