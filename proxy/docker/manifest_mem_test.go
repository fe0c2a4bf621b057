package docker_test

import (
	"context"
	"testing"
	"time"

	"nora/internal/units"
	"nora/proxy/admin"
	"nora/proxy/docker"
	"nora/proxy/proxytest"
	"nora/upstream/upstreamtest"
)

// TestWarmManifestsFollowEviction: warm manifests are answered from
// memory, yet once nora evicts them a GET by digest and a GET by a fresh
// tag fetch them again, as they did when every GET opened the store.
func TestWarmManifestsFollowEviction(t *testing.T) {
	up := upstreamtest.New(t, upstreamtest.Options{})
	img := up.PushRandomImage(t, "library/mem", "1", 1, 1024)
	d, _ := img.Digest()
	n := startNora(t, options{upstreams: []docker.UpstreamConfig{{Name: "docker.io", URL: up.URL,
		TTL: units.Duration(time.Hour)}}})
	c := proxytest.BenchClient(1)
	get := func(ref string) {
		t.Helper()
		if _, err := proxytest.Get(c, n.URL+"/v2/mem/manifests/"+ref, "Accept", ociAccept); err != nil {
			t.Fatal(err)
		}
	}
	want := func(what string, byDigest, byTag int) {
		t.Helper()
		if g, gt := up.ManifestGets("library/mem", d.String()), up.ManifestGets("library/mem", "1"); g != byDigest || gt != byTag {
			t.Fatalf("%s: upstream manifest GETs by digest %d, by tag %d; want %d, %d", what, g, gt, byDigest, byTag)
		}
	}
	evict := func() {
		t.Helper()
		if _, err := admin.NewClient(n.AdminSocket).Evict(context.Background(), "docker.io/library/mem:1"); err != nil {
			t.Fatal(err)
		}
	}
	for range 20 { // the memory takes its copies in the background
		get(d.String())
		get("1")
	}
	want("warm", 1, 1)
	evict()
	get(d.String())
	want("by digest after an eviction", 2, 1)
	for range 20 {
		get("1")
	}
	want("by tag, the manifest back", 2, 1)
	evict()
	get("1")
	want("by tag after an eviction", 2, 2)
	get(d.String())
	want("by digest, the manifest back", 2, 2)
}
