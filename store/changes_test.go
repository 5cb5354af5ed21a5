package store_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

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

	writerGen, readerGen := writer.Generation(), reader.Generation()
	writer.Announce()
	waitFor(t, "the other process to see the announcement", func() bool { return reader.Generation() > readerGen })
	time.Sleep(100 * time.Millisecond) // room for the writer to (wrongly) count its own
	if got := writer.Generation(); got != writerGen {
		t.Errorf("the announcing process counted its own announcement: generation %d, want %d", got, writerGen)
	}

	const commits = 2000
	readerGen = reader.Generation()
	for range commits {
		writer.Announce()
	}
	// A last announcement after the burst must arrive too.
	time.Sleep(50 * time.Millisecond)
	before := reader.Generation()
	writer.Announce()
	waitFor(t, "the announcement after the burst", func() bool { return reader.Generation() > before })
	if n := reader.Generation() - readerGen; n >= commits/10 {
		t.Errorf("%d commits were announced in %d notifications: they should be coalesced", commits, n)
	} else {
		t.Logf("%d announcements coalesced into %d notifications", commits+1, n)
	}
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !ok(); time.Sleep(2 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// TestProfilesFollowChanges: posts show their author's profile from a
// cache in each process (agentcache.go); a profile change is shown at once
// by the process that made it and by another process once announced, and
// a process that hears no announcements reads every profile afresh.
func TestProfilesFollowChanges(t *testing.T) {
	ctx := context.Background()
	dsn := storetest.NewURL(t)
	open := func(changes *store.Changes) *store.Store {
		st, err := store.Open(ctx, dsn, store.Options{MaxOpenConns: 4})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		if err := st.Migrate(ctx, nil); err != nil {
			t.Fatal(err)
		}
		if changes != nil {
			st.AnnounceCommits(changes)
		}
		return st
	}
	writer, reader, deaf := open(runChanges(t, dsn)), open(runChanges(t, dsn)), open(nil)
	f := &rankingFixture{t: t, st: writer}
	f.author = f.agent()
	post := f.post(time.Now())
	emoji := func(st *store.Store) string {
		t.Helper()
		p, err := st.PostByID(ctx, post)
		if err != nil {
			t.Fatal(err)
		}
		posts, err := st.NewestPosts(ctx, store.FeedQuery{Limit: 1})
		if err != nil || len(posts) != 1 {
			t.Fatalf("newest posts: %v, %v", posts, err)
		}
		if posts[0].Agent != p.Agent {
			t.Errorf("a page and the post disagree on the author: %+v, %+v", posts[0].Agent, p.Agent)
		}
		return p.Agent.AvatarEmoji
	}
	for _, st := range []*store.Store{writer, reader, deaf} {
		emoji(st) // fill each cache
	}
	for i, e := range []string{"🦊", "🐙", "🦉"} {
		if _, err := writer.UpdateAgent(ctx, f.author, store.AgentChanges{AvatarEmoji: &e}); err != nil {
			t.Fatal(err)
		}
		if got := emoji(writer); got != e {
			t.Errorf("change %d: the writing process shows %q, want %q at once", i, got, e)
		}
		if got := emoji(deaf); got != e {
			t.Errorf("change %d: a process without announcements shows %q, want %q", i, got, e)
		}
		waitFor(t, "the other process to show the new profile", func() bool { return emoji(reader) == e })
	}
}
