package pull_test

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"nora/cache"
	"nora/internal/fault"
	"nora/proxy/pull"
)

// TestArtifact: one fill, by name or by digest (OCI blobs, through the
// repository's registry path); a warm hit asks nothing; offline asks
// nothing; bytes that do not match are refused.
func TestArtifact(t *testing.T) {
	e := newEnv(t)
	a := pull.Artifacts{Store: e.c, Stall: time.Minute}
	blob := digest.FromString("layer")
	e.o.set("/v2/app/blobs/"+blob.String(), "layer")
	e.o.set("/files/x.tgz", "tarball")
	byDigest := pull.ArtifactRequest{Upstream: e.reg, Repo: "app", URL: "blobs/" + blob.String(), Expect: cache.Expect{Digest: blob, Size: -1}}
	byName := pull.ArtifactRequest{Name: "refs/test/files/x.tgz", Upstream: e.reg, URL: "/files/x.tgz", Expect: cache.Expect{Size: -1}}
	f := func(what string, r pull.ArtifactRequest, offline bool, body, result string, kind fault.Kind, gets int) {
		t.Helper()
		r.Offline = offline
		obj, err := a.Get(context.Background(), r)
		path := "/files/x.tgz"
		if r.Repo != "" {
			path = "/v2/app/" + r.URL
		}
		e.wantAsked(what, path, 0, gets)
		if kind != 0 || err != nil {
			wantErr(t, what, err, kind)
			return
		}
		b, rerr := io.ReadAll(obj.Body)
		if rerr != nil {
			t.Fatalf("%s: reading: %v", what, rerr)
		}
		obj.Body.Close()
		if string(b) != body || obj.Result != result {
			t.Fatalf("%s: %q %s, want %q %s", what, b, obj.Result, body, result)
		}
		e.c.WaitLater() // a fill's commit, behind its reader: the next case is warm
	}
	f("offline, never cached", byDigest, true, "", "", fault.Unavailable, 0)
	f("cold by digest", byDigest, false, "layer", "miss", 0, 1)
	f("warm by digest", byDigest, false, "layer", "hit", 0, 1)
	f("offline, cached", byDigest, true, "layer", "hit", 0, 1)
	f("cold by name", byName, false, "tarball", "miss", 0, 1)
	f("warm by name", byName, false, "tarball", "hit", 0, 1)

	bad := digest.FromString("other")
	wrong := byDigest
	wrong.URL, wrong.Expect.Digest = "blobs/"+bad.String(), bad
	e.o.set("/v2/app/blobs/"+bad.String(), "not other")
	// The fill streams: the reader fails before EOF, nothing is stored.
	if obj, err := a.Get(context.Background(), wrong); err == nil {
		_, err = io.ReadAll(obj.Body)
		obj.Body.Close()
		if err == nil {
			t.Fatal("bytes not matching the digest were read to a clean EOF")
		}
	}
	if _, err := e.c.Stat(context.Background(), cache.BlobKey(bad)); err == nil {
		t.Fatal("bytes not matching the digest were stored")
	}
	missing := byName
	missing.Name, missing.URL = "refs/test/files/missing", "/files/missing"
	_, err := a.Get(context.Background(), missing)
	wantErr(t, "upstream 404", err, fault.NotFound)
}
