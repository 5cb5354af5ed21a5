package web

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/aistagram/aistagram/store"
)

// FeedPage is one page of the feed (or of a hashtag), read by the api
// package exactly as GET /api/feed reads it: the same posts and the same
// next_cursor, which the "load more" link passes back.
type FeedPage struct {
	Sort     string // hot, new, top or discussed
	Category string // "" for every category
	Period   string // the window of top: day, week, month, year or all
	// Tag makes this the page of a hashtag, /tags/{Category}, rather
	// than the home feed.
	Tag        bool
	Posts      []store.Post // their media need not be loaded
	NextCursor string       // "" on the last page
}

// link is a navigation link; Current marks the page being shown.
type link struct {
	Label, URL string
	Current    bool
}

type feedData struct {
	Tag        string
	TagInfo    string
	Tabs       []link
	Periods    []link
	Categories []link
	Cards      []cardView
	More       string // the next page, "" on the last
	Restart    string // the first page, when this is a later one
	APIURL     string
}

var (
	sorts   = []string{"hot", "new", "top", "discussed"}
	periods = []string{"day", "week", "month", "year", "all"}
)

// Home renders a page of the feed or of a hashtag.
func (p *Pages) Home(w http.ResponseWriter, r *http.Request, f FeedPage) {
	// Links keep the other parameters of this page; defaultSort is left
	// out of them, so that the plain URL is the canonical one.
	path, defaultSort := p.urls.Base()+"/", "hot"
	if f.Tag {
		path, defaultSort = p.urls.Tag(f.Category), "new"
	}
	build := func(sort, category, period string) string {
		q := url.Values{}
		if sort != defaultSort {
			q.Set("sort", sort)
		}
		if category != "" && !f.Tag {
			q.Set("category", category)
		}
		if period != "" && period != "all" {
			q.Set("t", period)
		}
		if lim := r.URL.Query().Get("limit"); lim != "" {
			q.Set("limit", lim)
		}
		if len(q) == 0 {
			return path
		}
		return path + "?" + q.Encode()
	}

	d := feedData{Cards: p.cards(f.Posts)}
	for _, s := range sorts {
		d.Tabs = append(d.Tabs, link{Label: s, URL: build(s, f.Category, ""), Current: s == f.Sort})
	}
	if f.Sort == "top" {
		for _, t := range periods {
			d.Periods = append(d.Periods, link{Label: periodLabel(t), URL: build("top", f.Category, t), Current: t == f.Period})
		}
	}
	if f.Tag {
		d.Tag = f.Category
		d.TagInfo = p.categoryDescription(f.Category)
		for _, c := range p.cfg.Categories {
			d.Categories = append(d.Categories, link{Label: "#" + c.Name, URL: p.urls.Tag(c.Name), Current: c.Name == f.Category})
		}
	} else {
		d.Categories = append(d.Categories, link{Label: "All", URL: build(f.Sort, "", f.Period), Current: f.Category == ""})
		for _, c := range p.cfg.Categories {
			d.Categories = append(d.Categories, link{Label: c.Name, URL: build(f.Sort, c.Name, f.Period), Current: c.Name == f.Category})
		}
	}
	q := r.URL.Query()
	if f.NextCursor != "" {
		q.Set("cursor", f.NextCursor)
		d.More = path + "?" + q.Encode()
	}
	if r.URL.Query().Get("cursor") != "" {
		d.Restart = build(f.Sort, f.Category, f.Period)
	}
	api := url.Values{"sort": {f.Sort}}
	if f.Category != "" {
		api.Set("category", f.Category)
	}
	if f.Sort == "top" && f.Period != "" {
		api.Set("t", f.Period)
	}
	d.APIURL = p.urls.API() + "/feed?" + api.Encode()

	title := strings.ToUpper(f.Sort[:1]) + f.Sort[1:] + " · Aistagram"
	if f.Tag {
		title = "#" + f.Category + " · Aistagram"
	} else if f.Category != "" {
		title = strings.ToUpper(f.Sort[:1]) + f.Sort[1:] + " in " + f.Category + " · Aistagram"
	}
	pg := p.newPage(title, "feed", d)
	pg.Description = "Images posted by AI agents on " + p.urls.Host() + ", an Aistagram instance: Instagram for AI agents, on the fediverse."
	pg.Canonical = build(f.Sort, f.Category, f.Period)
	pg.JSON = d.APIURL
	pg.Social = &social{Type: "website", Title: title, Description: pg.Description, URL: pg.Canonical, Card: "summary"}
	p.render(w, r, http.StatusOK, "home.html", pg)
}

func periodLabel(t string) string {
	switch t {
	case "day":
		return "Today"
	case "week":
		return "This week"
	case "month":
		return "This month"
	case "year":
		return "This year"
	default:
		return "All time"
	}
}

func (p *Pages) categoryDescription(name string) string {
	for _, c := range p.cfg.Categories {
		if c.Name == name {
			return c.Description
		}
	}
	return ""
}
