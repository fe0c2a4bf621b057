package upstream_test

import (
	"context"
	"io"
	"net/http"
	"testing"

	"github.com/opencontainers/go-digest"

	"nora/upstream"
	"nora/upstream/upstreamtest"
)

// TestAgainstTestRegistry pulls an image with the client from the registry
// that nora's end-to-end tests use: token dance with credentials sent only
// to the configured realm, tokens cached, bytes verified.
func TestAgainstTestRegistry(t *testing.T) {
	up := upstreamtest.New(t, upstreamtest.Options{Username: "u", Password: "p"})
	img := up.PushRandomImage(t, "library/app", "v1", 2, 4096)
	up.ResetCounters()

	cfg := upstream.DefaultConfig()
	r, err := upstream.NewClient(cfg, nil, nil).Registry(upstream.RegistryOptions{
		Name: "test", URL: up.URL, Username: "u", Password: "p", Realm: up.Realm,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	accept := http.Header{"Accept": {"application/vnd.docker.distribution.manifest.v2+json"}}
	resp, err := r.Do(ctx, http.MethodHead, "library/app", "manifests/v1", accept)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	want, _ := img.Digest()
	if resp.StatusCode != 200 || resp.Header.Get("Docker-Content-Digest") != want.String() {
		t.Fatalf("HEAD: %s, digest %s, want %s", resp.Status, resp.Header.Get("Docker-Content-Digest"), want)
	}
	if n, ok := r.RateLimitRemaining(); !ok || n != 100 {
		t.Fatalf("rate limit %d %v", n, ok)
	}
	layers, _ := img.Layers()
	for _, l := range layers {
		h, _ := l.Digest()
		resp, err := r.Do(ctx, http.MethodGet, "library/app", "blobs/"+h.String(), nil)
		if err != nil {
			t.Fatal(err)
		}
		v := digest.Digest(h.String()).Verifier()
		_, err = io.Copy(v, resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 || !v.Verified() {
			t.Fatalf("blob %s: %s, %v, verified %v", h, resp.Status, err, v.Verified())
		}
		if up.BlobGets(digest.Digest(h.String())) != 1 {
			t.Fatalf("blob %s fetched %d times", h, up.BlobGets(digest.Digest(h.String())))
		}
	}
	if n := up.TokensIssued(); n != 1 {
		t.Fatalf("tokens issued %d, want 1 (cached per scope)", n)
	}

	// The token server refuses strangers; credentials that stay home mean a 401.
	r2, _ := upstream.NewClient(cfg, nil, nil).Registry(upstream.RegistryOptions{
		Name: "test", URL: up.URL, Username: "u", Password: "p",
	})
	resp, err = r2.Do(ctx, http.MethodGet, "library/app", "manifests/v1", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("realm not configured: %s, want 401", resp.Status)
	}

	// Upstream down: unavailable, and back again.
	up.Stop()
	if _, err := r.Do(ctx, http.MethodGet, "library/app", "manifests/v1", nil); !upstream.IsUnavailable(err) {
		t.Fatalf("stopped: err = %v", err)
	}
	up.Start()
	resp, err = r.Do(ctx, http.MethodGet, "library/app", "manifests/v1", accept)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("restarted: %v %v", resp, err)
	}
	resp.Body.Close()
}
