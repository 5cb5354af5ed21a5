package federation

import (
	"encoding/json"
	"strings"
	"sync"
	"testing"

	"github.com/aistagram/aistagram/activitypub/fixtures"
)

func TestSanitizeHTML(t *testing.T) {
	// The reply Mastodon sends, with the script and img a hostile server
	// could add, placeholders filled in.
	var create struct {
		Object struct {
			Content string `json:"content"`
		} `json:"object"`
	}
	raw := strings.NewReplacer("{{PEER}}", "https://masto.example", "{{TARGET_URL}}", "https://aistagram.example/@pixelbot",
		"{{TARGET_NAME}}", "pixelbot").Replace(string(fixtures.Read(t, "mastodon/create-note-reply.json")))
	if err := json.Unmarshal([]byte(raw), &create); err != nil {
		t.Fatal(err)
	}
	const link = `rel="nofollow noopener noreferrer" target="_blank"`

	s := newSanitizer()
	cases := []struct {
		name, in, want string
	}{
		{"Mastodon reply from the fixture", create.Object.Content,
			`<p><span class="h-card"><a href="https://aistagram.example/@pixelbot" ` + link + ` class="u-url mention">@<span>pixelbot</span></a></span> this is gorgeous! </p>`},
		{"empty", "", ""},
		{"plain text is escaped", `plain & <3 "text"`, `plain &amp; &lt;3 &#34;text&#34;`},
		{"allowed inline and block elements",
			`<p><em>a</em> <strong>b</strong> <b>c</b> <i>d</i> <u>e</u> <del>f</del> <code>g</code><br></p><pre>h</pre><blockquote>q</blockquote><ul><li>1</li></ul><ol><li>2</li></ol>`,
			`<p><em>a</em> <strong>b</strong> <b>c</b> <i>d</i> <u>e</u> <del>f</del> <code>g</code><br/></p><pre>h</pre><blockquote>q</blockquote><ul><li>1</li></ul><ol><li>2</li></ol>`},
		{"script and style are removed with their content", `<p>a<script>alert(1)</script><style>p{color:red}</style>b</p>`, `<p>ab</p>`},
		{"img, iframe, object are removed", `<p>x<img src="https://e.example/a.png" onerror="alert(1)"><iframe src="https://e.example"></iframe><object data="x"></object>y</p>`, `<p>xy</p>`},
		{"forms are removed", `<form action="https://e.example"><input name="q"><button>go</button></form>`, `go`},
		{"event handlers and styles are removed", `<p onclick="alert(1)" style="position:fixed" class="x">hi</p>`, `<p>hi</p>`},
		{"javascript: link is unwrapped", `<a href="javascript:alert(1)">click</a>`, `click`},
		{"obfuscated javascript: link is unwrapped", `<a href=" jAvAsCrIpT:alert(1)">x</a><a href="java&#x09;script:alert(1)">y</a>`, `xy`},
		{"data: and relative links are unwrapped", `<a href="data:text/html,<script>alert(1)</script>">d</a> <a href="/users/x">r</a>`, `d r`},
		{"https link gets forced rel and target", `<a href="https://e.example/x" rel="me" target="_self" title="t">x</a>`, `<a href="https://e.example/x" ` + link + `>x</a>`},
		{"mailto link", `<a href="mailto:a@e.example">mail</a>`, `<a href="mailto:a@e.example" ` + link + `>mail</a>`},
		{"link classes are filtered token by token", `<a href="https://e.example/tags/x" class="mention hashtag status-link" rel="tag">#x</a>`,
			`<a href="https://e.example/tags/x" ` + link + ` class="mention hashtag">#x</a>`},
		{"span classes are filtered token by token", `<span class="invisible">https://</span><span class="ellipsis evil">e.example/a</span><span class="big">z</span>`,
			`<span class="invisible">https://</span><span class="ellipsis">e.example/a</span><span>z</span>`},
		{"headings become bold paragraphs", `<h1 id="t">Title <em>it</em></h1><h6>small</h6>`, `<p><strong>Title <em>it</em></strong></p><p><strong>small</strong></p>`},
		{"unclosed tags are balanced", `<blockquote>quote <b>bold`, `<blockquote>quote <b>bold</b></blockquote>`},
		{"stray end tags vanish", `a</p></blockquote></div>b`, `a<p></p>b`},
		{"svg and math are removed", `<svg onload="alert(1)"><script>alert(2)</script></svg><math><mi xlink:href="javascript:alert(3)">m</mi></math>`, `m`},
		{"comments are removed", `a<!-- <script>alert(1)</script> -->b`, `ab`},
		{"too deep nesting falls back to text", strings.Repeat("<b>", 600) + "deep", `<p>deep</p>`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := s.HTML(c.in); got != c.want {
				t.Errorf("HTML(%.80q)\n got %q\nwant %q", c.in, got, c.want)
			}
		})
	}
}

func TestSanitizeText(t *testing.T) {
	s := newSanitizer()
	cases := []struct {
		name, in, want string
	}{
		{"plain name", "Alice 🌻", "Alice 🌻"},
		{"entities decoded", "Tom &amp; Jerry", "Tom & Jerry"},
		{"not a tag", "I <3 robots", "I <3 robots"},
		{"tags stripped", `<b>Bold</b> <img src=x onerror=alert(1)>name`, "Bold name"},
		{"script content dropped", `a<script>alert(1)</script>b<style>x{}</style>c`, "abc"},
		{"inline tags do not split words", `@<span>bob</span>`, "@bob"},
		{"blocks separate words", `<p>one</p><p>two</p>line<br>break`, "one two line break"},
		{"whitespace collapsed and controls removed", "  a \t\n b\x00\x07c\u200b ", "a bc\u200b"},
		{"reduced to nothing", `<script>x</script>`, ""},
		{"capped", strings.Repeat("x", 5000), strings.Repeat("x", maxTextRunes)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := s.Text(c.in); got != c.want {
				t.Errorf("Text(%.80q) = %q, want %q", c.in, got, c.want)
			}
		})
	}
}

// TestSanitizerConcurrent checks that one sanitizer serves many goroutines
// (run with -race).
func TestSanitizerConcurrent(t *testing.T) {
	s := newSanitizer()
	const in = `<p><a href="https://e.example" class="mention">x</a><script>y</script></p>`
	want := s.HTML(in)
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for range 50 {
				if got := s.HTML(in); got != want {
					t.Errorf("concurrent HTML = %q, want %q", got, want)
					return
				}
				_ = s.Text(in)
			}
		})
	}
	wg.Wait()
}
