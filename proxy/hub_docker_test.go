package proxy_test

import (
	"path/filepath"
	"testing"

	"nora/auth"
	"nora/proxy"
	"nora/proxy/docker"
	"nora/proxy/proxytest"
	"nora/upstream/upstreamtest"
)

// A hub that requires a login, in front of the test registry, and edges
// whose docker upstream is the hub with that login (the token flow runs
// hub-side).
func startDockerHub(t *testing.T, up *upstreamtest.Registry) *proxytest.Nora {
	t.Helper()
	cfg := proxy.AppConfig{Docker: docker.DefaultConfig()}
	cfg.Docker.Upstreams = []docker.UpstreamConfig{{Name: "docker.io", URL: up.URL}}
	cfg.Auth = &auth.Config{Htpasswd: proxytest.Htpasswd(t, "edge", "edge-secret"),
		Rules: []auth.Rule{{Subject: "edge", Permissions: []string{"pull:**", "push:**"}}}}
	return proxytest.Start(t, cfg)
}

func startDockerEdge(t *testing.T, hubURL string) *proxytest.Nora {
	t.Helper()
	return startNora(t, docker.UpstreamConfig{Name: "docker.io", URL: hubURL, Username: "edge", Password: "edge-secret"})
}

// crane pulls through edge -> hub (login required) -> the test registry;
// an image pushed to the hub pulls through the edge; with the hub stopped
// the edge serves what it pulled; with the public upstream stopped a
// second edge gets through the hub what the first pulled.
func TestHubDockerChain(t *testing.T) {
	up := upstreamtest.New(t, upstreamtest.Options{})
	img := up.PushRandomImage(t, "library/nginx", "1.27", 2, 32<<10)
	want, _ := img.Digest()
	hub := startDockerHub(t, up)
	toHub := proxytest.Forward(t, hub.URL)
	edge := startDockerEdge(t, toHub.URL)
	out := filepath.Join(t.TempDir(), "img.tar")
	home := t.TempDir()

	if got := craneAt(t, home, "digest", edge.Addr+"/nginx:1.27"); got != want.String() {
		t.Fatalf("digest through edge and hub = %s, want %s", got, want)
	}
	craneAt(t, home, "pull", edge.Addr+"/nginx:1.27", out)

	// Hosted on the hub: pushed with the login, pulled anonymously at the edge.
	craneAt(t, home, "auth", "login", hub.Addr, "-u", "edge", "-p", "edge-secret")
	craneAt(t, home, "push", out, hub.Addr+"/acme/app:1")
	if got := craneAt(t, t.TempDir(), "digest", edge.Addr+"/acme/app:1"); got != want.String() {
		t.Errorf("hosted image of the hub through the edge = %s, want %s", got, want)
	}

	up.Stop()
	edge2 := startDockerEdge(t, hub.URL)
	craneAt(t, t.TempDir(), "pull", edge2.Addr+"/nginx:1.27", out)

	toHub.Close()
	craneAt(t, t.TempDir(), "pull", edge.Addr+"/nginx:1.27", out)
	craneAt(t, t.TempDir(), "pull", edge.Addr+"/acme/app:1", out)
}
