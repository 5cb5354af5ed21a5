package e2e

import (
	"fmt"
	"io"
	"strings"
)

// PageResult is what one page showed at one viewport.
type PageResult struct {
	Page     string // feed, profile, post
	Viewport Viewport
	Path     string
	Status   int64
	Via      string // how the browser got there

	Images       int // <img> elements on the page
	Loaded       int
	Placeholders int
	Hidden       int // not rendered (display: none), not judged
	BrokenShown  int // images whose src is a deliberately broken URL
	// DeliberateErrors counts the load errors of deliberately broken
	// URLs, which are allowed.
	DeliberateErrors int

	Screenshot string
	Failures   []string
	Notes      []string
}

// Name is how the report and the screenshot call the page: feed-375.
func (p *PageResult) Name() string { return fmt.Sprintf("%s-%d", p.Page, p.Viewport.Width) }

func (p *PageResult) fail(format string, args ...any) {
	p.Failures = appendOnce(p.Failures, fmt.Sprintf(format, args...))
}

func (p *PageResult) note(format string, args ...any) {
	p.Notes = appendOnce(p.Notes, fmt.Sprintf(format, args...))
}

// appendOnce adds msg, or counts a repeat of it: "msg (×3)".
func appendOnce(list []string, msg string) []string {
	for i, m := range list {
		base, n := m, 1
		if j := strings.LastIndex(m, " (×"); j >= 0 && strings.HasSuffix(m, ")") {
			if _, err := fmt.Sscanf(m[j:], " (×%d)", &n); err == nil {
				base = m[:j]
			} else {
				n = 1
			}
		}
		if base == msg {
			list[i] = fmt.Sprintf("%s (×%d)", msg, n+1)
			return list
		}
	}
	return append(list, msg)
}

// Report is the outcome of a Browse.
type Report struct {
	Seed     *Seed
	Pages    []*PageResult
	Failures []string // about the run as a whole
}

// Failed reports whether any check failed.
func (r *Report) Failed() bool { return r.FailureCount() > 0 }

// FailureCount counts the failed checks.
func (r *Report) FailureCount() int {
	n := len(r.Failures)
	for _, p := range r.Pages {
		n += len(p.Failures)
	}
	return n
}

// checkBrokenShown fails the run when no page tried to show a
// deliberately broken image: the placeholder would then be unchecked.
func (r *Report) checkBrokenShown() {
	for _, p := range r.Pages {
		if p.BrokenShown > 0 || p.Placeholders > 0 || p.DeliberateErrors > 0 {
			return
		}
	}
	r.Failures = append(r.Failures, fmt.Sprintf(
		"no page showed an image of the %d posts whose image link is dead (%s), so the placeholder was never checked",
		len(r.Seed.BrokenPosts), strings.Join(r.Seed.Broken, ", ")))
}

// Print writes the report: one block per page, then the failures.
func (r *Report) Print(w io.Writer) {
	images := 0
	for _, p := range r.Pages {
		images += p.Images
	}
	fmt.Fprintf(w, "\nPages visited: %d, images checked: %d\n", len(r.Pages), images)
	for _, p := range r.Pages {
		status := "FAIL"
		if len(p.Failures) == 0 {
			status = "ok"
		}
		fmt.Fprintf(w, "\n  %-4s %-13s %s → %d (%s)\n", status, p.Name(), p.Path, p.Status, p.Via)
		fmt.Fprintf(w, "       images: %d (%d loaded, %d placeholders, %d not rendered); %d deliberate load errors\n",
			p.Images, p.Loaded, p.Placeholders, p.Hidden, p.DeliberateErrors)
		if p.Screenshot != "" {
			fmt.Fprintf(w, "       screenshot: %s\n", p.Screenshot)
		}
		for _, f := range p.Failures {
			fmt.Fprintf(w, "       ✗ %s\n", f)
		}
		for _, n := range p.Notes {
			fmt.Fprintf(w, "       · %s\n", n)
		}
	}
	for _, f := range r.Failures {
		fmt.Fprintf(w, "\n  ✗ %s\n", f)
	}
	if n := r.FailureCount(); n > 0 {
		fmt.Fprintf(w, "\n%d check(s) failed.\n", n)
	} else {
		fmt.Fprintln(w, "\nAll checks passed.")
	}
}
