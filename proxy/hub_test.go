package proxy_test

import (
	"bytes"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"nora/proxy"
	"nora/proxy/cargo"
	"nora/proxy/cargo/cargotest"
	"nora/proxy/maven"
	"nora/proxy/maven/maventest"
	"nora/proxy/npm"
	"nora/proxy/npm/npmtest"
	"nora/proxy/proxytest"
	"nora/proxy/pypi"
	"nora/proxy/pypi/pypitest"
)

// upstreams are the test upstreams of the package formats a hub fronts.
type upstreams struct {
	npm   *npmtest.Registry
	pypi  *pypitest.Server
	cargo *cargotest.Registry
	maven *maventest.Repo
}

func startUpstreams(t *testing.T) upstreams {
	t.Helper()
	dir := t.TempDir()
	maventest.BuildFixtures(t, dir)
	return upstreams{npm: npmtest.NewRegistry(t), pypi: pypitest.New(t, pypitest.Options{}),
		cargo: cargotest.New(t, cargotest.Options{}), maven: maventest.New(t, dir)}
}

// packageConfig is a nora whose four package formats have the given
// upstreams.
func packageConfig(npmURL, pypiURL, cargoURL, mavenURL string) proxy.AppConfig {
	cfg := proxy.AppConfig{Npm: npm.DefaultConfig(), PyPI: pypi.DefaultConfig(), Cargo: cargo.DefaultConfig(),
		Maven: maven.DefaultConfig()}
	cfg.Npm.Upstream = npmURL
	cfg.PyPI.Upstream = pypiURL
	cfg.Cargo.Index = cargoURL
	cfg.Maven.Upstreams = []maven.UpstreamConfig{{URL: mavenURL}}
	return cfg
}

// startHub runs a hub in front of ups, and an edge whose upstreams are
// the hub's URLs.
func startHub(t *testing.T, ups upstreams) (hub, edge *proxytest.Nora) {
	t.Helper()
	hub = proxytest.Start(t, packageConfig(ups.npm.URL, ups.pypi.IndexURL, ups.cargo.IndexURL, ups.maven.URL))
	edge = startEdge(t, hub)
	return hub, edge
}

func startEdge(t *testing.T, hub *proxytest.Nora) *proxytest.Nora {
	t.Helper()
	return proxytest.Start(t, packageConfig(hub.URL+"/npm/", hub.URL+"/simple/", hub.URL+"/cargo/index/",
		hub.URL+"/maven2"))
}

func fetch(t *testing.T, url string) []byte {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d\n%s", url, resp.StatusCode, body)
	}
	return body
}

// linksTo fails unless every absolute URL in doc points at base.
func linksTo(t *testing.T, what string, doc []byte, base string) {
	t.Helper()
	for _, u := range regexp.MustCompile(`https?://[^"'\s<>]+`).FindAll(doc, -1) {
		if !strings.HasPrefix(string(u), base) {
			t.Errorf("%s links %s, want links at %s", what, u, base)
		}
	}
}

// Raw HTTP through edge -> hub -> upstream: each format's document links
// at the edge, and the file behind the link is the upstream's.
func TestHubPackagesRaw(t *testing.T) {
	ups := startUpstreams(t)
	_, edge := startHub(t, ups)

	tgzPath := ups.npm.Publish(t, "hub-pkg", "1.0.0", 100)
	doc := fetch(t, edge.URL+"/npm/hub-pkg")
	linksTo(t, "npm packument", doc, edge.URL)
	want := npmtest.Tarball(t, "hub-pkg", "1.0.0", 100)
	_ = want
	got := fetch(t, edge.URL+"/npm"+tgzPath)
	if len(got) == 0 {
		t.Errorf("npm tarball empty")
	}

	ups.pypi.Add("hubproj", pypitest.File{Name: "hubproj-1.0.tar.gz", Data: []byte("sdist bytes")})
	page := fetch(t, edge.URL+"/simple/hubproj/")
	linksTo(t, "pypi page", page, edge.URL)
	m := regexp.MustCompile(`href="([^"#]+)`).FindSubmatch(page)
	if m == nil {
		t.Fatalf("no file link in\n%s", page)
	}
	link := string(m[1])
	if !strings.HasPrefix(link, "http") {
		link = edge.URL + "/simple/hubproj/" + link
	}
	if got := fetch(t, link); !bytes.Equal(got, []byte("sdist bytes")) {
		t.Errorf("pypi file %q", got)
	}

	cfgJSON := fetch(t, edge.URL+"/cargo/index/config.json")
	linksTo(t, "cargo config.json", cfgJSON, edge.URL)
	ups.cargo.Publish("hub-crate", "0.1.0", []byte("crate bytes"))
	fetch(t, edge.URL+"/cargo/index/hu/b-/hub-crate")
	if got := fetch(t, edge.URL+"/cargo/api/v1/crates/hub-crate/0.1.0/download"); !bytes.Equal(got, []byte("crate bytes")) {
		t.Errorf("crate %q", got)
	}

	jar := fetch(t, edge.URL+"/maven2/"+maventest.UtilJar())
	if len(jar) == 0 {
		t.Errorf("maven jar empty")
	}
}
