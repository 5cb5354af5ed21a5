package e2e

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// Options says which browser to drive, where, and where screenshots go.
type Options struct {
	Chromium      string // the chromium binary
	Base          string // the instance, http://127.0.0.1:PORT
	Seed          *Seed
	ScreenshotDir string
	ProfileDir    string // a throwaway --user-data-dir
	Logf          func(string, ...any)
}

// Viewport is a window the pages are checked in.
type Viewport struct {
	Name          string
	Width, Height int64
	Scale         float64
	Mobile        bool // honour <meta name=viewport>, touch
}

// Viewports are a desktop window and a phone (an iPhone X's CSS size).
var Viewports = []Viewport{
	{Name: "desktop", Width: 1280, Height: 900, Scale: 1},
	{Name: "phone", Width: 375, Height: 812, Scale: 2, Mobile: true},
}

// Browse starts headless Chromium and walks feed → profile → post at
// every viewport, checking each page (see check.go).
func Browse(ctx context.Context, o Options) (*Report, error) {
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(o.Chromium),
		chromedp.UserDataDir(o.ProfileDir),
		chromedp.Headless,  // also hides scrollbars, so widths are the viewport's
		chromedp.NoSandbox, // we run as root, where the sandbox refuses to start
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		// Nothing but the pages under test may touch the network.
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-default-apps", true),
		chromedp.Flag("disable-domain-reliability", true),
		chromedp.Flag("no-pings", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-breakpad", true),
		chromedp.Flag("metrics-recording-only", true),
		chromedp.Flag("disable-features", "Translate,MediaRouter,OptimizationHints"),
		// /dev/shm is tiny in containers; Chromium crashes when it fills.
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("force-color-profile", "srgb"),
		chromedp.Flag("lang", "en-US"),
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	defer cancelAlloc()
	browserCtx, cancelBrowser := chromedp.NewContext(allocCtx)
	defer cancelBrowser()
	if err := chromedp.Do(browserCtx); err != nil {
		return nil, fmt.Errorf("start %s: %w", o.Chromium, err)
	}
	if err := os.MkdirAll(o.ScreenshotDir, 0o755); err != nil {
		return nil, err
	}
	rep := &Report{Seed: o.Seed}
	for _, vp := range Viewports {
		pages, err := walk(browserCtx, o, vp)
		rep.Pages = append(rep.Pages, pages...)
		if err != nil {
			return rep, err
		}
	}
	rep.checkBrokenShown()
	return rep, nil
}

// walk opens a tab at vp and goes feed → profile → post, preferring the
// links a person would click, and opening the URL directly (with a note)
// when a page has no such link.
func walk(parent context.Context, o Options, vp Viewport) ([]*PageResult, error) {
	rec := newRecorder(o.Seed.Broken)
	ctx, cancel := chromedp.NewContext(parent, chromedp.WithListener(rec.listen))
	defer cancel()
	emulate := []chromedp.EmulateViewportOption{chromedp.EmulateScale(vp.Scale)}
	if vp.Mobile {
		emulate = append(emulate, chromedp.EmulateMobile, chromedp.EmulateTouch, chromedp.EmulatePortrait)
	}
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(vp.Width, vp.Height, emulate...)); err != nil {
		return nil, fmt.Errorf("set the %s viewport: %w", vp.Name, err)
	}

	steps := []struct{ page, path string }{
		{"feed", "/"},
		{"profile", "/@" + o.Seed.Target},
		{"post", "/p/" + o.Seed.TargetPost},
	}
	var pages []*PageResult
	for i, s := range steps {
		p := &PageResult{Page: s.page, Viewport: vp, Path: s.path}
		pages = append(pages, p)
		o.Logf("%s at %d×%d: %s", s.page, vp.Width, vp.Height, s.path)
		rec.startPage(p)
		var resp *network.Response
		var err error
		if i == 0 {
			p.Via = "opened"
			resp, err = navigate(ctx, o.Base+s.path)
		} else {
			resp, err = follow(ctx, o.Base, s.path, steps[i-1].page, p)
		}
		if err != nil {
			if ctx.Err() != nil {
				return pages, err
			}
			p.fail("could not load %s: %v", s.path, err)
			continue
		}
		p.Status = resp.Status
		if u, err := url.Parse(resp.URL); err == nil {
			p.Path = u.RequestURI()
		}
		if resp.Status != 200 {
			p.fail("GET %s answered %d %s", p.Path, resp.Status, resp.StatusText)
		}
		if err := checkPage(ctx, rec, p, o.Seed.Broken); err != nil {
			if ctx.Err() != nil {
				return pages, err
			}
			p.fail("checking the page: %v", err)
		}
		shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err != nil {
			p.fail("screenshot: %v", err)
			continue
		}
		p.Screenshot = filepath.Join(o.ScreenshotDir, fmt.Sprintf("%s-%d.png", s.page, vp.Width))
		if err := os.WriteFile(p.Screenshot, shot, 0o644); err != nil {
			return pages, err
		}
	}
	return pages, nil
}

// navigate opens a URL and waits for it to load.
func navigate(ctx context.Context, u string) (*network.Response, error) {
	tctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	resp, err := chromedp.Run(tctx, chromedp.NavigateResponse(u))
	if err == nil && resp == nil {
		err = errors.New("no response")
	}
	return resp, err
}

// findLinkJS marks the first rendered same-origin link to the path (the
// argument) with data-e2e-next and scrolls it to the middle of the
// window, so a click lands on it and not under a sticky header.
const findLinkJS = `(want) => {
	for (const e of document.querySelectorAll("[data-e2e-next]")) e.removeAttribute("data-e2e-next");
	for (const a of document.querySelectorAll("a[href]")) {
		let u;
		try { u = new URL(a.href, location.href); } catch (e) { continue; }
		if (u.origin !== location.origin || decodeURIComponent(u.pathname) !== want) continue;
		if (a.getClientRects().length === 0) continue;
		a.setAttribute("data-e2e-next", "");
		a.scrollIntoView({block: "center", inline: "nearest"});
		return true;
	}
	return false;
}`

// follow clicks the link to path on the current page, or opens path
// directly when the page has no rendered link to it.
func follow(ctx context.Context, base, path, from string, p *PageResult) (*network.Response, error) {
	found, err := chromedp.Run(ctx, chromedp.Evaluate[bool]("("+findLinkJS+")("+jsString(path)+")"))
	if err != nil {
		return nil, err
	}
	if !found {
		p.Via = "opened directly: the " + from + " page has no link to it"
		p.note("the %s page has no visible link to %s; opened it by URL", from, path)
		return navigate(ctx, base+path)
	}
	tctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	resp, err := chromedp.RunResponse(tctx, chromedp.Click(chromedp.CSS("[data-e2e-next]"), chromedp.NodeVisible))
	if err == nil && resp != nil {
		p.Via = "clicked a link on the " + from + " page"
		return resp, nil
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	p.fail("clicking the link to %s on the %s page did not open it (%v); opened it by URL", path, from, err)
	p.Via = "opened directly: the click failed"
	return navigate(ctx, base+path)
}
