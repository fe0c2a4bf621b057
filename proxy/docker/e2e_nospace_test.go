package docker_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"nora/hosted/oci"
	"nora/proxy/proxytest"
)

// wantNoSpace checks a 507 in the OCI error shape that shows no path.
func wantNoSpace(t *testing.T, n *noraUnderTest, what string, resp *http.Response, body []byte) {
	t.Helper()
	var e struct {
		Errors []struct{ Code, Message string }
	}
	if resp.StatusCode != 507 || json.Unmarshal(body, &e) != nil || len(e.Errors) != 1 ||
		e.Errors[0].Code != "INSUFFICIENT_STORAGE" || e.Errors[0].Message != "insufficient storage" {
		t.Fatalf("%s: %d %s, want 507 INSUFFICIENT_STORAGE", what, resp.StatusCode, body)
	}
	n.CheckNoPath(t, what, body)
}

// TestPushToFullDisk: a push into a full store is answered 507 in the OCI
// shape, never 400 with the temp file's path; it leaves no blob, tag or
// temp file; and the same push succeeds once there is room.
func TestPushToFullDisk(t *testing.T) {
	disk := proxytest.NewDisk(t, "16m")
	var log proxytest.Log
	// crane may have sent the config blob of the failed push before it
	// gave up: that session keeps its bytes until it has been idle for
	// UploadIdle, as any abandoned upload does.
	n := startNora(t, options{storage: disk.Path, log: log.Logger(), hosted: oci.Config{UploadIdle: 2 * time.Second}})
	c := newCLI(t, n.Addr, testUser, testPass)
	// The repository exists, so that every read below is a hosted one.
	seed := []byte("seed")
	resp, body := do(t, "POST", n.url("/v2/team/full/blobs/uploads/?digest="+digest.FromBytes(seed).String()), testUser, testPass, nil, bytes.NewReader(seed))
	if resp.StatusCode != 201 {
		t.Fatalf("seed blob: %d %s", resp.StatusCode, body)
	}
	img := randomImage(t, 1<<20, 1)
	want := digestOf(t, img)
	tar := imageTarball(t, img)
	layers, _ := img.Layers()
	layer, _ := layers[0].Digest()

	disk.Fill(t, 64<<10)
	out, err := c.crane("push", tar, n.Addr+"/team/full:v1")
	if err == nil || !strings.Contains(out, "insufficient storage") {
		t.Fatalf("crane push to a full disk: %v\n%s", err, out)
	}
	n.CheckNoPath(t, "crane push", []byte(out))

	// The raw protocol: a chunk, a monolithic upload.
	blob := randomBytes(1 << 20)
	d := digest.FromBytes(blob)
	loc := startSession(t, n, "team/full")
	resp, body = do(t, "PATCH", n.url(loc), testUser, testPass, nil, bytes.NewReader(blob))
	wantNoSpace(t, n, "PATCH", resp, body)
	resp, body = do(t, "GET", n.url(loc), testUser, testPass, nil, nil)
	wantError(t, "session after a full disk", 404, "BLOB_UPLOAD_UNKNOWN", resp.StatusCode, body)
	resp, body = do(t, "POST", n.url("/v2/team/full/blobs/uploads/?digest="+d.String()), testUser, testPass, nil, bytes.NewReader(blob))
	wantNoSpace(t, n, "monolithic POST", resp, body)

	// Nothing partial is visible.
	for _, b := range []string{d.String(), layer.String()} {
		resp, body = do(t, "GET", n.url("/v2/team/full/blobs/"+b), testUser, testPass, nil, nil)
		wantError(t, "blob of a failed upload", 404, "BLOB_UNKNOWN", resp.StatusCode, body)
		if n.stored(b) {
			t.Fatalf("blob %s of a failed upload is in the store", b)
		}
	}
	resp, body = do(t, "GET", n.url("/v2/team/full/manifests/v1"), testUser, testPass, nil, nil)
	wantError(t, "tag of a failed push", 404, "MANIFEST_UNKNOWN", resp.StatusCode, body)
	n.WaitNoTempFiles(t, 10*time.Second)
	if !strings.Contains(log.String(), "no space left on device") {
		t.Fatalf("the log does not say why:\n%s", log.String())
	}

	// Room again: the same push goes through.
	disk.Free(t)
	c.mustCrane("push", tar, n.Addr+"/team/full:v1")
	checkPulls(t, c, n.Addr+"/team/full", "v1", want)
	resp, body = do(t, "POST", n.url("/v2/team/full/blobs/uploads/?digest="+d.String()), testUser, testPass, nil, bytes.NewReader(blob))
	if resp.StatusCode != 201 {
		t.Fatalf("monolithic POST with room: %d %s", resp.StatusCode, body)
	}

	// A manifest PUT into a full disk: 507, the tag stays where it was.
	var m map[string]any
	if err := json.Unmarshal([]byte(c.mustCrane("manifest", n.Addr+"/team/full:v1")), &m); err != nil {
		t.Fatal(err)
	}
	m["annotations"] = map[string]string{"build": "2"}
	m2, _ := json.Marshal(m)
	ct := map[string]string{"Content-Type": m["mediaType"].(string)}
	disk.Fill(t, 0)
	resp, body = do(t, "PUT", n.url("/v2/team/full/manifests/v1"), testUser, testPass, ct, bytes.NewReader(m2))
	wantNoSpace(t, n, "manifest PUT", resp, body)
	if got := c.mustCrane("digest", n.Addr+"/team/full:v1"); got != want {
		t.Fatalf("tag after a failed manifest PUT: %s, want %s", got, want)
	}
	resp, body = do(t, "GET", n.url("/v2/team/full/manifests/"+digest.FromBytes(m2).String()), testUser, testPass, nil, nil)
	wantError(t, "manifest of a failed PUT", 404, "MANIFEST_UNKNOWN", resp.StatusCode, body)
	disk.Free(t)
	resp, body = do(t, "PUT", n.url("/v2/team/full/manifests/v1"), testUser, testPass, ct, bytes.NewReader(m2))
	if resp.StatusCode != 201 {
		t.Fatalf("manifest PUT with room: %d %s", resp.StatusCode, body)
	}
	n.WaitNoTempFiles(t, 10*time.Second)
}
