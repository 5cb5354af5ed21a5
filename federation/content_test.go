package federation

import "testing"

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
