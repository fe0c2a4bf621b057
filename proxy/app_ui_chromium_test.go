package proxy_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"nora/proxy/ui"
)

// browser is a headless chromium tab that records the console errors and
// uncaught exceptions of the pages it loads.
type browser struct {
	t   *testing.T
	ctx context.Context

	mu       sync.Mutex
	problems []string
}

func newBrowser(t *testing.T, execPath string) *browser {
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(execPath), chromedp.NoSandbox, chromedp.DisableGPU, chromedp.WindowSize(1280, 1000))
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	b := &browser{t: t}
	ctx, cancelC := chromedp.NewContext(actx, chromedp.WithListener(b.listen))
	t.Cleanup(func() { cancelC(); cancelA() })
	b.ctx = ctx
	if err := chromedp.Do(ctx); err != nil { // starts chromium
		t.Fatalf("cannot start chromium: %v", err)
	}
	return b
}

// listen records the console errors and warnings, uncaught exceptions and
// the browser's own error log (CSP violations, failed loads).
func (b *browser) listen(ev any) {
	switch ev := ev.(type) {
	case *runtime.EventConsoleAPICalled:
		switch ev.Type {
		case runtime.ConsoleAPICalledTypeError, runtime.ConsoleAPICalledTypeWarning, runtime.ConsoleAPICalledTypeAssert:
			var args []string
			for _, a := range ev.Args {
				args = append(args, string(a.Value)+a.Description)
			}
			b.problem("console." + string(ev.Type) + ": " + strings.Join(args, " "))
		}
	case *runtime.EventExceptionThrown:
		d := ev.ExceptionDetails
		msg := d.Text
		if d.Exception != nil {
			msg += " " + d.Exception.Description
		}
		b.problem("exception: " + msg)
	case *cdplog.EventEntryAdded:
		if ev.Entry.Level == cdplog.EntryLevelError || ev.Entry.Level == cdplog.EntryLevelWarning {
			b.problem("log " + string(ev.Entry.Level) + ": " + ev.Entry.Text + " " + ev.Entry.URL)
		}
	}
}

func (b *browser) problem(s string) {
	b.mu.Lock()
	b.problems = append(b.problems, s)
	b.mu.Unlock()
}

// takeProblems returns and forgets what the console reported.
func (b *browser) takeProblems() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	p := b.problems
	b.problems = nil
	return p
}

// do runs steps in the tab, failing the test on an error.
func (b *browser) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, steps...); err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
}

// run runs an action that returns a value in b's tab.
func run[T any](b *browser, what string, a chromedp.Action[T]) T {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, a)
	if err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
	return v
}

// load opens u and waits for its body.
func (b *browser) load(u string) {
	b.t.Helper()
	b.do("load "+u, chromedp.Navigate(u), chromedp.WaitReady(chromedp.CSS("body")))
}

// maxPages bounds the crawl.
const maxPages = 40

// crawl visits start and every /ui/ page its links lead to: each page
// is checked (checkPage) and saved as a screenshot in dir. It returns the
// paths visited.
func (b *browser) crawl(start, dir string) map[string]bool {
	b.t.Helper()
	base, _ := url.Parse(start)
	seen := map[string]bool{}
	queue := []string{start}
	for len(queue) > 0 && len(seen) < maxPages {
		u := queue[0]
		queue = queue[1:]
		pu, _ := url.Parse(u)
		if seen[pu.RequestURI()] {
			continue
		}
		seen[pu.RequestURI()] = true
		b.load(u)
		b.checkPage(u)
		shot := run(b, "screenshot "+u, chromedp.FullScreenshot(100))
		name := strings.Trim(strings.NewReplacer("/", "_", "?", "_", "=", "_", "@", "_").Replace(pu.RequestURI()), "_")
		if err := os.WriteFile(filepath.Join(dir, name+".png"), shot, 0o644); err != nil {
			b.t.Fatal(err)
		}
		links := run(b, "links of "+u, chromedp.Evaluate[[]string](`[...document.querySelectorAll("a[href]")].map(a => a.href)`))
		for _, l := range links {
			lu, err := url.Parse(l)
			if err != nil || lu.Host != base.Host || !strings.HasPrefix(lu.Path, "/ui/") {
				continue
			}
			lu.Fragment = ""
			queue = append(queue, lu.String())
		}
	}
	return seen
}

// checkPage fails the test for what the page's console reported and for
// what the in-page accessibility check finds.
func (b *browser) checkPage(u string) {
	b.t.Helper()
	found := run(b, "check "+u, chromedp.Evaluate[[]string](a11yCheck))
	for _, f := range found {
		b.t.Errorf("%s: %s", u, f)
	}
	if h1 := run(b, "h1 of "+u, chromedp.Evaluate[string](`document.querySelector("h1").textContent`)); h1 == "Not found" {
		b.t.Errorf("%s: a link leads to a missing page", u)
	}
	for _, p := range b.takeProblems() {
		b.t.Errorf("%s: %s", u, p)
	}
}

// phone loads u at a phone's width: nothing may stick out sideways (wide
// tables scroll in their own box).
func (b *browser) phone(u, shot string) {
	b.t.Helper()
	b.do("phone "+u, chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(3), chromedp.EmulateMobile),
		chromedp.Navigate(u), chromedp.WaitReady(chromedp.CSS("body")))
	wide := run(b, "width of "+u, chromedp.Evaluate[bool](`document.documentElement.scrollWidth > window.innerWidth + 1`))
	png := run(b, "phone screenshot of "+u, chromedp.FullScreenshot(100))
	b.do("reset the viewport", chromedp.ResetViewport())
	if wide {
		b.t.Errorf("%s is wider than a phone's screen", u)
	}
	if err := os.WriteFile(shot, png, 0o644); err != nil {
		b.t.Fatal(err)
	}
	for _, p := range b.takeProblems() {
		b.t.Errorf("%s on a phone: %s", u, p)
	}
}

// text returns the text of the first element sel matches on the page.
func (b *browser) text(sel string) string {
	b.t.Helper()
	js := fmt.Sprintf(`(e => e ? e.textContent.trim() : "")(document.querySelector(%q))`, sel)
	return run(b, "text of "+sel, chromedp.Evaluate[string](js))
}

// a11yCheck lists the page's accessibility problems: not exactly one h1,
// a heading level skipped, an input without a label, an image without
// alt, no title or lang, and text whose rendered colour on its rendered
// background has a contrast below 4.5:1.
const a11yCheck = `(() => {
  const out = [];
  if (document.querySelectorAll("h1").length !== 1) out.push("want one h1, have " + document.querySelectorAll("h1").length);
  let last = 0;
  for (const h of document.querySelectorAll("h1,h2,h3,h4,h5,h6")) {
    const l = +h.tagName[1];
    if (l > last + 1) out.push("heading " + h.tagName + " '" + h.textContent.trim() + "' after h" + last);
    last = l;
  }
  for (const i of document.querySelectorAll("input,select,textarea,meter,progress")) {
    if (i.type === "hidden") continue;
    const labelled = (i.id && document.querySelector('label[for="' + CSS.escape(i.id) + '"]')) || i.closest("label") ||
      i.getAttribute("aria-label") || i.getAttribute("aria-labelledby");
    if (!labelled) out.push(i.tagName.toLowerCase() + " " + (i.name || i.id) + " has no label");
  }
  for (const img of document.querySelectorAll("img")) if (!img.hasAttribute("alt")) out.push("img " + img.src + " has no alt");
  if (!document.title.trim()) out.push("no title");
  if (!document.documentElement.lang) out.push("no lang");
  if (!document.querySelector('meta[name="viewport"]')) out.push("no viewport meta");
  const rgb = s => (s.match(/[\d.]+/g) || []).map(Number);
  const lum = c => { const [r, g, b] = c.slice(0, 3).map(v => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); }); return 0.2126 * r + 0.7152 * g + 0.0722 * b; };
  const bgOf = el => { for (; el; el = el.parentElement) { const c = rgb(getComputedStyle(el).backgroundColor); if (c.length === 3 || (c.length === 4 && c[3] > 0)) return c; } return [255, 255, 255]; };
  const seen = new Set();
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    if (!n.textContent.trim()) continue;
    const el = n.parentElement;
    const fg = rgb(getComputedStyle(el).color), bg = bgOf(el);
    const a = lum(fg), b = lum(bg);
    const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    const key = fg + "/" + bg;
    if (ratio < 4.5 && !seen.has(key)) { seen.add(key); out.push("contrast " + ratio.toFixed(2) + " of '" + n.textContent.trim().slice(0, 30) + "' (" + fg + " on " + bg + ")"); }
  }
  return out;
})()`

// adminGet decodes the admin API's answer to GET path (as the admin ci).
func adminGet(t *testing.T, base, path string, v any) {
	t.Helper()
	resp, body := uiGet(t, base+"/api/v1/"+path, "ci", "secret")
	if resp.StatusCode != 200 {
		t.Fatalf("GET /api/v1/%s: %d %s", path, resp.StatusCode, body)
	}
	if err := json.Unmarshal([]byte(body), v); err != nil {
		t.Fatalf("GET /api/v1/%s: %v", path, err)
	}
}

// row is a table row as the page shows it: its heading cell and one value.
type row struct{ Name, Value string }

const rowsJS = `[...document.querySelectorAll("table.%s tbody tr")].map(r => ({Name: r.querySelector("th").textContent.trim(), Value: r.querySelector("td[data-bytes]").dataset.bytes}))`

// checkUINumbers compares what the pages show with the admin API: the
// tags and their sizes of a hosted and a cached image, the versions of a
// package, the disk used.
func checkUINumbers(t *testing.T, b *browser, base string) {
	for _, repo := range []string{"team/app", "docker.io/library/nginx"} {
		var api struct {
			Images []struct {
				Tags []struct {
					Tag  string `json:"tag"`
					Size int64  `json:"size"`
				} `json:"tags"`
			} `json:"images"`
		}
		adminGet(t, base, "images?repo="+url.QueryEscape(repo), &api)
		if len(api.Images) != 1 {
			t.Fatalf("the API has %d images %s", len(api.Images), repo)
		}
		var want []row
		for _, tg := range api.Images[0].Tags {
			want = append(want, row{tg.Tag, fmt.Sprint(tg.Size)})
		}
		b.load(base + "/ui/content/docker/" + repo)
		got := run(b, "tags of "+repo, chromedp.Evaluate[[]row](fmt.Sprintf(rowsJS, "tags")))
		if fmt.Sprint(got) != fmt.Sprint(want) || b.text(".tag-count") != fmt.Sprint(len(want)) {
			t.Errorf("%s: the page shows %v tags (%s), the API %v", repo, got, b.text(".tag-count"), want)
		}
	}
	var pkgs struct {
		Packages []struct {
			Versions []struct {
				Version string `json:"version"`
				Size    int64  `json:"size"`
			} `json:"versions"`
		} `json:"packages"`
	}
	adminGet(t, base, "packages/npm?name="+url.QueryEscape("@site/demo"), &pkgs)
	var want []row
	for _, v := range pkgs.Packages[0].Versions {
		want = append(want, row{v.Version, fmt.Sprint(v.Size)})
	}
	b.load(base + "/ui/content/npm/@site/demo")
	got := run(b, "versions", chromedp.Evaluate[[]row](fmt.Sprintf(rowsJS, "versions")))
	if len(want) != 2 || fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("@site/demo: the page shows %v, the API %v", got, want)
	}
	checkDiskShown(t, b, base)
	checkDeliveriesShown(t, b, base)
}

// checkDiskShown compares the overview's disk used with the admin API's
// storage stats (polled: a fill may still be committing).
func checkDiskShown(t *testing.T, b *browser, base string) {
	deadline := time.Now().Add(10 * time.Second)
	for {
		var st struct {
			Proxied int64 `json:"proxied_bytes"`
			Hosted  int64 `json:"hosted_bytes"`
		}
		adminGet(t, base, "storage/stats", &st)
		b.load(base + "/ui/")
		shown, want := b.text("#disk-used"), ui.Bytes(st.Proxied+st.Hosted)
		if shown == want {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the overview shows %s used, the API %s", shown, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
	top := b.text(`section[aria-labelledby="top"] .card ol`)
	if !strings.Contains(top, "nginx") {
		t.Errorf("the most pulled images lack nginx: %q", top)
	}
	b.takeProblems()
}

// deliveries is the admin API's list of webhook deliveries.
type deliveries struct {
	Webhooks []struct {
		Name       string `json:"name"`
		Deliveries []struct {
			Status string `json:"status"`
			Event  struct {
				Kind string `json:"event"`
				Name string `json:"name"`
			} `json:"event"`
		} `json:"deliveries"`
	} `json:"webhooks"`
}

// waitDeliveries waits until the webhook has delivered n events.
func waitDeliveries(t *testing.T, base string, n int) {
	deadline := time.Now().Add(20 * time.Second)
	for {
		var d deliveries
		adminGet(t, base, "webhooks/deliveries", &d)
		done := 0
		for _, x := range d.Webhooks[0].Deliveries {
			if x.Status == "delivered" {
				done++
			}
		}
		if done >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d events delivered: %+v", done, n, d)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// checkDeliveriesShown compares the webhooks page with the admin API.
func checkDeliveriesShown(t *testing.T, b *browser, base string) {
	var d deliveries
	adminGet(t, base, "webhooks/deliveries", &d)
	var want []row
	for _, x := range d.Webhooks[0].Deliveries {
		want = append(want, row{x.Event.Kind, x.Status})
	}
	b.load(base + "/ui/webhooks")
	got := run(b, "deliveries", chromedp.Evaluate[[]row](`[...document.querySelectorAll("table.deliveries tbody tr")].map(r => ({Name: r.querySelector("th").textContent.trim(), Value: r.querySelector("td:nth-of-type(2)").textContent.trim()}))`))
	if len(want) < 4 || fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("the webhooks page shows %v, the API %v", got, want)
	}
	b.takeProblems()
}
