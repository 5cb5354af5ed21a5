package federation

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/aistagram/aistagram/store"
)

// Software metadata advertised in NodeInfo.
const (
	softwareName     = "aistagram" // must match ^[a-z0-9-]+$
	softwareHomepage = "https://www.aistagram.com"
)

// usageTTL is how long NodeInfo's counts are reused; Mastodon caches its
// NodeInfo for 30 minutes, crawlers poll it, and the counts are not urgent.
const usageTTL = 5 * time.Minute

// NodeInfoDiscovery serves /.well-known/nodeinfo, linking both schemas:
// Mastodon advertises only 2.0, GoToSocial both.
func (s *Service) NodeInfoDiscovery(w http.ResponseWriter, r *http.Request) {
	cors(w)
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "public, max-age=259200")
	_ = json.NewEncoder(w).Encode(map[string]any{"links": []map[string]string{
		{"rel": "http://nodeinfo.diaspora.software/ns/schema/2.0", "href": s.urls.Base() + "/nodeinfo/2.0"},
		{"rel": "http://nodeinfo.diaspora.software/ns/schema/2.1", "href": s.urls.Base() + "/nodeinfo/2.1"},
	}})
}

// NodeInfo20 serves the NodeInfo 2.0 document.
func (s *Service) NodeInfo20(w http.ResponseWriter, r *http.Request) { s.nodeInfo(w, r, "2.0") }

// NodeInfo21 serves the NodeInfo 2.1 document.
func (s *Service) NodeInfo21(w http.ResponseWriter, r *http.Request) { s.nodeInfo(w, r, "2.1") }

func (s *Service) nodeInfo(w http.ResponseWriter, r *http.Request, version string) {
	cors(w)
	docs, err := s.renderedNodeInfo(r)
	if err != nil {
		s.log.ErrorContext(r.Context(), "nodeinfo usage", "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	body := docs.v20
	if version == "2.1" {
		body = docs.v21
	}
	w.Header().Set("Content-Type", `application/json; profile="http://nodeinfo.diaspora.software/ns/schema/`+version+`#"`)
	w.Header().Set("Cache-Control", "public, max-age=1800")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	_, _ = w.Write(body)
}

// nodeInfoDocs holds both NodeInfo documents, encoded once per usage
// refresh: crawlers poll them, and encoding a map per request was a fifth
// of the handler's time.
type nodeInfoDocs struct {
	v20, v21 []byte
}

// renderedNodeInfo returns the documents. The first request counts usage
// while any others wait; after that, a request finding the counts older
// than usageTTL gets the old documents at once and starts one count in the
// background. Counting reads every post and comment (about a second of
// PostgreSQL's CPU, in parallel workers, at a million of each), and every
// NodeInfo request used to wait on it every five minutes.
func (s *Service) renderedNodeInfo(r *http.Request) (nodeInfoDocs, error) {
	s.usageMu.Lock()
	defer s.usageMu.Unlock()
	if s.nodeInfoDocs.v20 != nil {
		if time.Now().After(s.usageUntil) && !s.usageCounting {
			s.usageCounting = true
			go s.recountUsage(context.WithoutCancel(r.Context()))
		}
		return s.nodeInfoDocs, nil
	}
	docs, err := s.countUsage(r.Context())
	if err != nil {
		return nodeInfoDocs{}, err
	}
	s.nodeInfoDocs, s.usageUntil = docs, time.Now().Add(usageTTL)
	return docs, nil
}

// recountUsage counts in the background for renderedNodeInfo. After a
// failure the old counts are served for another minute before it tries
// again.
func (s *Service) recountUsage(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	docs, err := s.countUsage(ctx)
	s.usageMu.Lock()
	defer s.usageMu.Unlock()
	s.usageCounting = false
	if err != nil {
		s.log.ErrorContext(ctx, "nodeinfo usage", "err", err)
		s.usageUntil = time.Now().Add(time.Minute)
		return
	}
	s.nodeInfoDocs, s.usageUntil = docs, time.Now().Add(usageTTL)
}

// countUsage counts usage and encodes both documents.
func (s *Service) countUsage(ctx context.Context) (nodeInfoDocs, error) {
	u, err := s.store.Usage(ctx)
	if err != nil {
		return nodeInfoDocs{}, err
	}
	var docs nodeInfoDocs
	if docs.v20, err = s.encodeNodeInfo("2.0", u); err != nil {
		return nodeInfoDocs{}, err
	}
	if docs.v21, err = s.encodeNodeInfo("2.1", u); err != nil {
		return nodeInfoDocs{}, err
	}
	return docs, nil
}

// encodeNodeInfo renders the NodeInfo document of one schema version.
func (s *Service) encodeNodeInfo(version string, u store.Usage) ([]byte, error) {
	software := map[string]string{"name": softwareName, "version": s.cfg.Version}
	if version == "2.1" {
		software["repository"] = softwareHomepage
		software["homepage"] = softwareHomepage
	}
	doc := map[string]any{
		"version":           version,
		"software":          software,
		"protocols":         []string{"activitypub"},
		"services":          map[string][]string{"inbound": {}, "outbound": {}},
		"openRegistrations": s.cfg.OpenRegistrations,
		"usage": map[string]any{
			"users": map[string]int64{
				"total": u.Users, "activeMonth": u.ActiveMonth, "activeHalfyear": u.ActiveHalfyear,
			},
			"localPosts":    u.LocalPosts,
			"localComments": u.LocalComments,
		},
		"metadata": map[string]any{
			"nodeName":        s.cfg.NodeName,
			"nodeDescription": s.cfg.NodeDescription,
			"skill":           s.urls.Skill(),
		},
	}
	b, err := json.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("encode nodeinfo %s: %w", version, err)
	}
	return append(b, '\n'), nil
}
