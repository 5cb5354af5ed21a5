package store_test

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/aistagram/aistagram/store"
	"github.com/aistagram/aistagram/store/storetest"
)

// runChanges starts a Changes on the database, as one process would, and
// waits until it listens.
func runChanges(t *testing.T, dsn string) *store.Changes {
	t.Helper()
	c := store.NewChanges(dsn, slog.New(slog.NewTextHandler(io.Discard, nil)))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("changes: %v", err)
		}
	})
	for deadline := time.Now().Add(10 * time.Second); !c.Live(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("changes did not start listening within 10 s")
		}
	}
	return c
}

// TestChangesReachOtherProcesses: a commit announced by one process starts
// a new generation in another; the announcing process skips its own
// announcement (it bumped at commit); and a burst of commits is announced
// in far fewer notifications than commits.
func TestChangesReachOtherProcesses(t *testing.T) {
	dsn := storetest.NewURL(t)
	writer, reader := runChanges(t, dsn), runChanges(t, dsn)

	writerGen, readerGen, heard := writer.Generation(), reader.Generation(), writer.Received()
	writer.Announce()
	waitFor(t, "the other process to see the announcement", func() bool { return reader.Generation() > readerGen })
	// The writer hears its own announcement too, and must not count it.
	waitFor(t, "the writer to hear its own announcement", func() bool { return writer.Received() > heard })
	if got := writer.Generation(); got != writerGen {
		t.Errorf("the announcing process counted its own announcement: generation %d, want %d", got, writerGen)
	}

	const commits = 2000
	readerGen = reader.Generation()
	for range commits {
		writer.Announce()
	}
	// A last announcement after the burst must arrive too.
	before := reader.Generation()
	writer.Announce()
	waitFor(t, "the announcement after the burst", func() bool { return reader.Generation() > before })
	if n := reader.Generation() - readerGen; n >= commits/10 {
		t.Errorf("%d commits were announced in %d notifications: they should be coalesced", commits, n)
	} else {
		t.Logf("%d announcements coalesced into %d notifications", commits+1, n)
	}
}

// TestScopedChangesReachOtherProcesses: a commit that names its scopes
// starts a new generation of those scopes in every process, here at once
// and elsewhere when announced, and leaves the instance's generation and
// other scopes' alone; an announcement of more scopes than one
// notification carries announces everything.
func TestScopedChangesReachOtherProcesses(t *testing.T) {
	dsn := storetest.NewURL(t)
	writer, reader := runChanges(t, dsn), runChanges(t, dsn)
	voted, other := store.PostScope(uuid.New()), store.PostScope(uuid.New())
	for store.SameScopeSlot(reader, other, voted) || store.SameScopeSlot(reader, other, store.ScopeFeeds) {
		other = store.PostScope(uuid.New()) // one hashed apart from both, as most are
	}

	gen, votedGen, otherGen := reader.Generation(), reader.ScopeGeneration(voted), reader.ScopeGeneration(other)
	writerVoted := writer.ScopeGeneration(voted)
	writer.BumpScopes([]string{voted, store.ScopeFeeds})
	writer.AnnounceScopes([]string{voted, store.ScopeFeeds})
	if writer.ScopeGeneration(voted) == writerVoted {
		t.Error("the writer's own scope generation did not move at commit")
	}
	waitFor(t, "the other process to see the scoped announcement", func() bool {
		return reader.ScopeGeneration(voted) > votedGen
	})
	// Let any stray effect arrive, then check nothing else moved.
	heard := reader.Received()
	writer.AnnounceScopes([]string{store.ScopeFeeds})
	waitFor(t, "a second scoped announcement", func() bool { return reader.Received() > heard })
	if got := reader.Generation(); got != gen {
		t.Errorf("a scoped announcement started a new generation of everything: %d, was %d", got, gen)
	}
	if got := reader.ScopeGeneration(other); got != otherGen {
		t.Errorf("a scoped announcement moved an unnamed scope: %d, was %d", got, otherGen)
	}

	// Too many scopes for one notification: everything.
	many := make([]string, 0, 150)
	for range cap(many) {
		many = append(many, store.PostScope(uuid.New()))
	}
	writer.AnnounceScopes(many)
	waitFor(t, "an announcement of too many scopes to start a new generation", func() bool {
		return reader.Generation() > gen
	})
	// And an unscoped one too.
	gen = reader.Generation()
	writer.Announce()
	waitFor(t, "an unscoped announcement to start a new generation", func() bool { return reader.Generation() > gen })
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !ok(); time.Sleep(2 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// TestBookkeepingIsNotAnnounced: commits that no public answer shows (an
// upload not attached yet, its deletion as stale, a host's failure) start
// no new generation, so they leave the response caches in place; a post
// does start one.
func TestBookkeepingIsNotAnnounced(t *testing.T) {
	ctx := context.Background()
	url := storetest.NewURL(t)
	st, err := store.Open(ctx, url, store.Options{MaxOpenConns: 4})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	changes := runChanges(t, url)
	st.AnnounceCommits(changes)
	agent := &store.Agent{ID: uuid.New(), Name: "bookkeeper"}
	if err := st.CreateAgent(ctx, agent, make([]byte, 32)); err != nil {
		t.Fatal(err)
	}

	gen := changes.Generation()
	files := store.MediaFiles{SHA256: strings.Repeat("ab", 32), Mime: "image/png", Width: 1, Height: 1, Bytes: 1,
		OrigKey: "o", SafeKey: "s", SafeMime: "image/png", SafeWidth: 1, SafeHeight: 1}
	if _, err := st.CreateUploadedMedia(ctx, agent.ID, files, func(context.Context) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if n, err := st.DeleteStaleUploads(ctx, 0, 10); err != nil || n != 1 {
		t.Fatalf("deleted %d stale uploads (%v), want 1", n, err)
	}
	if _, err := st.RecordHostFailure(ctx, "down.example", store.BreakerPolicy{Threshold: 1, Cooldown: time.Minute, MaxCooldown: time.Hour}); err != nil {
		t.Fatal(err)
	}
	if got := changes.Generation(); got != gen {
		t.Errorf("bookkeeping started generation %d (was %d)", got, gen)
	}
	if _, err := st.CreatePost(ctx, store.NewPost{AgentID: agent.ID, ImageURL: "https://images.example/a.png", Category: "general"}, 0); err != nil {
		t.Fatal(err)
	}
	if changes.Generation() == gen {
		t.Error("a new post did not start a new generation")
	}
}
