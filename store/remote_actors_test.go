package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/aistagram/aistagram/store"
	"github.com/aistagram/aistagram/store/storetest"
)

func TestRemoteActors(t *testing.T) {
	st := storetest.New(t)
	ctx := context.Background()

	fetched := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	in := &store.RemoteActor{
		URI: "https://masto.example/users/alice", Type: "Person", Username: "alice", Host: "masto.example",
		Name: "Alice", SummaryHTML: "<p>hi</p>", URL: "https://masto.example/@alice",
		IconURL: "https://cdn.example/a.png", Inbox: "https://masto.example/users/alice/inbox",
		SharedInbox: "https://masto.example/inbox", FollowersURI: "https://masto.example/users/alice/followers",
		KeyID: "https://masto.example/users/alice#main-key", PublicKeyPEM: "PEM1", FetchedAt: fetched,
	}
	first, err := st.UpsertRemoteActor(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	if first.ID == 0 || first.CreatedAt.IsZero() || !first.FetchedAt.Equal(fetched) {
		t.Fatalf("inserted row: %+v", first)
	}
	want := *in
	want.ID, want.CreatedAt, want.FetchedAt = first.ID, first.CreatedAt, first.FetchedAt
	if *first != want {
		t.Errorf("inserted row\n got %+v\nwant %+v", *first, want)
	}

	// An update by URI keeps id and created_at and replaces the rest; a
	// zero FetchedAt means now.
	changed := *in
	changed.Name, changed.KeyID, changed.PublicKeyPEM, changed.SharedInbox = "Alice 2", "https://masto.example/users/alice#key2", "PEM2", ""
	changed.FetchedAt = time.Time{}
	before := time.Now()
	second, err := st.UpsertRemoteActor(ctx, &changed)
	if err != nil {
		t.Fatal(err)
	}
	if second.ID != first.ID || !second.CreatedAt.Equal(first.CreatedAt) {
		t.Errorf("update changed identity: %d %v -> %d %v", first.ID, first.CreatedAt, second.ID, second.CreatedAt)
	}
	if second.Name != "Alice 2" || second.KeyID != changed.KeyID || second.PublicKeyPEM != "PEM2" || second.SharedInbox != "" {
		t.Errorf("update not applied: %+v", second)
	}
	if second.FetchedAt.Before(before.Add(-time.Minute)) {
		t.Errorf("fetched_at %v, want about now", second.FetchedAt)
	}

	for name, get := range map[string]func() (*store.RemoteActor, error){
		"by uri":    func() (*store.RemoteActor, error) { return st.RemoteActorByURI(ctx, in.URI) },
		"by key id": func() (*store.RemoteActor, error) { return st.RemoteActorByKeyID(ctx, changed.KeyID) },
		"by id":     func() (*store.RemoteActor, error) { return st.RemoteActorByID(ctx, first.ID) },
	} {
		got, err := get()
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if *got != *second {
			t.Errorf("%s:\n got %+v\nwant %+v", name, *got, *second)
		}
	}

	for name, get := range map[string]func() (*store.RemoteActor, error){
		"unknown uri": func() (*store.RemoteActor, error) {
			return st.RemoteActorByURI(ctx, "https://masto.example/users/nobody")
		},
		"old key id":   func() (*store.RemoteActor, error) { return st.RemoteActorByKeyID(ctx, in.KeyID) },
		"empty key id": func() (*store.RemoteActor, error) { return st.RemoteActorByKeyID(ctx, "") },
		"unknown id":   func() (*store.RemoteActor, error) { return st.RemoteActorByID(ctx, first.ID+1000) },
	} {
		if got, err := get(); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("%s: got %+v, %v; want ErrNotFound", name, got, err)
		}
	}

	for name, bad := range map[string]*store.RemoteActor{
		"nil":      nil,
		"no uri":   {Type: "Person", Host: "h.example", Inbox: "https://h.example/inbox"},
		"no inbox": {URI: "https://h.example/u", Type: "Person", Host: "h.example"},
	} {
		if _, err := st.UpsertRemoteActor(ctx, bad); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("%s: err %v, want ErrInvalid", name, err)
		}
	}
}
