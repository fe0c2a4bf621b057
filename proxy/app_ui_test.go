package proxy_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"nora/auth"
	"nora/proxy"
	"nora/proxy/maven"
	"nora/proxy/maven/maventest"
	"nora/proxy/proxytest"
)

// uiGet fetches a page of the web UI as user ("": anonymous).
func uiGet(t *testing.T, url, user, pass string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if user != "" {
		req.SetBasicAuth(user, pass)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

// TestUIOverviewCountsMavenTraffic serves a miss, a hit and a hosted
// deploy, and reads the numbers back from the overview: one hit of two
// requests, the jar's bytes saved and fetched, the jar most pulled.
func TestUIOverviewCountsMavenTraffic(t *testing.T) {
	root := t.TempDir()
	const jar = "org/example/lib/1.0/lib-1.0.jar"
	maventest.WriteFile(t, root, jar, []byte("jar from upstream")) // 17 bytes
	up := maventest.New(t, root)
	mc := maven.DefaultConfig()
	mc.Upstreams = []maven.UpstreamConfig{{URL: up.URL}}
	ac := &auth.Config{Htpasswd: proxytest.Htpasswd(t, "ci", "secret")}
	n := proxytest.Start(t, proxy.AppConfig{Maven: mc, Auth: ac})

	resp, _ := uiGet(t, n.URL+"/ui/", "", "")
	if resp.StatusCode != 401 || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Basic") {
		t.Fatalf("anonymous /ui/ without anonymous_read: %d %q, want 401 with a Basic challenge",
			resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}
	for range 2 { // a miss, then a hit
		if resp, _ := uiGet(t, n.URL+"/maven2/"+jar, "ci", "secret"); resp.StatusCode != 200 {
			t.Fatalf("GET jar: %d", resp.StatusCode)
		}
	}
	resp, page := uiGet(t, n.URL+"/ui/", "ci", "secret")
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("/ui/: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	for _, want := range []string{
		`<span class="big">50.0 %</span> of requests, 50.0 % of bytes`,
		`WAN bytes saved: <strong>17 B</strong>; fetched from upstreams: 17 B`,
		`<tr><th scope="row">maven</th><td class="num">2</td><td class="num">50.0 %</td>`,
		`<li><a href="/ui/content/maven/org.example:lib">org.example:lib</a> <span class="muted">(2 pulls, 34 B`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("the overview lacks %q", want)
		}
	}
	if t.Failed() {
		t.Log(page)
	}
	for _, p := range []string{"upstreams", "errors", "style.css"} {
		if resp, _ := uiGet(t, n.URL+"/ui/"+p, "ci", "secret"); resp.StatusCode != 200 {
			t.Errorf("/ui/%s: %d", p, resp.StatusCode)
		}
	}
	if resp, _ := uiGet(t, n.URL+"/ui/nothing", "ci", "secret"); resp.StatusCode != 404 {
		t.Errorf("/ui/nothing: %d, want 404", resp.StatusCode)
	}
	checkMavenContent(t, n)
}

// checkMavenContent deploys a hosted artifact beside the cached one and
// searches the maven list, then opens the package pages.
func checkMavenContent(t *testing.T, n *proxytest.Nora) {
	n.WaitLater() // the cached artifact is committed after its replies
	req, _ := http.NewRequest("PUT", n.URL+"/maven2/com/acme/app/1.0/app-1.0.jar", strings.NewReader("app 1.0"))
	req.SetBasicAuth("ci", "secret")
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 201 {
		t.Fatalf("deploy: %v %v", err, resp)
	}
	resp.Body.Close()
	f := func(path string, status int, want, notWant string) {
		t.Helper()
		resp, page := uiGet(t, n.URL+path, "ci", "secret")
		if resp.StatusCode != status || !strings.Contains(page, want) || (notWant != "" && strings.Contains(page, notWant)) {
			t.Errorf("%s: %d, want %d with %q and without %q:\n%s", path, resp.StatusCode, status, want, notWant, page)
		}
	}
	f("/ui/content/maven", 200, ">com.acme:app</a>", "")
	f("/ui/content/maven?q=ACME", 200, ">com.acme:app</a></th><td>hosted</td><td class=\"num\">1</td><td class=\"num\">7 B</td>", ">org.example:lib</a></th>")
	f("/ui/content/maven?q=lib", 200, ">org.example:lib</a></th><td>cached</td>", ">com.acme:app</a></th>")
	f("/ui/content/maven?q=zzz", 200, "No package matches “zzz”.", "")
	f("/ui/content/maven/com.acme:app", 200, `<th scope="row">1.0</th><td class="num">1</td><td class="num" data-bytes="7">7 B</td>`, "")
	f("/ui/content/maven/nope:nope", 404, "There is no maven package nope:nope on this nora.", "")
	f("/ui/content/rpm", 404, "There is no such format", "")
}
