package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/chromedp/chromedp"
)

// scrollJS scrolls to the bottom a window at a time, so lazy images start
// loading, brings every image still loading into view (a carousel's
// later slides), then returns to the top for the screenshot.
const scrollJS = `(async () => {
	const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
	for (let i = 0; i < 300; i++) {
		const before = window.scrollY;
		window.scrollBy(0, Math.max(200, Math.floor(window.innerHeight * 0.8)));
		await sleep(100);
		if (window.scrollY === before) break;
	}
	for (const img of document.images) {
		if (!img.complete && img.getClientRects().length > 0) {
			img.scrollIntoView({block: "center", inline: "nearest"});
			await sleep(100);
		}
	}
	for (const e of document.querySelectorAll("*")) if (e.scrollLeft) e.scrollLeft = 0;
	window.scrollTo(0, 0);
	await sleep(100);
	return true;
})()`

// imagesSettledJS is true once every rendered image finished, one way or
// the other (complete is also true for a broken image).
const imagesSettledJS = `Array.from(document.images).every((i) => i.complete || i.getClientRects().length === 0)`

// imagesJS describes every <img>. An image "shows its placeholder" by the
// web package's convention: data-placeholder="shown", the class
// img-failed, or a src that is a placeholder SVG under /static/.
const imagesJS = `Array.from(document.images).map((img) => {
	const src = img.currentSrc || img.src || "";
	let path = "";
	try { const u = new URL(src, location.href); if (u.origin === location.origin) path = u.pathname; } catch (e) {}
	return {
		src: src,
		complete: img.complete,
		naturalWidth: img.naturalWidth,
		rendered: img.getClientRects().length > 0,
		placeholder: img.getAttribute("data-placeholder") === "shown" || img.classList.contains("img-failed") ||
			(path.startsWith("/static/") && path.endsWith(".svg")),
		alt: img.hasAttribute("alt"),
		sized: img.hasAttribute("width") && img.hasAttribute("height"),
	};
})`

type imageInfo struct {
	Src          string `json:"src"`
	Complete     bool   `json:"complete"`
	NaturalWidth int    `json:"naturalWidth"`
	Rendered     bool   `json:"rendered"`
	Placeholder  bool   `json:"placeholder"`
	Alt          bool   `json:"alt"`
	Sized        bool   `json:"sized"`
}

// overflowJS measures horizontal overflow against the viewport width
// (the argument) and, when there is some, names the outermost elements
// and the text that stick out past it, inside no element that scrolls or
// clips them: the ones to fix. The layout viewport's width is
// documentElement.clientWidth: on a phone Chromium zooms out to show an
// overflowing page whole, and innerWidth then grows with the page.
const overflowJS = `(limit) => {
	const cw = document.documentElement.clientWidth, sw = document.documentElement.scrollWidth;
	const out = [], seen = new Set();
	const clipped = (e) => {
		for (let p = e.parentElement; p && p !== document.body && p !== document.documentElement; p = p.parentElement)
			if (getComputedStyle(p).overflowX !== "visible") return true;
		return false;
	};
	const describe = (e) => {
		let what = e.tagName.toLowerCase();
		if (e.id) what += "#" + e.id;
		for (const c of Array.from(e.classList).slice(0, 3)) what += "." + c;
		return what;
	};
	// The longest run of text without a space is usually the culprit:
	// a URL, a hash, a name.
	const longest = (text) => (text || "").split(/\s+/).reduce((a, b) => (b.length > a.length ? b : a), "");
	// culprit is the first word of a text node that crosses the edge.
	const culprit = (n) => {
		const re = /\S+/g;
		for (let m = re.exec(n.textContent); m; m = re.exec(n.textContent)) {
			const r = document.createRange();
			r.setStart(n, m.index);
			r.setEnd(n, m.index + m[0].length);
			for (const q of r.getClientRects()) if (q.right > limit + 0.5) return m[0];
		}
		return longest(n.textContent);
	};
	const add = (e, r, text) => {
		if (seen.has(e) || out.length >= 5) return;
		seen.add(e);
		out.push({what: describe(e), right: Math.round(r.right), text: text});
	};
	if (sw > limit) {
		const sticks = (e) => { const r = e.getBoundingClientRect(); return r.width > 0 && r.right > limit + 0.5; };
		for (const e of document.body.querySelectorAll("*")) {
			if (!sticks(e) || !e.checkVisibility() || clipped(e) ||
				(e.parentElement && e.parentElement !== document.body && sticks(e.parentElement))) continue;
			add(e, e.getBoundingClientRect(), longest(e.textContent));
		}
		// Text overflowing a box that fits (an unbreakable URL) makes
		// no box stick out: look at the text itself.
		const walk = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
		for (let n = walk.nextNode(); n; n = walk.nextNode()) {
			if (!n.textContent.trim() || !n.parentElement || !n.parentElement.checkVisibility()) continue;
			const range = document.createRange();
			range.selectNodeContents(n);
			const r = range.getBoundingClientRect();
			if (r.right > limit + 0.5 && !clipped(n.parentElement) && !seen.has(n.parentElement)) add(n.parentElement, r, culprit(n));
		}
	}
	return {innerWidth: window.innerWidth, clientWidth: cw, scrollWidth: sw, offenders: out};
}`

type overflowInfo struct {
	InnerWidth  int64 `json:"innerWidth"`
	ClientWidth int64 `json:"clientWidth"`
	ScrollWidth int64 `json:"scrollWidth"`
	Offenders   []struct {
		What  string `json:"what"`
		Right int    `json:"right"`
		Text  string `json:"text"` // the word that crosses the edge, or the longest
	} `json:"offenders"`
}

// checkPage waits for the page to settle (network quiet, lazy images
// loaded) and checks it: no horizontal overflow, and every image loaded
// or showing its placeholder. Console errors and failed loads are
// charged to p by the recorder meanwhile.
func checkPage(ctx context.Context, rec *recorder, p *PageResult, broken []string) error {
	if pending := rec.waitIdle(ctx, 500*time.Millisecond, 10*time.Second); pending != nil {
		p.note("still loading after 10s: %s", strings.Join(pending, ", "))
	}
	if err := chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](scrollJS, chromedp.EvalAwaitPromise)); err != nil {
		return fmt.Errorf("scroll: %w", err)
	}
	if pending := rec.waitIdle(ctx, 500*time.Millisecond, 10*time.Second); pending != nil {
		p.note("still loading after scrolling and 10s: %s", strings.Join(pending, ", "))
	}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	_, err := chromedp.Run(pctx, chromedp.Poll[bool](imagesSettledJS, chromedp.WithPollingInterval(100*time.Millisecond)))
	cancel()
	if err != nil && ctx.Err() == nil {
		p.note("images still loading after 10s")
	}
	// Give the page's own error handlers a moment to swap in placeholders.
	if err := chromedp.Do(ctx, chromedp.Sleep(300*time.Millisecond)); err != nil {
		return err
	}

	ov, err := chromedp.Run(ctx, chromedp.Evaluate[overflowInfo](fmt.Sprintf("(%s)(%d)", overflowJS, p.Viewport.Width)))
	if err != nil {
		return fmt.Errorf("measure overflow: %w", err)
	}
	if p.Viewport.Mobile && ov.ClientWidth != p.Viewport.Width {
		p.fail("the layout is %d CSS px wide on a %d px phone: no <meta name=\"viewport\" content=\"width=device-width\">?", ov.ClientWidth, p.Viewport.Width)
	}
	if ov.ScrollWidth > p.Viewport.Width {
		var who []string
		for _, o := range ov.Offenders {
			w := fmt.Sprintf("<%s> reaches %d px", o.What, o.Right)
			if o.Text != "" {
				run := []rune(o.Text)
				if len(run) > 40 {
					w += fmt.Sprintf(", unbreakable text %q (%d characters)", string(run[:40])+"…", len(run))
				} else {
					w += fmt.Sprintf(", unbreakable text %q", o.Text)
				}
			}
			who = append(who, w)
		}
		p.fail("horizontal overflow: the page is %d px wide in a %d px window (document.documentElement.scrollWidth > %d); sticking out: %s",
			ov.ScrollWidth, p.Viewport.Width, p.Viewport.Width, strings.Join(who, "; "))
	}

	imgs, err := chromedp.Run(ctx, chromedp.Evaluate[[]imageInfo](imagesJS))
	if err != nil {
		return fmt.Errorf("list images: %w", err)
	}
	var noAlt, unsized int
	for _, img := range imgs {
		p.Images++
		isBroken := false
		for _, b := range broken {
			isBroken = isBroken || strings.HasPrefix(img.Src, b)
		}
		if isBroken {
			p.BrokenShown++
		}
		switch {
		case !img.Rendered:
			p.Hidden++
			continue
		case img.Complete && img.NaturalWidth > 0 && !img.Placeholder:
			p.Loaded++
		case img.Placeholder:
			p.Placeholders++
		default:
			why := "it did not load"
			if !img.Complete {
				why = "it is still loading"
			}
			p.fail("<img src=%q> neither loaded nor shows its placeholder (%s)", img.Src, why)
		}
		if !img.Alt {
			noAlt++
		}
		if !img.Sized {
			unsized++
		}
	}
	if noAlt > 0 {
		p.note("%d of %d images have no alt attribute", noAlt, len(imgs))
	}
	if unsized > 0 {
		p.note("%d of %d images have no width and height attributes (layout shifts while loading)", unsized, len(imgs))
	}
	return nil
}

// jsString quotes s as a JavaScript string literal.
func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
