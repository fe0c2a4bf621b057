package main

import (
	"encoding/base64"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"nora/auth"
	"nora/proxy"
	"nora/proxy/docker"
	"nora/proxy/npm"
	"nora/proxy/npm/npmtest"
	"nora/proxy/proxytest"
	"nora/proxy/replicate"
	"nora/upstream/upstreamtest"
)

// pushSignedIndex pushes to n an index of two platforms tagged repo:tag
// and a cosign-style signature tag of it, and returns the index's digest.
func pushSignedIndex(t *testing.T, n *proxytest.Nora, token, repo, tag string) v1.Hash {
	t.Helper()
	var adds []mutate.IndexAddendum
	for _, arch := range []string{"amd64", "arm64"} {
		img, err := random.Image(32<<10, 2)
		if err != nil {
			t.Fatal(err)
		}
		adds = append(adds, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: arch}}})
	}
	idx := mutate.AppendManifests(empty.Index, adds...)
	r, err := name.NewRepository(n.Addr+"/"+repo, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	auth := remote.WithAuth(&authn.Basic{Username: "ci", Password: token})
	if err := remote.WriteIndex(r.Tag(tag), idx, auth); err != nil {
		t.Fatal(err)
	}
	d, _ := idx.Digest()
	sig, _ := random.Image(256, 1)
	if err := remote.Write(r.Tag("sha256-"+d.Hex+".sig"), sig, auth); err != nil {
		t.Fatal(err)
	}
	return d
}

func craneDigest(ref string) (string, error) {
	out, err := exec.Command("crane", "digest", "--insecure", ref).CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

// nora replicate between two noras, edge to hub: the image with its
// platforms and signature arrives (crane reads the same digests), a second
// run sends nothing, a dry run copies nothing, a hub token without push
// fails the item with its reason and exit 1; --from a docker upstream
// copies into a prefix on the edge.
func TestReplicateCLI(t *testing.T) {
	hub, hubTk := proxytest.StartTokens(t, proxy.AppConfig{Docker: docker.DefaultConfig()})
	reg := upstreamtest.New(t, upstreamtest.Options{})
	reg.PushRandomImage(t, "library/web", "1", 2, 16<<10)
	cfg := proxy.AppConfig{Docker: docker.DefaultConfig()}
	cfg.Docker.Upstreams = []docker.UpstreamConfig{{Name: "docker.io", URL: reg.URL}}
	// The prefix is hosted: its names are never looked up upstream, not
	// even the blob checks before the first push.
	cfg.Docker.HostedNames = []string{"mirror/**"}
	cfg.Replication.Remotes = []replicate.Remote{
		{Name: "hub", URL: hub.URL, Token: hubTk.Create(t, "edge", "push:**")},
		{Name: "hub-ro", URL: hub.URL, Token: hubTk.Create(t, "reader", "pull:**")},
	}
	edge, edgeTk := proxytest.StartTokens(t, cfg)
	ci := edgeTk.Create(t, "ci", "push:**")
	d := pushSignedIndex(t, edge, ci, "prod/app", "v1")
	pushSignedIndex(t, edge, ci, "prod/other", "v1")
	conf := writeConfig(t, "[server]\nadmin_socket = \""+edge.AdminSocket+"\"\n[storage]\npath = \""+t.TempDir()+"\"\n")
	rep := func(args ...string) (int, string, string) {
		return runCLI(append([]string{"replicate", "--config", conf}, args...)...)
	}

	code, stdout, stderr := rep("--to", "hub", "--match", "prod/*", "--dry-run")
	if code != 0 || !strings.Contains(stdout, "would copy: docker prod/app v1") {
		t.Fatalf("--dry-run: exit %d\n%s\n%s", code, stdout, stderr)
	}
	if _, err := craneDigest(hub.Addr + "/prod/app:v1"); err == nil {
		t.Fatal("a dry run copied the image")
	}
	code, stdout, stderr = rep("--to", "hub", "--match", "prod/app")
	if code != 0 || !strings.Contains(stdout, "replicate: 1 copied, 0 already there, 0 failed") {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	for _, ref := range []string{"prod/app:v1", "prod/app:sha256-" + d.Hex + ".sig"} {
		if got, err := craneDigest(hub.Addr + "/" + ref); err != nil || (ref == "prod/app:v1" && got != d.String()) {
			t.Fatalf("crane digest %s on the hub: %s, %v; want %s", ref, got, err, d)
		}
	}
	code, stdout, stderr = rep("--to", "hub", "--match", "prod/app:v1")
	if code != 0 || !strings.Contains(stdout, "0 copied, 1 already there, 0 failed (0 B sent)") {
		t.Fatalf("second run: exit %d\n%s\n%s", code, stdout, stderr)
	}
	code, stdout, stderr = rep("--to", "hub-ro", "--match", "prod/other")
	if code != 1 || !strings.Contains(stdout, "failed: docker prod/other v1: ") || !strings.Contains(stdout, "may not push") ||
		!strings.Contains(stderr, "1 of 1 items failed") {
		t.Fatalf("a token without push: exit %d\n%s\n%s", code, stdout, stderr)
	}

	code, stdout, stderr = rep("--from", "hub", "--match", "prod/app:v1", "--prefix", "back/")
	if code != 0 || !strings.Contains(stdout, "1 copied") {
		t.Fatalf("--from the hub: exit %d\n%s\n%s", code, stdout, stderr)
	}
	if got, err := craneDigest(edge.Addr + "/back/prod/app:v1"); err != nil || got != d.String() {
		t.Fatalf("back/prod/app:v1 on the edge: %s, %v; want %s", got, err, d)
	}

	code, stdout, stderr = rep("--from", "docker.io", "--match", "library/web:1", "--to", "local/mirror/") // the same as --prefix mirror/
	if code != 0 || !strings.Contains(stdout, "1 copied") {
		t.Fatalf("--from an upstream: exit %d\n%s\n%s", code, stdout, stderr)
	}
	want, _ := craneDigest(strings.TrimPrefix(reg.URL, "http://") + "/library/web:1")
	if got, err := craneDigest(edge.Addr + "/mirror/library/web:1"); err != nil || got != want {
		t.Fatalf("mirror/library/web:1 on the edge: %s, %v; want %s", got, err, want)
	}

	if code, _, stderr = rep("--to", "nowhere", "--match", "x"); code != 1 || !strings.Contains(stderr, `no remote (or docker upstream) "nowhere"`) {
		t.Fatalf("an unknown remote: exit %d %s", code, stderr)
	}
}

// The replication identity lives on the in-memory listener only: with
// anonymous reads off, a network client with a token of its form is
// refused.
func TestReplicateIdentityStaysInside(t *testing.T) {
	n := proxytest.Start(t, proxy.AppConfig{Docker: docker.DefaultConfig(),
		Auth: &auth.Config{Htpasswd: proxytest.Htpasswd(t, "alice", "secret")}})
	forged := "norareplicate_" + strings.Repeat("0", 64)
	for _, authz := range []string{"", "Bearer " + forged, "Basic " + base64.StdEncoding.EncodeToString([]byte("replicate:"+forged))} {
		req, _ := http.NewRequest(http.MethodGet, n.URL+"/v2/_catalog", nil)
		req.Header.Set("Authorization", authz)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("catalog with %q: %d, want 401", authz, resp.StatusCode)
		}
	}
}

// nora replicate --to a hub of a package published on the edge: the
// package movers reach the edge through the server's own listener.
func TestReplicateCLIPackage(t *testing.T) {
	npmCfg := npm.DefaultConfig()
	npmCfg.HostedNames = []string{"@acme/*"}
	hub, hubTk := proxytest.StartTokens(t, proxy.AppConfig{Npm: npmCfg})
	cfg := proxy.AppConfig{Npm: npmCfg}
	cfg.Replication.Remotes = []replicate.Remote{{Name: "hub", URL: hub.URL, Token: hubTk.Create(t, "edge", "push:**")}}
	edge, edgeTk := proxytest.StartTokens(t, cfg)
	home := t.TempDir()
	rc := filepath.Join(home, "npmrc")
	conf := "registry=" + edge.URL + "/npm/\n" + strings.TrimPrefix(edge.URL, "http:") + "/npm/:_authToken=" + edgeTk.Create(t, "ci", "push:**") + "\n"
	if err := os.WriteFile(rc, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := npmtest.NPM(t, npmtest.WritePackage(t, "@acme/lib", "1.0.0", nil, "module.exports = 1;\n"), home,
		"publish", "--userconfig", rc, "--cache", filepath.Join(home, "cache")); err != nil {
		t.Fatalf("npm publish: %v\n%s", err, out)
	}
	nconf := writeConfig(t, "[server]\nadmin_socket = \""+edge.AdminSocket+"\"\n[storage]\npath = \""+t.TempDir()+"\"\n")
	code, stdout, stderr := runCLI("replicate", "--config", nconf, "--to", "hub", "--match", "@acme/lib@1.*")
	if code != 0 || !strings.Contains(stdout, "replicate: 1 copied, 0 already there, 0 failed") {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	resp, err := http.Get(hub.URL + "/npm/@acme/lib/-/lib-1.0.0.tgz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("the tarball on the hub: %d", resp.StatusCode)
	}
}
