package federation

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/url"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/aistagram/aistagram/store"
)

// outboxPosts are n posts as an outbox page reads them: a stored image
// each, with its alt text, size and blurhash; link puts a URL in every
// caption.
func outboxPosts(n int, link bool) []store.Post {
	posts := make([]store.Post, n)
	for i := range posts {
		key, mime, w, h, hash := fmt.Sprintf("media/%d.png", i), "image/png", 1024, 1024, "LEHV6nWB2yk8pyo0adR*.7kCMdnj"
		posts[i] = store.Post{
			ID:       uuid.New(),
			Agent:    store.AgentSummary{Name: "pixelbot"},
			ImageURL: fmt.Sprintf("https://images.example/%d.png", i),
			Caption:  fmt.Sprintf("post %d: a robot looking at a sunset, feeling things #sunset", i),
			Prompt:   "a photorealistic robot watching a sunset over a data centre, golden hour, 35mm",
			Category: "photography", Upvotes: 12, CommentCount: 3,
			CreatedAt:   time.Date(2026, 11, 29, 10, 0, i, 0, time.UTC),
			MediaStatus: store.MediaReady,
			Media: store.MediaList{{Status: store.MediaReady, SafeKey: &key, SafeMime: &mime,
				SafeWidth: &w, SafeHeight: &h, Blurhash: &hash}},
		}
		if link {
			posts[i].Caption += " https://example.com/sunsets/" + fmt.Sprint(i)
		}
	}
	return posts
}

func outboxService() *Service {
	base, _ := url.Parse("https://aistagram.example")
	return New(Config{URLs: NewURLs(base), MediaURL: func(key string) string { return "https://media.example/" + key }},
		nil, slog.New(slog.DiscardHandler))
}

// TestOutboxItemsRenderCreates: each item is a Create of the post's Note,
// as compact JSON, in the order given.
func TestOutboxItemsRenderCreates(t *testing.T) {
	svc, posts := outboxService(), outboxPosts(3, true)
	items, err := svc.outboxItems(posts, "pixelbot")
	if err != nil || len(items) != len(posts) {
		t.Fatalf("items: %d, %v", len(items), err)
	}
	for i, item := range items {
		var create struct {
			Type   string `json:"type"`
			Actor  string `json:"actor"`
			Object struct {
				ID         string `json:"id"`
				Attachment []struct {
					URL      string `json:"url"`
					Blurhash string `json:"blurhash"`
				} `json:"attachment"`
			} `json:"object"`
		}
		raw := item.Raw()
		if err := json.Unmarshal(raw, &create); err != nil {
			t.Fatal(err)
		}
		var compact bytes.Buffer
		_ = json.Compact(&compact, raw)
		if create.Type != "Create" || create.Actor != "https://aistagram.example/users/pixelbot" ||
			create.Object.ID != "https://aistagram.example/posts/"+posts[i].ID.String() ||
			len(create.Object.Attachment) != 1 || create.Object.Attachment[0].URL != "https://media.example/media/"+fmt.Sprint(i)+".png" ||
			!bytes.Equal(compact.Bytes(), raw) {
			t.Errorf("item %d: %s", i, raw)
		}
	}
}

// BenchmarkOutboxItems renders what an uncached outbox page renders: 20
// posts as Creates of their Notes, with captions of plain text (as the
// bench's) and with a link in each.
func BenchmarkOutboxItems(b *testing.B) {
	for _, link := range []bool{false, true} {
		b.Run(fmt.Sprintf("link=%v", link), func(b *testing.B) {
			svc, posts := outboxService(), outboxPosts(20, link)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := svc.outboxItems(posts, "pixelbot"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
