package federation

import (
	"bytes"
	"html"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"unicode"

	"github.com/microcosm-cc/bluemonday"
	xhtml "golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// sanitizer cleans HTML that other servers send us (comment content, remote
// bios) before it is stored, so that nothing downstream — web pages, the
// JSON API, our own outgoing Notes — ever holds markup we did not allow.
// Its policy is built once, by newSanitizer, and are safe for
// concurrent use (a bluemonday policy is read-only after construction).
type sanitizer struct {
	rich *bluemonday.Policy
}

// Classes a remote server may put on spans and links. They are Mastodon's
// CLASS_WHITELIST_TRANSFORMER minus the microformats prefixes we do not
// style: h-card wraps a mention, mention and hashtag mark links, u-url is
// the microformats link of a mention, and invisible/ellipsis are how
// Mastodon shortens long URLs (the hidden "https://" and the cut-off tail).
// They are space-separated lists, constants so nothing can change them.
const (
	spanClasses = "h-card mention hashtag invisible ellipsis"
	linkClasses = "mention hashtag u-url"
)

// linkRel is the rel every remote link gets, whatever it said: nofollow so
// that spam links earn nothing, noopener and noreferrer so that the target
// learns nothing about, and cannot script, the page it was opened from.
// Mastodon adds "nofollow noopener" (plus "tag noreferrer" since 4.x).
const linkRel = "nofollow noopener noreferrer"

// maxTextRunes caps what Text returns. Display names are the main use;
// Mastodon caps its own at 30 characters and a remote one at far less than
// this, so only abuse is cut.
const maxTextRunes = 1000

// newSanitizer builds the policies. The rich one is modelled on Mastodon's
// MASTODON_STRICT sanitizer config (app/lib/sanitize_config.rb): inline
// formatting, lists, quotes and code, links to http, https and mailto only;
// no images, media, iframes, scripts, styles, forms or event handlers.
func newSanitizer() *sanitizer {
	rich := bluemonday.NewPolicy()
	rich.AllowElements("p", "br", "span", "a", "del", "pre", "code", "em", "strong",
		"b", "i", "u", "ul", "ol", "li", "blockquote")
	rich.AllowURLSchemes("http", "https", "mailto")
	rich.RequireParseableURLs(true)
	rich.AllowRelativeURLs(false) // relative to the remote server: meaningless here
	rich.AllowAttrs("href").OnElements("a")
	// normalizeTree has already set these to exactly these values; the
	// policy only lets that exact value through, as a second line.
	rich.AllowAttrs("rel").Matching(regexp.MustCompile(`^` + regexp.QuoteMeta(linkRel) + `$`)).OnElements("a")
	rich.AllowAttrs("target").Matching(regexp.MustCompile(`^_blank$`)).OnElements("a")
	rich.AllowAttrs("class").Matching(classListPattern(spanClasses)).OnElements("span")
	rich.AllowAttrs("class").Matching(classListPattern(linkClasses)).OnElements("a")
	return &sanitizer{rich: rich}
}

// classListPattern matches a space-separated list made only of the classes
// in allowed (itself a space-separated list).
func classListPattern(allowed string) *regexp.Regexp {
	fields := strings.Fields(allowed)
	quoted := make([]string, len(fields))
	for i, c := range fields {
		quoted[i] = regexp.QuoteMeta(c)
	}
	one := `(?:` + strings.Join(quoted, "|") + `)`
	return regexp.MustCompile(`^` + one + `(?: ` + one + `)*$`)
}

// HTML returns remote HTML reduced to the allow-list. The input is first
// parsed as an HTML5 fragment and re-serialised, which balances its tags
// (an unclosed <blockquote> in a comment must not swallow the rest of our
// page — Mastodon gets this from Nokogiri), turns h1–h6 into
// <p><strong>, as Mastodon does since 4.x, filters class lists token by
// token like Mastodon's CLASS_WHITELIST_TRANSFORMER, and unwraps links
// whose href is not an absolute http, https or mailto URL (keeping their
// text). bluemonday then enforces the policy on that.
//
// HTML nested deeper than the parser allows (512 levels; nothing real comes
// close) is reduced to its escaped text in one paragraph.
func (s *sanitizer) HTML(in string) string {
	if strings.TrimSpace(in) == "" {
		return ""
	}
	ctx := &xhtml.Node{Type: xhtml.ElementNode, Data: "div", DataAtom: atom.Div}
	nodes, err := xhtml.ParseFragment(strings.NewReader(in), ctx)
	if err != nil {
		return "<p>" + html.EscapeString(s.Text(in)) + "</p>"
	}
	// Hang the fragment under one root so that every node has a parent
	// (unwrapping a top-level link needs one).
	root := &xhtml.Node{Type: xhtml.ElementNode, Data: "div", DataAtom: atom.Div}
	for _, n := range nodes {
		root.AppendChild(n)
	}
	normalizeTree(root)
	var buf bytes.Buffer
	for c := root.FirstChild; c != nil; c = c.NextSibling {
		if err := xhtml.Render(&buf, c); err != nil {
			return "<p>" + html.EscapeString(s.Text(in)) + "</p>"
		}
	}
	return strings.TrimSpace(s.rich.Sanitize(buf.String()))
}

// Text returns the plain text of remote HTML or of a plain-text field such
// as a display name: tags are dropped, the content of script, style and
// similar elements with them, entities are decoded, block boundaries and
// <br> become spaces (so "<p>a</p><p>b</p>" reads "a b" while
// "@<span>bob</span>" stays "@bob"), control characters are removed,
// whitespace runs collapse to one space, and the result is capped at
// maxTextRunes. The result is text, not HTML: escape it when writing it
// into a page.
//
// It uses the HTML tokenizer rather than the tree builder, which has no
// nesting limit and is all that stripping needs.
func (s *sanitizer) Text(in string) string {
	if in == "" {
		return ""
	}
	var b strings.Builder
	b.Grow(min(len(in), 4*maxTextRunes))
	space, n := false, 0
	write := func(text string) {
		for _, r := range text {
			if n >= maxTextRunes {
				return
			}
			switch {
			case unicode.IsSpace(r):
				space = b.Len() > 0
				continue
			case unicode.IsControl(r) || r == unicode.ReplacementChar:
				continue
			}
			if space {
				b.WriteByte(' ')
				n++
				space = false
			}
			b.WriteRune(r)
			n++
		}
	}
	z := xhtml.NewTokenizer(strings.NewReader(in))
	skip := 0 // depth inside elements whose content is not text
	for n < maxTextRunes {
		tt := z.Next()
		switch tt {
		case xhtml.ErrorToken:
			return b.String() // io.EOF, or input the tokenizer gave up on
		case xhtml.TextToken:
			if skip == 0 {
				write(string(z.Text()))
			}
		case xhtml.StartTagToken, xhtml.EndTagToken, xhtml.SelfClosingTagToken:
			name, _ := z.TagName()
			a := atom.Lookup(name)
			if hiddenContent(a) && tt != xhtml.SelfClosingTagToken {
				if tt == xhtml.StartTagToken {
					skip++
				} else if skip > 0 {
					skip--
				}
			}
			if breaksText(a) && b.Len() > 0 {
				space = true
			}
		}
	}
	return b.String()
}

// hiddenContent reports elements whose content is code or metadata rather
// than text a reader sees.
func hiddenContent(a atom.Atom) bool {
	switch a {
	case atom.Script, atom.Style, atom.Template, atom.Title, atom.Textarea, atom.Noscript,
		atom.Iframe, atom.Noembed, atom.Noframes, atom.Object, atom.Xmp, atom.Select:
		return true
	}
	return false
}

// breaksText reports elements that separate words when rendered.
func breaksText(a atom.Atom) bool {
	switch a {
	case atom.Br, atom.P, atom.Div, atom.Li, atom.Ul, atom.Ol, atom.Blockquote, atom.Pre,
		atom.H1, atom.H2, atom.H3, atom.H4, atom.H5, atom.H6, atom.Tr, atom.Td, atom.Th,
		atom.Hr, atom.Section, atom.Article, atom.Header, atom.Footer, atom.Dd, atom.Dt:
		return true
	}
	return false
}

// normalizeTree rewrites the parsed fragment rooted at n in place (see
// [sanitizer.HTML]).
func normalizeTree(n *xhtml.Node) {
	for c := n.FirstChild; c != nil; {
		next := c.NextSibling
		normalizeTree(c)
		c = next
	}
	if n.Type != xhtml.ElementNode {
		return
	}
	switch n.DataAtom {
	case atom.H1, atom.H2, atom.H3, atom.H4, atom.H5, atom.H6:
		strong := &xhtml.Node{Type: xhtml.ElementNode, Data: "strong", DataAtom: atom.Strong}
		for c := n.FirstChild; c != nil; {
			next := c.NextSibling
			n.RemoveChild(c)
			strong.AppendChild(c)
			c = next
		}
		n.Data, n.DataAtom, n.Attr = "p", atom.P, nil
		n.AppendChild(strong)
	case atom.A:
		href, ok := safeHref(attr(n, "href"))
		if !ok {
			unwrap(n)
			return
		}
		attrs := []xhtml.Attribute{{Key: "href", Val: href}, {Key: "rel", Val: linkRel}, {Key: "target", Val: "_blank"}}
		if class := filterClasses(attr(n, "class"), linkClasses); class != "" {
			attrs = append(attrs, xhtml.Attribute{Key: "class", Val: class})
		}
		n.Attr = attrs
	case atom.Span:
		class := filterClasses(attr(n, "class"), spanClasses)
		n.Attr = nil
		if class != "" {
			n.Attr = []xhtml.Attribute{{Key: "class", Val: class}}
		}
	}
}

// safeHref accepts absolute http(s) URLs with a host, and mailto.
func safeHref(raw string) (string, bool) {
	raw = strings.TrimSpace(raw)
	u, err := url.Parse(raw)
	if err != nil {
		return "", false
	}
	switch strings.ToLower(u.Scheme) {
	case "http", "https":
		return raw, u.Host != ""
	case "mailto":
		return raw, u.Opaque != ""
	}
	return "", false
}

// filterClasses keeps the tokens of a class attribute that appear in the
// space-separated allowed list, in order.
func filterClasses(value, allowed string) string {
	ok := strings.Fields(allowed)
	var kept []string
	for _, c := range strings.Fields(value) {
		if slices.Contains(ok, c) {
			kept = append(kept, c)
		}
	}
	return strings.Join(kept, " ")
}

func attr(n *xhtml.Node, key string) string {
	for _, a := range n.Attr {
		if a.Namespace == "" && a.Key == key {
			return a.Val
		}
	}
	return ""
}

// unwrap replaces n, which has a parent, by its children.
func unwrap(n *xhtml.Node) {
	parent := n.Parent
	for c := n.FirstChild; c != nil; {
		next := c.NextSibling
		n.RemoveChild(c)
		parent.InsertBefore(c, n)
		c = next
	}
	parent.RemoveChild(n)
}
