package docker_test

import (
	"encoding/json"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// push writes img under repo:tag with go-containerregistry (set-up only;
// the client tests use the real CLIs).
func push(t *testing.T, n *noraUnderTest, repo string, img v1.Image, tags ...string) {
	t.Helper()
	for _, tag := range tags {
		ref, err := name.ParseReference(n.Addr+"/"+repo+":"+tag, name.Insecure)
		if err != nil {
			t.Fatal(err)
		}
		if err := remote.Write(ref, img, remote.WithAuth(&authn.Basic{Username: testUser, Password: testPass})); err != nil {
			t.Fatal(err)
		}
	}
}

func TestListsPage(t *testing.T) {
	n := startNora(t, options{})
	img := randomImage(t, 1024, 1)
	push(t, n, "team/a", img, "v3", "v1", "v2", "latest")
	push(t, n, "team/b", img, "x")
	push(t, n, "c", randomImage(t, 1024, 1), "x")
	f := func(path, wantBody, wantLink string) {
		t.Helper()
		resp, body := do(t, "GET", n.url(path), "", "", nil, nil)
		var got, want any
		json.Unmarshal(body, &got)
		json.Unmarshal([]byte(wantBody), &want)
		gb, _ := json.Marshal(got)
		wb, _ := json.Marshal(want)
		if resp.StatusCode != 200 || string(gb) != string(wb) || resp.Header.Get("Link") != wantLink {
			t.Fatalf("GET %s: %d %s Link %q; want %s Link %q", path, resp.StatusCode, body, resp.Header.Get("Link"), wantBody, wantLink)
		}
	}
	f("/v2/team/a/tags/list", `{"name":"team/a","tags":["latest","v1","v2","v3"]}`, "")
	f("/v2/team/a/tags/list?n=2", `{"name":"team/a","tags":["latest","v1"]}`, `</v2/team/a/tags/list?last=v1&n=2>; rel="next"`)
	f("/v2/team/a/tags/list?n=2&last=v1", `{"name":"team/a","tags":["v2","v3"]}`, "")
	f("/v2/team/a/tags/list?last=v2", `{"name":"team/a","tags":["v3"]}`, "")
	f("/v2/team/a/tags/list?n=0", `{"name":"team/a","tags":[]}`, "")
	f("/v2/_catalog", `{"repositories":["c","team/a","team/b"]}`, "")
	f("/v2/_catalog?n=1", `{"repositories":["c"]}`, `</v2/_catalog?last=c&n=1>; rel="next"`)
	f("/v2/_catalog?n=1&last=c", `{"repositories":["team/a"]}`, `</v2/_catalog?last=team%2Fa&n=1>; rel="next"`)
	f("/v2/_catalog?n=5&last=team/a", `{"repositories":["team/b"]}`, "")

	// Deletes: a tag, a manifest (with its other tags), a blob link.
	resp, body := do(t, "DELETE", n.url("/v2/team/a/manifests/v3"), testUser, testPass, nil, nil)
	if resp.StatusCode != 202 {
		t.Fatalf("delete tag: %d %s", resp.StatusCode, body)
	}
	f("/v2/team/a/tags/list", `{"name":"team/a","tags":["latest","v1","v2"]}`, "")
	resp, _ = do(t, "HEAD", n.url("/v2/team/a/manifests/v1"), "", "", nil, nil)
	d := resp.Header.Get("Docker-Content-Digest")
	blobs := manifestBlobs(t, n, "team/a", "v1")
	if resp, body := do(t, "DELETE", n.url("/v2/team/a/manifests/"+d), testUser, testPass, nil, nil); resp.StatusCode != 202 {
		t.Fatalf("delete manifest: %d %s", resp.StatusCode, body)
	}
	f("/v2/team/a/tags/list", `{"name":"team/a","tags":[]}`, "")
	resp, body = do(t, "GET", n.url("/v2/team/a/manifests/"+d), "", "", nil, nil)
	wantError(t, "deleted manifest", 404, "MANIFEST_UNKNOWN", resp.StatusCode, body)
	resp, body = do(t, "DELETE", n.url("/v2/team/a/manifests/"+d), testUser, testPass, nil, nil)
	wantError(t, "deleted manifest again", 404, "MANIFEST_UNKNOWN", resp.StatusCode, body)
	if resp, body := do(t, "DELETE", n.url("/v2/team/a/blobs/"+blobs[1]), testUser, testPass, nil, nil); resp.StatusCode != 202 {
		t.Fatalf("delete blob: %d %s", resp.StatusCode, body)
	}
	resp, body = do(t, "HEAD", n.url("/v2/team/a/blobs/"+blobs[1]), "", "", nil, nil)
	if resp.StatusCode != 404 {
		t.Fatalf("unlinked blob: %d", resp.StatusCode)
	}
	resp, body = do(t, "DELETE", n.url("/v2/team/a/blobs/"+blobs[1]), testUser, testPass, nil, nil)
	wantError(t, "unlinked blob again", 404, "BLOB_UNKNOWN", resp.StatusCode, body)
	// The same bytes stay linked, and served, in team/b.
	if resp, _ := do(t, "HEAD", n.url("/v2/team/b/blobs/"+blobs[1]), "", "", nil, nil); resp.StatusCode != 200 {
		t.Fatalf("blob of team/b after unlinking it from team/a: %d", resp.StatusCode)
	}
	// The repository stays hosted, and empty.
	f("/v2/_catalog", `{"repositories":["c","team/a","team/b"]}`, "")
	resp, body = do(t, "DELETE", n.url("/v2/nothere/manifests/v1"), testUser, testPass, nil, nil)
	wantError(t, "delete in a repository that is not hosted", 404, "NAME_UNKNOWN", resp.StatusCode, body)
}
