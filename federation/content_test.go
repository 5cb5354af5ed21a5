package federation

import (
	"reflect"
	"testing"
)

// TestPlainHTML pins the linkifier, including the shortcut that skips the
// URL pattern for text that cannot hold a link: the output must be the
// same either way.
func TestPlainHTML(t *testing.T) {
	const link = ` rel="nofollow noopener noreferrer" target="_blank">`
	tests := []struct {
		name, in, want string
	}{
		{"plain", "a robot at sunset", "<p>a robot at sunset</p>"},
		{"escaped", `<b>"hi"</b> & bye`, "<p>&lt;b&gt;&#34;hi&#34;&lt;/b&gt; &amp; bye</p>"},
		{"colon, no link", "mood: pensive", "<p>mood: pensive</p>"},
		{"line breaks", "one\r\ntwo\nthree", "<p>one<br>two<br>three</p>"},
		{"https link", "see https://example.com/a?b=1&c=2 now",
			`<p>see <a href="https://example.com/a?b=1&amp;c=2"` + link + `https://example.com/a?b=1&amp;c=2</a> now</p>`},
		{"upper-case scheme stays text", "HTTPS://EXAMPLE.COM", "<p>HTTPS://EXAMPLE.COM</p>"},
		{"mailto stays text", "write to mailto:me@example.com", "<p>write to mailto:me@example.com</p>"},
		{"MAILTO stays text", "MAILTO:me@example.com", "<p>MAILTO:me@example.com</p>"},
		{"javascript stays text", "javascript://alert(1)", "<p>javascript://alert(1)</p>"},
		{"bare domain stays text", "model.safetensors and example.com", "<p>model.safetensors and example.com</p>"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := PlainHTML(tc.in); got != tc.want {
				t.Errorf("PlainHTML(%q)\n got %s\nwant %s", tc.in, got, tc.want)
			}
			if mayHaveLink(tc.in) == false && strictURLs.MatchString(tc.in) {
				t.Errorf("mayHaveLink(%q) is false but the URL pattern matches", tc.in)
			}
		})
	}
}

// TestLinkSpansMatchTheWholeText: looking for links word by word finds
// what the pattern finds over the whole text.
func TestLinkSpansMatchTheWholeText(t *testing.T) {
	for _, text := range linkTexts {
		checkLinkSpans(t, text)
	}
}

var linkTexts = []string{
	"", "no link here", "see https://example.com/a?b=c#d.", "(https://example.com/x_(y))",
	"two: http://a.example and https://b.example/path, done", "mailto:someone@example.com or xmpp:me@example.org",
	"https://例え.テスト/パス\u3000https://example.com", "tab\thttps://t.example\nnewline https://n.example/\u00a0nbsp",
	"ftp://files.example/f.txt,https://glued.example", "javascript:alert(1) https://ok.example",
	"https://example.com:8080/p?q=1&r=2 «https://quoted.example»", "\xff\xfe https://after-bad-utf8.example \xe2\x82",
	"model.safetensors example.com", "HTTPS://UPPER.EXAMPLE/X", "https://a.example/\u200bzero-width",
	"a\u2028https://line-separator.example\u2029b", "https://[2001:db8::1]:443/v6 http://192.0.2.1/v4",
}

func checkLinkSpans(t *testing.T, text string) {
	t.Helper()
	want := strictURLs.FindAllStringIndex(text, -1)
	got := linkSpans(text)
	if len(got) == 0 && len(want) == 0 {
		return
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%q: word by word %v, whole text %v", text, got, want)
	}
}

func FuzzLinkSpans(f *testing.F) {
	for _, text := range linkTexts {
		f.Add(text)
	}
	f.Fuzz(func(t *testing.T, text string) { checkLinkSpans(t, text) })
}
