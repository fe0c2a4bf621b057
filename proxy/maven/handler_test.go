package maven_test

import (
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"nora/internal/units"
	"nora/proxy/maven"
	"nora/proxy/maven/maventest"
)

func hexOf(sum []byte) string { return hex.EncodeToString(sum) }

func fixtureRepo(t *testing.T) (root string, repo *maventest.Repo) {
	t.Helper()
	root = t.TempDir()
	maventest.BuildFixtures(t, root)
	return root, maventest.New(t, root)
}

func TestTamperedArtifactIsRefusedAndNotCached(t *testing.T) {
	root, up := fixtureRepo(t)
	n := startNora(t, maven.DefaultConfig(), up.URL)
	jar := maventest.GreetingJar("1.0.0")
	want := mustRead(t, filepath.Join(root, filepath.FromSlash(jar)))

	up.Tamper(jar, true)
	for i := 1; i <= 2; i++ {
		// Either the fill failed before the response started (502), or
		// the client was already following it and its connection is cut
		// before the end: never a clean 200.
		resp, err := http.Get(n.base() + jar)
		if err == nil {
			body, rerr := io.ReadAll(resp.Body)
			resp.Body.Close()
			if rerr == nil && (resp.StatusCode != 502 || !strings.Contains(string(body), "checksum")) {
				t.Fatalf("tampered GET %d: %d %q, want 502 naming the checksum or a cut body", i, resp.StatusCode, body)
			}
		}
		if n.cached(jar) {
			t.Fatal("tampered bytes were cached")
		}
		// (net/http may retry a GET whose connection was cut: at least.)
		if got := up.Gets(jar); got < i {
			t.Fatalf("upstream GETs after %d tries: %d (a refused fill must not be remembered)", i, got)
		}
	}

	up.Tamper(jar, false)
	resp, body := fetch(t, "GET", n.base()+jar)
	if resp.StatusCode != 200 || string(body) != string(want) {
		t.Fatalf("fixed upstream: %d, %d bytes, want 200 and the jar", resp.StatusCode, len(body))
	}
	if !n.cached(jar) {
		t.Fatal("verified jar was not cached")
	}
	// Checksums of a cached artifact are those of the bytes nora served.
	s1, s5, s256 := sha1.Sum(want), md5.Sum(want), sha256.Sum256(want)
	f := func(ext, wantSum string) {
		t.Helper()
		resp, body := fetch(t, "GET", n.base()+jar+ext)
		if resp.StatusCode != 200 || strings.TrimSpace(string(body)) != wantSum {
			t.Fatalf("%s: %d %q, want %s", ext, resp.StatusCode, body, wantSum)
		}
	}
	f(".sha1", hexOf(s1[:]))
	f(".md5", hexOf(s5[:]))
	f(".sha256", hexOf(s256[:]))
	f(".sha1", hexOf(s1[:])) // stored, not recomputed: same answer
	if up.Gets(jar+".md5") != 0 {
		t.Error("nora asked upstream for the md5 of an artifact it holds")
	}
}

func TestUpstreamsInOrder(t *testing.T) {
	_, first := fixtureRepo(t)
	other := t.TempDir()
	only := "org/example/other/lib/2.0/lib-2.0.jar"
	maventest.WriteFile(t, other, only, []byte("second upstream's jar"))
	maventest.WriteFile(t, other, "org/example/other/lib/2.0/lib-2.0.pom", []byte("<project/>"))
	second := maventest.New(t, other)
	n := startNora(t, maven.DefaultConfig(), first.URL, second.URL)

	f := func(method, path string, wantStatus int) {
		t.Helper()
		resp, body := fetch(t, method, n.base()+path)
		if resp.StatusCode != wantStatus {
			t.Fatalf("%s %s: %d %q, want %d", method, path, resp.StatusCode, body, wantStatus)
		}
		if wantStatus >= 400 && method == "GET" && !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
			t.Fatalf("%s %s: error as %q, want plain text", method, path, resp.Header.Get("Content-Type"))
		}
	}
	// The first lacks it (404), the second has it.
	f("GET", only, 200)
	if first.Gets(only) != 1 || second.Gets(only) != 1 {
		t.Fatalf("GETs: first %d, second %d; want 1 and 1", first.Gets(only), second.Gets(only))
	}
	// The first has it: the second is never asked.
	f("GET", maventest.GreetingJar("1.2.0"), 200)
	if second.Gets(maventest.GreetingJar("1.2.0")) != 0 {
		t.Fatal("second upstream asked for what the first had")
	}
	// Neither has it: a real 404, remembered for negative_ttl.
	missing := "org/example/none/x/1/x-1.jar"
	f("GET", missing, 404)
	f("GET", missing, 404)
	if first.Gets(missing) != 1 || second.Gets(missing) != 1 {
		t.Fatalf("404 not remembered: first %d, second %d GETs", first.Gets(missing), second.Gets(missing))
	}
	f("GET", "org/example/none/x/maven-metadata.xml", 404)

	// One upstream down, the other lacks it: 503, not 404.
	first.Stop()
	f("GET", "org/example/nora/greeting/1.0.0/greeting-1.0.0.pom", 503)
	// Both down: what was cached is served, the rest is 503.
	second.Stop()
	f("GET", only, 200)
	f("GET", maventest.GreetingJar("1.2.0"), 200)
	f("HEAD", maventest.GreetingJar("1.2.0"), 200)
	f("GET", maventest.GreetingJar("1.0.0"), 503)
	f("HEAD", maventest.GreetingJar("1.0.0"), 503)
	f("GET", "org/example/nora/util/maven-metadata.xml", 503)
	first.Start(t)
	time.Sleep(150 * time.Millisecond) // the breaker's cooldown in startNora
	f("GET", maventest.GreetingJar("1.0.0"), 200)
}

func TestHeadDoesNotFill(t *testing.T) {
	root, up := fixtureRepo(t)
	n := startNora(t, maven.DefaultConfig(), up.URL)
	jar := maventest.GreetingJar("1.0.0")
	size := len(mustRead(t, filepath.Join(root, filepath.FromSlash(jar))))

	resp, _ := fetch(t, "HEAD", n.base()+jar)
	if resp.StatusCode != 200 || resp.ContentLength != int64(size) {
		t.Fatalf("HEAD uncached: %d, length %d, want 200 and %d", resp.StatusCode, resp.ContentLength, size)
	}
	if up.Heads(jar) != 1 || up.Gets(jar) != 0 || n.cached(jar) {
		t.Fatalf("HEAD uncached: upstream HEADs %d, GETs %d, cached %v; want 1, 0, false", up.Heads(jar), up.Gets(jar), n.cached(jar))
	}
	fetch(t, "GET", n.base()+jar)
	resp, _ = fetch(t, "HEAD", n.base()+jar)
	if resp.StatusCode != 200 || resp.ContentLength != int64(size) || up.Heads(jar) != 1 {
		t.Fatalf("HEAD cached: %d, length %d, upstream HEADs %d", resp.StatusCode, resp.ContentLength, up.Heads(jar))
	}
	resp, _ = fetch(t, "HEAD", n.base()+"org/example/nora/greeting/9/greeting-9.jar")
	if resp.StatusCode != 404 {
		t.Fatalf("HEAD missing: %d", resp.StatusCode)
	}
}

func TestMetadataRevalidatesAndServesStale(t *testing.T) {
	_, up := fixtureRepo(t)
	cfg := maven.DefaultConfig()
	cfg.TTL = units.Duration(0)
	n := startNora(t, cfg, up.URL)
	meta := "org/example/nora/greeting/maven-metadata.xml"
	snapMeta := "org/example/nora/util/" + maventest.UtilVersion + "/maven-metadata.xml"

	for _, p := range []string{meta, snapMeta} {
		resp, body := fetch(t, "GET", n.base()+p)
		if resp.StatusCode != 200 || !strings.Contains(string(body), "<metadata") || resp.Header.Get("X-Nora-Stale") != "" {
			t.Fatalf("%s: %d %q", p, resp.StatusCode, body)
		}
		resp, sum := fetch(t, "GET", n.base()+p+".sha1")
		if want := sha1.Sum(body); resp.StatusCode != 200 || string(sum) != hexOf(want[:]) {
			t.Fatalf("%s.sha1: %d %q, want the sha1 of the served document", p, resp.StatusCode, sum)
		}
	}
	if !strings.Contains(string(mustGet(t, n.base()+meta)), "<version>1.2.0</version>") {
		t.Fatal("metadata lacks 1.2.0")
	}
	if up.Gets(meta) < 3 {
		t.Fatalf("TTL 0: upstream saw %d GETs of the metadata, want one per request", up.Gets(meta))
	}
	req, _ := http.NewRequest("GET", n.base()+meta, nil)
	resp, _ := fetch(t, "GET", n.base()+meta)
	req.Header.Set("If-None-Match", resp.Header.Get("ETag"))
	if r304, err := http.DefaultClient.Do(req); err != nil || r304.StatusCode != 304 {
		t.Fatalf("If-None-Match %s: %v %v", resp.Header.Get("ETag"), r304, err)
	} else {
		r304.Body.Close()
	}
	if up.Gets(meta+".sha1") != 0 {
		t.Fatal("nora asked upstream for a metadata checksum it computes")
	}

	up.Stop()
	resp, body := fetch(t, "GET", n.base()+meta)
	if resp.StatusCode != 200 || resp.Header.Get("X-Nora-Stale") != "1" || !strings.Contains(string(body), "1.2.0") {
		t.Fatalf("upstream down: %d stale=%q", resp.StatusCode, resp.Header.Get("X-Nora-Stale"))
	}
	resp, sum := fetch(t, "GET", n.base()+meta+".sha1")
	if want := sha1.Sum(body); resp.StatusCode != 200 || string(sum) != hexOf(want[:]) {
		t.Fatalf("stale checksum: %d %q", resp.StatusCode, sum)
	}
	// The unique snapshot jar is immutable: cached, served with the
	// upstream down only once fetched.
	resp, _ = fetch(t, "GET", n.base()+maventest.UtilJar())
	if resp.StatusCode != 503 {
		t.Fatalf("uncached snapshot jar, upstream down: %d, want 503", resp.StatusCode)
	}
}

func mustGet(t *testing.T, url string) []byte {
	t.Helper()
	resp, body := fetch(t, "GET", url)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d %q", url, resp.StatusCode, body)
	}
	return body
}

func TestInvalidRequests(t *testing.T) {
	_, up := fixtureRepo(t)
	n := startNora(t, maven.DefaultConfig(), up.URL)
	f := func(target string, want int) {
		t.Helper()
		if got := rawStatus(t, n.Addr, target); got != want {
			t.Fatalf("GET %s: %d, want %d", target, got, want)
		}
	}
	f("/maven2/"+maventest.GreetingJar("1.0.0"), 200)
	f("/maven2/"+maventest.GreetingJar("1.0.0")+"?x=1", 200)
	f("http://"+n.Addr+"/maven2/"+maventest.GreetingJar("1.0.0"), 200) // absolute form
	f("/maven2/org/example/nora/greeting/../greeting/1.0.0/greeting-1.0.0.jar", 400)
	f("/maven2/org/example/nora/greeting/%2e%2e/1.0.0/greeting-1.0.0.jar", 400)
	f("/maven2/org//example/nora/greeting/1.0.0/greeting-1.0.0.jar", 400)
	f("/maven2/org/example/nora/greeting/./1.0.0/greeting-1.0.0.jar", 400)
	f("/maven2/org/example/nora/greeting/1.0.0/other-1.0.0.jar", 400)
	f("/maven2/org/example/nora/greeting/1.0.0/greeting-1.0.0.jar.sha1.md5", 400)
	f("/maven2/org\\example/nora/greeting/1.0.0/greeting-1.0.0.jar", 400)
	f("/maven2/", 400)
	f("/maven2/greeting-1.0.0.jar", 400)
	f("/maven2/org/example/nora/greeting/1.0.0/greeting-1.0.0.jar/", 400)

	resp, body := fetch(t, "DELETE", n.base()+maventest.GreetingJar("1.0.0"))
	if resp.StatusCode != 405 || resp.Header.Get("Allow") != "GET, HEAD, PUT" {
		t.Fatalf("DELETE: %d %q allow=%q", resp.StatusCode, body, resp.Header.Get("Allow"))
	}
}

func TestRateLimitRelaysRetryAfter(t *testing.T) {
	limited := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "7")
		http.Error(w, "slow down", http.StatusTooManyRequests)
	}))
	t.Cleanup(limited.Close)
	n := startNora(t, maven.DefaultConfig(), limited.URL+"/maven2")
	for _, p := range []string{maventest.GreetingJar("1.0.0"), "org/example/nora/greeting/maven-metadata.xml"} {
		resp, body := fetch(t, "GET", n.base()+p)
		if resp.StatusCode != 429 || resp.Header.Get("Retry-After") != "7" {
			t.Fatalf("%s: %d %q Retry-After %q, want 429 and 7", p, resp.StatusCode, body, resp.Header.Get("Retry-After"))
		}
	}
}

func TestOfflineNeverAsksUpstream(t *testing.T) {
	_, up := fixtureRepo(t)
	cfg := maven.DefaultConfig()
	cfg.Offline = true
	n := startNora(t, cfg, up.URL)
	for _, p := range []string{maventest.GreetingJar("1.0.0"), maventest.GreetingJar("1.0.0") + ".sha1", "org/example/nora/greeting/maven-metadata.xml"} {
		for _, method := range []string{"GET", "HEAD"} {
			if resp, _ := fetch(t, method, n.base()+p); resp.StatusCode != 503 {
				t.Fatalf("offline %s %s: %d, want 503", method, p, resp.StatusCode)
			}
		}
	}
	if up.TotalGets() != 0 || up.Heads(maventest.GreetingJar("1.0.0")) != 0 {
		t.Fatalf("offline nora sent %d GETs upstream", up.TotalGets())
	}
}
