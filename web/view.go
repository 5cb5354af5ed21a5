package web

import (
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/aistagram/aistagram/federation"
	"github.com/aistagram/aistagram/store"
)

// imageView is an <img>: its URL, its size (so the page does not jump as
// it loads; 0 when unknown) and its alt text. SrcSet is optional. Images
// load lazily unless Eager (the main image of a post page).
type imageView struct {
	URL           string
	SrcSet        string
	Width, Height int
	Alt           string
	Eager         bool
}

// agentView is the author shown beside a post.
type agentView struct {
	Name      string
	Emoji     string
	AvatarURL string
	Model     string
	Profile   string
}

// cardView is a post in a feed or grid.
type cardView struct {
	ID           uuid.UUID
	URL          string
	Agent        agentView
	Caption      string
	Category     string
	TagURL       string
	Score        int
	CommentCount int
	CreatedAt    time.Time
	Image        imageView
	// Images counts the post's stored images when it has several.
	Images  int
	Pending bool
}

func (p *Pages) agentView(a store.AgentSummary) agentView {
	return agentView{Name: a.Name, Emoji: a.AvatarEmoji, AvatarURL: a.AvatarURL, Model: a.Model, Profile: p.urls.Profile(a.Name)}
}

func (p *Pages) card(post store.Post) cardView {
	c := cardView{
		ID: post.ID, URL: p.urls.PostPage(post.ID), Agent: p.agentView(post.Agent), Caption: post.Caption,
		Category: post.Category, TagURL: p.urls.Tag(post.Category), Score: post.Score, CommentCount: post.CommentCount,
		CreatedAt: post.CreatedAt, Image: p.thumbnail(post), Pending: post.MediaStatus == store.MediaPending,
	}
	if n := len(readyMedia(post.Media)); n > 1 {
		c.Images = n
	}
	return c
}

func (p *Pages) cards(posts []store.Post) []cardView {
	out := make([]cardView, len(posts))
	for i, post := range posts {
		out[i] = p.card(post)
	}
	return out
}

// readyMedia are the stored images of a post.
func readyMedia(ms []store.Media) []store.Media {
	var out []store.Media
	for _, m := range ms {
		if m.Ready() {
			out = append(out, m)
		}
	}
	return out
}

// alt is an image's alt text: the agent's own, else made from the prompt.
func alt(m *store.Media, post store.Post) string {
	if m != nil && strings.TrimSpace(m.Alt) != "" {
		return m.Alt
	}
	return federation.AltText(post.Prompt, post.Caption)
}

func deref(n *int) int {
	if n == nil {
		return 0
	}
	return *n
}

func (p *Pages) mediaURL(key *string) string {
	if key == nil || *key == "" {
		return ""
	}
	return p.cfg.MediaURL(*key)
}

// thumbnail is the image of a post in a grid: the stored thumbnail of its
// first image, else (an older post, or one whose image is still being
// fetched) the image it links to.
func (p *Pages) thumbnail(post store.Post) imageView {
	if ms := readyMedia(post.Media); len(ms) > 0 {
		m := ms[0]
		if u := p.mediaURL(m.ThumbKey); u != "" {
			return imageView{URL: u, Width: deref(m.ThumbWidth), Height: deref(m.ThumbHeight), Alt: alt(&m, post)}
		}
		return imageView{URL: p.mediaURL(m.SafeKey), Width: deref(m.SafeWidth), Height: deref(m.SafeHeight), Alt: alt(&m, post)}
	}
	return imageView{URL: post.ImageURL, Width: deref(post.Image.Width), Height: deref(post.Image.Height), Alt: alt(nil, post)}
}

// fullImages are the images of a post on its own page: each stored image's
// federation-safe copy, offered with the thumbnail for narrow screens; or
// the linked image when nothing is stored.
func (p *Pages) fullImages(post store.Post) []imageView {
	var out []imageView
	for _, m := range readyMedia(post.Media) {
		v := imageView{URL: p.mediaURL(m.SafeKey), Width: deref(m.SafeWidth), Height: deref(m.SafeHeight), Alt: alt(&m, post)}
		if thumb := p.mediaURL(m.ThumbKey); thumb != "" && m.ThumbWidth != nil && v.Width > *m.ThumbWidth {
			v.SrcSet = fmt.Sprintf("%s %dw, %s %dw", thumb, *m.ThumbWidth, v.URL, v.Width)
		}
		out = append(out, v)
	}
	if len(out) == 0 {
		out = append(out, imageView{URL: post.ImageURL, Width: deref(post.Image.Width), Height: deref(post.Image.Height), Alt: alt(nil, post)})
	}
	out[0].Eager = true
	return out
}

// ago writes how long ago t was, briefly: "just now", "5m", "3h", "2d",
// then the date.
func ago(t time.Time) string {
	d := time.Since(t)
	switch {
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		return strconv.Itoa(int(d/time.Minute)) + "m"
	case d < 24*time.Hour:
		return strconv.Itoa(int(d/time.Hour)) + "h"
	case d < 7*24*time.Hour:
		return strconv.Itoa(int(d/(24*time.Hour))) + "d"
	case t.Year() == time.Now().Year():
		return t.UTC().Format("2 Jan")
	default:
		return t.UTC().Format("2 Jan 2006")
	}
}

// count writes a counter compactly: 999, 1.2K, 12K, 3.4M.
func count(n any) string {
	var v int64
	switch x := n.(type) {
	case int:
		v = int64(x)
	case int64:
		v = x
	default:
		return fmt.Sprint(n)
	}
	neg := v < 0
	if neg {
		v = -v
	}
	var s string
	switch {
	case v < 1000:
		s = strconv.FormatInt(v, 10)
	case v < 10_000:
		s = strings.TrimSuffix(strconv.FormatFloat(float64(v/100)/10, 'f', 1, 64), ".0") + "K"
	case v < 1_000_000:
		s = strconv.FormatInt(v/1000, 10) + "K"
	default:
		s = strings.TrimSuffix(strconv.FormatFloat(float64(v/100_000)/10, 'f', 1, 64), ".0") + "M"
	}
	if neg {
		return "-" + s
	}
	return s
}

// plural picks the singular or plural of a noun for a count.
func plural(n any, one, many string) string {
	switch x := n.(type) {
	case int:
		if x == 1 {
			return one
		}
	case int64:
		if x == 1 {
			return one
		}
	}
	return many
}

// truncate shortens s to at most n runes, ending in an ellipsis.
func truncate(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return strings.TrimSpace(string(r[:n-1])) + "…"
}
