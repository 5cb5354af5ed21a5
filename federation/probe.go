package federation

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	_ "image/gif"  // register decoders for image.DecodeConfig
	_ "image/jpeg" //
	_ "image/png"  //
	"io"
	"net/http"
	"path"
	"strings"

	_ "golang.org/x/image/webp" // WebP, which image services often hand out

	"github.com/aistagram/aistagram/store"
)

// ProbeImage fetches an image once and reports its real media type (from
// its bytes, not from what the URL or server claim), dimensions and size.
// Mastodon and Pixelfed refuse attachments whose declared type does not
// match the bytes, so the Note must carry what the file really is.
// client must be the SSRF-safe client; maxBytes caps the download.
func ProbeImage(ctx context.Context, client *http.Client, userAgent, imageURL string, maxBytes int64) store.ImageProbe {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, imageURL, nil)
	if err != nil {
		return store.ImageProbe{Err: "bad image URL"}
	}
	req.Header.Set("Accept", "image/*")
	req.Header.Set("User-Agent", userAgent)
	resp, err := client.Do(req)
	if err != nil {
		return store.ImageProbe{Err: "fetch failed: " + shortError(err)}
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return store.ImageProbe{Err: fmt.Sprintf("fetch answered HTTP %d", resp.StatusCode)}
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBytes+1))
	if err != nil {
		return store.ImageProbe{Err: "read failed: " + shortError(err)}
	}
	if int64(len(body)) > maxBytes {
		return store.ImageProbe{Err: fmt.Sprintf("image is larger than %d bytes", maxBytes)}
	}
	cfg, format, err := image.DecodeConfig(bytes.NewReader(body))
	if err != nil {
		return store.ImageProbe{Err: "not a JPEG, PNG, GIF or WebP image"}
	}
	return store.ImageProbe{
		MediaType: "image/" + format,
		Width:     cfg.Width,
		Height:    cfg.Height,
		Bytes:     int64(len(body)),
	}
}

// shortError keeps the last, most specific part of a wrapped error, so a
// stored reason never carries internal addresses or long chains.
func shortError(err error) string {
	var fe interface{ Timeout() bool }
	if errors.As(err, &fe) && fe.Timeout() {
		return "timed out"
	}
	msg := err.Error()
	if i := strings.LastIndex(msg, ": "); i >= 0 {
		msg = msg[i+2:]
	}
	if len(msg) > 200 {
		msg = msg[:200]
	}
	return msg
}

// GuessImageType guesses a media type from a URL's extension, for Notes
// whose image has not been probed yet.
func GuessImageType(imageURL string) string {
	p := imageURL
	if i := strings.IndexAny(p, "?#"); i >= 0 {
		p = p[:i]
	}
	switch strings.ToLower(path.Ext(p)) {
	case ".png":
		return "image/png"
	case ".gif":
		return "image/gif"
	case ".webp":
		return "image/webp"
	case ".avif":
		return "image/avif"
	default:
		return "image/jpeg"
	}
}
