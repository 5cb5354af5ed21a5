package e2e

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
)

// recorder receives a tab's events in the order Chromium sends them (it
// is a chromedp listener, so it must return fast and send no command).
// It charges console errors, uncaught exceptions and failed loads to the
// page being checked, and counts the requests in flight so a check can
// wait for the network to go quiet.
type recorder struct {
	broken []string // URL prefixes whose failures are deliberate

	mu       sync.Mutex
	page     *PageResult
	inflight map[network.RequestID]string
	docs     map[string]bool // URLs of the pages themselves
	last     time.Time       // last network activity
}

func newRecorder(broken []string) *recorder {
	return &recorder{broken: broken, inflight: map[network.RequestID]string{}, docs: map[string]bool{}}
}

// startPage makes p the page that later events are charged to, and
// forgets requests of the previous one.
func (r *recorder) startPage(p *PageResult) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.page = p
	clear(r.inflight)
	r.last = time.Now()
}

func (r *recorder) listen(ev any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch ev := ev.(type) {
	case *runtime.EventConsoleAPICalled:
		if ev.Type == runtime.ConsoleAPICalledTypeError || ev.Type == runtime.ConsoleAPICalledTypeAssert {
			r.fail("console.%s: %s", ev.Type, argsText(ev.Args))
		}
	case *runtime.EventExceptionThrown:
		r.fail("uncaught exception: %s", exceptionText(ev.ExceptionDetails))
	case *log.EventEntryAdded:
		// Failed resource loads arrive here ("Failed to load resource"),
		// as do CSP violations and other browser-side errors.
		e := ev.Entry
		if e == nil || e.Level != log.EntryLevelError {
			return
		}
		if r.docs[e.URL] && e.Source == log.EntrySourceNetwork {
			return // a page's own status is checked, and reported, on its own
		}
		if r.deliberate(e.URL) || (e.URL == "" && r.mentionsBroken(e.Text)) {
			if r.page != nil {
				r.page.DeliberateErrors++
			}
			return
		}
		msg := fmt.Sprintf("%s error: %s", e.Source, e.Text)
		if e.URL != "" && !strings.Contains(e.Text, e.URL) {
			msg += " (" + e.URL + ")"
		}
		r.fail("%s", msg)
	case *network.EventRequestWillBeSent:
		r.last = time.Now()
		if ev.Type == network.ResourceTypeDocument {
			r.docs[ev.Request.URL] = true
		}
		if !strings.HasPrefix(ev.Request.URL, "data:") {
			r.inflight[ev.RequestID] = ev.Request.URL
		}
	case *network.EventLoadingFinished:
		r.last = time.Now()
		delete(r.inflight, ev.RequestID)
	case *network.EventLoadingFailed:
		r.last = time.Now()
		delete(r.inflight, ev.RequestID)
	}
}

func (r *recorder) fail(format string, args ...any) {
	if r.page == nil {
		return // before the first page: about:blank
	}
	r.page.fail(format, args...)
}

func (r *recorder) deliberate(url string) bool {
	for _, p := range r.broken {
		if strings.HasPrefix(url, p) {
			return true
		}
	}
	return false
}

func (r *recorder) mentionsBroken(text string) bool {
	for _, p := range r.broken {
		if strings.Contains(text, p) {
			return true
		}
	}
	return false
}

// waitIdle waits until no request has been in flight for quiet, or until
// limit has passed; then it returns the URLs still loading.
func (r *recorder) waitIdle(ctx context.Context, quiet, limit time.Duration) []string {
	deadline := time.Now().Add(limit)
	for {
		r.mu.Lock()
		idle := len(r.inflight) == 0 && time.Since(r.last) >= quiet
		var pending []string
		if !idle && time.Now().After(deadline) {
			for _, u := range r.inflight {
				pending = append(pending, u)
			}
		}
		r.mu.Unlock()
		if idle {
			return nil
		}
		if pending != nil {
			slices.Sort(pending)
			return pending
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func argsText(args []*runtime.RemoteObject) string {
	var parts []string
	for _, a := range args {
		switch {
		case a == nil:
		case a.Description != "":
			parts = append(parts, a.Description)
		case len(a.Value) > 0:
			s := string(a.Value)
			if len(s) >= 2 && s[0] == '"' {
				s = strings.Trim(s, `"`)
			}
			parts = append(parts, s)
		case a.UnserializableValue != "":
			parts = append(parts, string(a.UnserializableValue))
		default:
			parts = append(parts, string(a.Type))
		}
	}
	return strings.Join(parts, " ")
}

func exceptionText(d *runtime.ExceptionDetails) string {
	if d == nil {
		return "(no details)"
	}
	s := d.Text
	if d.Exception != nil && d.Exception.Description != "" {
		// The description is the message, then the stack, a line a frame.
		msg, _, _ := strings.Cut(d.Exception.Description, "\n")
		s += " " + msg
	}
	if d.URL != "" {
		s += fmt.Sprintf(" at %s:%d:%d", d.URL, d.LineNumber+1, d.ColumnNumber+1)
	}
	return s
}
