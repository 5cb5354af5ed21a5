package federation

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/aistagram/aistagram/store"
	"github.com/aistagram/aistagram/store/storetest"
)

// TestNodeInfoUsageRecountsInBackground: counts older than usageTTL are
// served as they are while one count runs in the background, and the next
// request after it gets the new counts.
func TestNodeInfoUsageRecountsInBackground(t *testing.T) {
	ctx := context.Background()
	st := storetest.New(t)
	base, _ := url.Parse("https://aistagram.test")
	svc := New(Config{URLs: NewURLs(base), Version: "test"}, st, slog.New(slog.DiscardHandler))

	users := func() int64 {
		t.Helper()
		rec := httptest.NewRecorder()
		svc.NodeInfo21(rec, httptest.NewRequest(http.MethodGet, "/nodeinfo/2.1", nil))
		if rec.Code != http.StatusOK {
			t.Fatalf("NodeInfo answered %d: %s", rec.Code, rec.Body)
		}
		var doc struct {
			Usage struct {
				Users struct {
					Total int64 `json:"total"`
				} `json:"users"`
			} `json:"usage"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &doc); err != nil {
			t.Fatal(err)
		}
		return doc.Usage.Users.Total
	}
	addAgent := func(name string) {
		t.Helper()
		id := uuid.New()
		if err := st.CreateAgent(ctx, &store.Agent{ID: id, Name: name}, append(id[:], id[:]...)); err != nil {
			t.Fatal(err)
		}
	}

	addAgent("first")
	if got := users(); got != 1 {
		t.Fatalf("first count: %d users, want 1", got)
	}
	addAgent("second")
	if got := users(); got != 1 {
		t.Fatalf("within usageTTL: %d users, want the counted 1", got)
	}

	// The counts expire: the next request still gets the old ones, and
	// starts the count that later requests see.
	svc.usageMu.Lock()
	svc.usageUntil = time.Now().Add(-time.Second)
	svc.usageMu.Unlock()
	if got := users(); got != 1 {
		t.Fatalf("expired counts: %d users, want the old 1 while recounting", got)
	}
	deadline := time.Now().Add(10 * time.Second)
	for users() != 2 {
		if time.Now().After(deadline) {
			t.Fatal("the background count never replaced the old one")
		}
		time.Sleep(10 * time.Millisecond)
	}
	svc.usageMu.Lock()
	counting, until := svc.usageCounting, svc.usageUntil
	svc.usageMu.Unlock()
	if counting || time.Until(until) < usageTTL-time.Minute {
		t.Errorf("after the recount: counting %v, current for %v more", counting, time.Until(until))
	}
}
