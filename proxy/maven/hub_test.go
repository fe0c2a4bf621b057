package maven_test

import (
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"nora/auth"
	"nora/proxy/maven"
	"nora/proxy/maven/maventest"
	"nora/proxy/proxytest"
)

// edgeOf is a nora whose maven upstream is a hub's repository, with the
// hub's login; ttl 0, so that metadata is asked of the hub every time.
func edgeOf(t *testing.T, hubURL string) *noraUnderTest {
	t.Helper()
	cfg := maven.DefaultConfig()
	cfg.TTL = 0
	cfg.Upstreams = []maven.UpstreamConfig{{URL: hubURL + "/maven2/", Username: "edge", Password: "edge-secret"}}
	return startNora(t, cfg)
}

// mvn package through edge -> hub (login required) -> the test
// repositories. With the hub gone the edge serves what it pulled; with the
// public upstreams gone a second edge gets through the hub what the first
// pulled.
func TestHubMavenBuild(t *testing.T) {
	if _, err := os.Stat(maventest.DebianRepo); err != nil {
		t.Fatalf("Debian's Maven repository is missing (.ci/setup-maven.sh installs it): %v", err)
	}
	fixtures := t.TempDir()
	maventest.BuildFixtures(t, fixtures)
	first := maventest.New(t, fixtures)
	second := maventest.New(t, maventest.DebianRepo)
	cfg := maven.DefaultConfig()
	cfg.TTL = 0
	hub := startNoraAuth(t, cfg, &auth.Config{Htpasswd: proxytest.Htpasswd(t, "edge", "edge-secret"),
		Rules: []auth.Rule{{Subject: "edge", Permissions: []string{"pull:**"}}}}, first.URL, second.URL)
	if resp, _ := fetch(t, "GET", hub.base()+maventest.UtilJar()); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("anonymous GET from the hub: %d, want 401", resp.StatusCode)
	}
	link := proxytest.Forward(t, hub.URL)
	edge := edgeOf(t, link.URL)

	build := func(n *noraUnderTest, what string) {
		t.Helper()
		project, _, out, err := mvnBuild(t, n)
		if err != nil {
			t.Fatalf("mvn package %s: %v\n%s", what, err, lastLines(out, 60))
		}
		if _, err := os.Stat(filepath.Join(project, "target", "app-1.0.jar")); err != nil {
			t.Fatalf("no jar built %s: %v", what, err)
		}
	}
	build(edge, "through edge and hub")
	if g := maventest.GreetingJar("1.2.0"); first.Gets(g) != 1 {
		t.Errorf("greeting fetched %d times from the public upstream, want 1", first.Gets(g))
	}
	first.Stop()
	second.Stop()
	build(edgeOf(t, hub.URL), "through a second edge, public upstreams stopped")
	link.Close()
	build(edge, "at the edge, hub gone")
}
