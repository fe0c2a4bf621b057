package proxy

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	"nora/cache"
	"nora/proxy/npm"
	"nora/proxy/npm/npmtest"
	"nora/proxy/pypi"
	"nora/proxy/pypi/pypitest"
	"nora/proxy/sitetls"
)

// linkedApp serves an app with npm and PyPI upstreams holding one package
// each ("left-pad" 1.0.0, "demo" 1.0), with TLS in mode and a plain
// listener beside it when mode is not off.
func linkedApp(t *testing.T, mode string) *App {
	t.Helper()
	reg := npmtest.NewRegistry(t)
	reg.Publish(t, "left-pad", "1.0.0", 64)
	idx := pypitest.New(t, pypitest.Options{})
	idx.Add("demo", pypitest.File{Name: "demo-1.0.tar.gz", Data: []byte("sdist")})
	server := DefaultConfig()
	server.Listen = "127.0.0.1:0"
	server.TLS.Mode = mode
	if mode != sitetls.ModeOff {
		server.ListenPlain = "127.0.0.1:0"
		hosts := []string{"localhost"}
		server.TLS.Hosts = &hosts
	}
	npmCfg, pypiCfg := npm.DefaultConfig(), pypi.DefaultConfig()
	npmCfg.Upstream, pypiCfg.Upstream = reg.URL, idx.IndexURL
	storage := cache.DefaultConfig()
	storage.Path = t.TempDir()
	return runApp(t, AppConfig{Server: server, Storage: storage, Npm: npmCfg, PyPI: pypiCfg,
		Build: Build{Version: "9.9.9"}}, nil)
}

// getURL sends method to url with c and returns the status and body.
func getURL(t *testing.T, c *http.Client, method, url string, hdr ...string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// formatLinks fetches npm's packument, PyPI's page and cargo's config.json
// from base and returns the links they give: tarball, file, dl, api.
func formatLinks(t *testing.T, c *http.Client, base string, hdr ...string) []string {
	t.Helper()
	var got []string
	_, body := getURL(t, c, "GET", base+"/npm/left-pad", hdr...)
	var pack struct {
		Versions map[string]struct {
			Dist struct{ Tarball string } `json:"dist"`
		} `json:"versions"`
	}
	if err := json.Unmarshal([]byte(body), &pack); err != nil {
		t.Fatalf("packument: %v: %s", err, body)
	}
	got = append(got, pack.Versions["1.0.0"].Dist.Tarball)
	_, body = getURL(t, c, "GET", base+"/simple/demo/", append([]string{"Accept", "application/vnd.pypi.simple.v1+json"}, hdr...)...)
	var page struct {
		Files []struct{ URL string } `json:"files"`
	}
	if err := json.Unmarshal([]byte(body), &page); err != nil || len(page.Files) != 1 {
		t.Fatalf("pypi page: %v: %s", err, body)
	}
	got = append(got, page.Files[0].URL)
	_, body = getURL(t, c, "GET", base+"/cargo/index/config.json", hdr...)
	var conf struct{ DL, API string }
	if err := json.Unmarshal([]byte(body), &conf); err != nil {
		t.Fatalf("config.json: %v: %s", err, body)
	}
	return append(got, conf.DL, conf.API)
}

func wantPrefix(t *testing.T, got []string, prefix string) {
	t.Helper()
	for _, l := range got {
		if !strings.HasPrefix(l, prefix) {
			t.Errorf("link %q does not start with %q", l, prefix)
		}
	}
}

// Over TLS, npm's tarballs, PyPI's files and cargo's dl and api are https
// links on the name the client used; the CA comes from the plain listener.
func TestLinksHTTPSOverTLS(t *testing.T) {
	app := linkedApp(t, sitetls.ModeAuto)
	plain := "http://" + app.PlainAddr().String()
	status, ca := getURL(t, http.DefaultClient, "GET", plain+"/ca.crt")
	pool := x509.NewCertPool()
	if status != 200 || !pool.AppendCertsFromPEM([]byte(ca)) {
		t.Fatalf("/ca.crt: %d %s", status, ca)
	}
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	_, port, _ := strings.Cut(app.Addr().String(), ":")
	base := "https://localhost:" + port
	got := formatLinks(t, c, base)
	wantPrefix(t, got, base+"/")
	// The same app over plain HTTP with plain = "serve" would say http;
	// here the page itself points plain clients at the TLS port.
	_, body := getURL(t, http.DefaultClient, "GET", plain+"/")
	for _, want := range []string{"curl -fsSL " + plain + "/ca.crt", "https://127.0.0.1:" + port + "/npm/", "version 9.9.9"} {
		if !strings.Contains(body, want) {
			t.Errorf("start page lacks %q", want)
		}
	}
}

// Behind a TLS-terminating proxy (X-Forwarded-Proto: https) the links are
// https too; without it, http.
func TestLinksForwardedProto(t *testing.T) {
	app := linkedApp(t, sitetls.ModeOff)
	base := "http://" + app.Addr().String()
	wantPrefix(t, formatLinks(t, http.DefaultClient, base), base+"/")
	wantPrefix(t, formatLinks(t, http.DefaultClient, base, "X-Forwarded-Proto", "https"), "https://"+app.Addr().String()+"/")
}

// The start page is "/" only: other unknown paths are 404 as before, and
// the routes it sits under are untouched.
func TestStartPageRoute(t *testing.T) {
	app := linkedApp(t, sitetls.ModeOff)
	base := "http://" + app.Addr().String()
	f := func(method, path string, status int, has string) {
		t.Helper()
		got, body := getURL(t, http.DefaultClient, method, base+path)
		if got != status || !strings.Contains(body, has) {
			t.Errorf("%s %s: %d %q", method, path, got, body)
		}
	}
	f("GET", "/", 200, "npm config set registry "+base+"/npm/")
	f("HEAD", "/", 200, "")
	f("GET", "/nothing", 404, "404 page not found")
	f("GET", "/health", 200, "ok")
	f("GET", "/ca.crt", 404, "no site CA")
	f("GET", "/v2/", 200, "")
	// A Host that could not go into a command never reaches the page.
	conn, err := net.Dial("tcp", app.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	io.WriteString(conn, "GET / HTTP/1.1\r\nHost: x\"><script>alert(1)</script>\r\nConnection: close\r\n\r\n")
	resp, _ := io.ReadAll(conn)
	if !strings.HasPrefix(string(resp), "HTTP/1.1 400") || strings.Contains(string(resp), "<script>") {
		t.Errorf("evil Host: %q", resp)
	}
}
