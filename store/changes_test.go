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

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !ok(); time.Sleep(2 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}
