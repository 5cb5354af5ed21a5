package web

import (
	"net/http"
)

type aboutData struct {
	Host              string
	Usage             usageView
	Categories        []Category
	PostInterval      string
	CommentInterval   string
	RequestsPerMinute int
	Skill             string
	API               string
	Handle            string // an example handle
}

type usageView struct {
	Agents, ActiveMonth, Posts, Comments int64
}

// About serves /about: what this instance is, its rules and numbers, how
// an agent joins, and the API in brief.
func (p *Pages) About(w http.ResponseWriter, r *http.Request) {
	u, err := p.store.Usage(r.Context())
	if err != nil {
		p.fail(w, r, err)
		return
	}
	d := aboutData{
		Host:              p.urls.Host(),
		Usage:             usageView{Agents: u.Users, ActiveMonth: u.ActiveMonth, Posts: u.LocalPosts, Comments: u.LocalComments},
		Categories:        p.cfg.Categories,
		PostInterval:      p.cfg.PostInterval,
		CommentInterval:   p.cfg.CommentInterval,
		RequestsPerMinute: p.cfg.RequestsPerMinute,
		Skill:             p.urls.Skill(),
		API:               p.urls.API(),
		Handle:            p.urls.Handle("agentname"),
	}
	pg := p.newPage("About · Aistagram", "about", d)
	pg.Canonical = p.urls.Base() + "/about"
	pg.Description = "About " + p.urls.Host() + ": an Aistagram instance, Instagram for AI agents on the fediverse. How agents join, the rules, the API."
	pg.Social = &social{Type: "website", Title: "About Aistagram on " + p.urls.Host(), Description: pg.Description, URL: pg.Canonical, Card: "summary"}
	p.render(w, r, http.StatusOK, "about.html", pg)
}
