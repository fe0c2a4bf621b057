package docker_test

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"nora/hosted/oci"
)

var basicAuth = "Basic " + base64.StdEncoding.EncodeToString([]byte(testUser+":"+testPass))

// rawTruncated sends a request whose body stops after sent of declared
// bytes and, once the server has read them all, closes the connection: a
// client that died mid-upload.
func rawTruncated(t *testing.T, n *noraUnderTest, method, path string, declared int, sent []byte) {
	t.Helper()
	c, err := net.Dial("tcp", n.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "%s %s HTTP/1.1\r\nHost: %s\r\nAuthorization: %s\r\nContent-Type: application/octet-stream\r\nContent-Length: %d\r\n\r\n",
		method, path, n.Addr, basicAuth, declared)
	c.Write(sent)
	n.waitTempFileOf(t, int64(len(sent)))
}

// waitTempFileOf waits until a temp file of the store holds size bytes:
// the server has read that much of an upload. Without it, a check that a
// broken upload left nothing would pass had the upload never started.
func (n *noraUnderTest) waitTempFileOf(t *testing.T, size int64) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		for _, name := range n.TempFiles() {
			if fi, err := os.Stat(filepath.Join(n.DataDir, "tmp", name)); err == nil && fi.Size() == size {
				return
			}
		}
	}
	t.Fatalf("no temp file reached %d bytes: the server did not read the upload", size)
}

// released waits until the broken request that held the session at loc
// let go of it (GET answers 400 BLOB_UPLOAD_INVALID until it notices its
// connection is gone) and returns the session's status.
func released(t *testing.T, n *noraUnderTest, loc string) *http.Response {
	t.Helper()
	resp, _ := do(t, "GET", n.url(loc), testUser, testPass, nil, nil)
	for deadline := time.Now().Add(5 * time.Second); resp.StatusCode == 400 && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
		resp, _ = do(t, "GET", n.url(loc), testUser, testPass, nil, nil)
	}
	return resp
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

func wantError(t *testing.T, what string, status int, code string, gotStatus int, body []byte) {
	t.Helper()
	if gotStatus != status || !strings.Contains(string(body), `"code":"`+code+`"`) {
		t.Fatalf("%s: %d %s, want %d %s", what, gotStatus, body, status, code)
	}
}

// startSession opens an upload session and returns its Location.
func startSession(t *testing.T, n *noraUnderTest, repo string) string {
	t.Helper()
	resp, body := do(t, "POST", n.url("/v2/"+repo+"/blobs/uploads/"), testUser, testPass, nil, nil)
	if resp.StatusCode != 202 || resp.Header.Get("Location") == "" || resp.Header.Get("Range") != "0-0" || resp.Header.Get("Docker-Upload-UUID") == "" {
		t.Fatalf("POST upload: %d %v %s", resp.StatusCode, resp.Header, body)
	}
	return resp.Header.Get("Location")
}

func TestRefusedUploadsLeaveNothing(t *testing.T) {
	blob := randomBytes(200 << 10)
	d := digest.FromBytes(blob)

	// A chunk that breaks off: the session rolls back to what it had, and
	// once idle the janitor removes it.
	idle := startNora(t, options{hosted: oci.Config{UploadIdle: 300 * time.Millisecond}})
	loc := startSession(t, idle, "app")
	rawTruncated(t, idle, "PATCH", loc, len(blob), blob[:len(blob)/2])
	if resp := released(t, idle, loc); resp.StatusCode != 204 || resp.Header.Get("Range") != "0-0" {
		t.Fatalf("status after a broken chunk: %d Range %q, want 204 0-0", resp.StatusCode, resp.Header.Get("Range"))
	}
	idle.WaitNoTempFiles(t, 10*time.Second)
	resp, body := do(t, "GET", idle.url(loc), testUser, testPass, nil, nil)
	wantError(t, "expired session", 404, "BLOB_UPLOAD_UNKNOWN", resp.StatusCode, body)

	// A final PUT whose body breaks off commits nothing: the session rolls
	// back (the client may resume) until the janitor ends it.
	loc = startSession(t, idle, "app")
	rawTruncated(t, idle, "PUT", loc+"?digest="+d.String(), len(blob), blob[:len(blob)-10])
	if resp := released(t, idle, loc); resp.StatusCode != 204 || resp.Header.Get("Range") != "0-0" {
		t.Fatalf("status after a broken final PUT: %d Range %q, want 204 0-0", resp.StatusCode, resp.Header.Get("Range"))
	}
	idle.WaitNoTempFiles(t, 10*time.Second)
	if idle.stored(d.String()) {
		t.Fatal("a broken final PUT committed the blob")
	}

	// From here on no session idles out while the test runs: whatever a
	// refusal leaves, the handler must remove itself.
	n := startNora(t, options{})

	// A monolithic upload that breaks off. fasthttp reads the first 8 KiB
	// of a body before it calls the handler: a shorter break never reaches
	// it.
	rawTruncated(t, n, "POST", "/v2/app/blobs/uploads/?digest="+d.String(), len(blob), blob[:64<<10])
	n.WaitNoTempFiles(t, 10*time.Second)

	// A wrong digest: 400 DIGEST_INVALID, nothing committed, session gone.
	loc = startSession(t, n, "app")
	resp, body = do(t, "PATCH", n.url(loc), testUser, testPass, map[string]string{"Content-Range": fmt.Sprintf("0-%d", len(blob)-1)}, bytes.NewReader(blob))
	if resp.StatusCode != 202 || resp.Header.Get("Range") != fmt.Sprintf("0-%d", len(blob)-1) {
		t.Fatalf("PATCH: %d %s", resp.StatusCode, body)
	}
	wrong := digest.FromString("something else")
	resp, body = do(t, "PUT", n.url(loc+"?digest="+wrong.String()), testUser, testPass, nil, nil)
	wantError(t, "wrong digest", 400, "DIGEST_INVALID", resp.StatusCode, body)
	if len(n.TempFiles()) != 0 || n.stored(wrong.String()) || n.stored(d.String()) {
		t.Fatalf("a refused upload left %v, stored wrong=%v right=%v", n.TempFiles(), n.stored(wrong.String()), n.stored(d.String()))
	}
	resp, body = do(t, "PUT", n.url(loc+"?digest="+d.String()), testUser, testPass, nil, nil)
	wantError(t, "PUT to the refused session", 404, "BLOB_UPLOAD_UNKNOWN", resp.StatusCode, body)
	resp, body = do(t, "POST", n.url("/v2/app/blobs/uploads/?digest="+wrong.String()), testUser, testPass, nil, bytes.NewReader(blob))
	wantError(t, "monolithic wrong digest", 400, "DIGEST_INVALID", resp.StatusCode, body)

	// A chunk out of order: 416 with the current Range; the session lives on.
	loc = startSession(t, n, "app")
	resp, _ = do(t, "PATCH", n.url(loc), testUser, testPass, map[string]string{"Content-Range": "10-19"}, bytes.NewReader(blob[10:20]))
	if resp.StatusCode != 416 || resp.Header.Get("Range") != "0-0" {
		t.Fatalf("out of order chunk: %d Range %q", resp.StatusCode, resp.Header.Get("Range"))
	}
	resp, _ = do(t, "PUT", n.url(loc+"?digest="+d.String()), testUser, testPass, map[string]string{"Content-Range": fmt.Sprintf("0-%d", len(blob)-1)}, bytes.NewReader(blob))
	if resp.StatusCode != 201 || resp.Header.Get("Docker-Content-Digest") != d.String() || resp.Header.Get("Location") != "/v2/app/blobs/"+d.String() {
		t.Fatalf("PUT with the last chunk: %d %v", resp.StatusCode, resp.Header)
	}

	// A manifest naming a missing blob: 400 MANIFEST_BLOB_UNKNOWN, nothing
	// stored, no tag.
	missing := digest.FromString("never pushed")
	m := fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",`+
		`"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":%d},`+
		`"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"%s","size":14}]}`, d, len(blob), missing)
	ct := map[string]string{"Content-Type": "application/vnd.oci.image.manifest.v1+json"}
	resp, body = do(t, "PUT", n.url("/v2/app/manifests/v1"), testUser, testPass, ct, strings.NewReader(m))
	wantError(t, "manifest with a missing blob", 400, "MANIFEST_BLOB_UNKNOWN", resp.StatusCode, body)
	if n.stored(digest.FromString(m).String()) {
		t.Fatal("refused manifest was stored")
	}
	resp, body = do(t, "GET", n.url("/v2/app/manifests/v1"), "", "", nil, nil)
	wantError(t, "tag of a refused manifest", 404, "MANIFEST_UNKNOWN", resp.StatusCode, body)

	// Other manifest refusals.
	resp, body = do(t, "PUT", n.url("/v2/app/manifests/"+digest.FromString("x").String()), testUser, testPass, ct, strings.NewReader(m))
	wantError(t, "manifest digest mismatch", 400, "DIGEST_INVALID", resp.StatusCode, body)
	resp, body = do(t, "PUT", n.url("/v2/app/manifests/v2"), testUser, testPass,
		map[string]string{"Content-Type": "application/vnd.oci.image.index.v1+json"}, strings.NewReader(m))
	wantError(t, "mediaType disagrees with Content-Type", 400, "MANIFEST_INVALID", resp.StatusCode, body)
	resp, body = do(t, "PUT", n.url("/v2/app/manifests/v3"), testUser, testPass, ct, strings.NewReader(`{"schemaVersion":2,`))
	wantError(t, "not JSON", 400, "MANIFEST_INVALID", resp.StatusCode, body)
	resp, body = do(t, "PUT", n.url("/v2/app/manifests/v4"), testUser, testPass, ct, io.LimitReader(zeros{}, 4<<20+1))
	wantError(t, "manifest over 4 MiB", 413, "MANIFEST_INVALID", resp.StatusCode, body)

	// A good manifest now goes through, with its OCI-Subject when it has
	// one, even a subject that does not exist.
	m = strings.Replace(m, `"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"`+missing.String()+`","size":14}]`,
		`"layers":[],"subject":{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"`+missing.String()+`","size":2}`, 1)
	resp, body = do(t, "PUT", n.url("/v2/app/manifests/v1"), testUser, testPass, ct, strings.NewReader(m))
	if resp.StatusCode != 201 || resp.Header.Get("OCI-Subject") != missing.String() || resp.Header.Get("Docker-Content-Digest") != digest.FromString(m).String() {
		t.Fatalf("good manifest: %d %v %s", resp.StatusCode, resp.Header, body)
	}
	resp, body = do(t, "GET", n.url("/v2/app/referrers/"+missing.String()), "", "", nil, nil)
	if resp.StatusCode != 200 || !strings.Contains(string(body), digest.FromString(m).String()) {
		t.Fatalf("referrers: %d %s", resp.StatusCode, body)
	}
	n.WaitNoTempFiles(t, 10*time.Second)
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

func TestUploadSessionLimit(t *testing.T) {
	n := startNora(t, options{hosted: oci.Config{MaxUploads: 2}})
	startSession(t, n, "a")
	loc := startSession(t, n, "a")
	resp, body := do(t, "POST", n.url("/v2/a/blobs/uploads/"), testUser, testPass, nil, nil)
	wantError(t, "third session", 429, "TOOMANYREQUESTS", resp.StatusCode, body)
	if resp.Header.Get("Retry-After") == "" {
		t.Fatal("429 without Retry-After")
	}
	if resp, _ := do(t, "DELETE", n.url(loc), testUser, testPass, nil, nil); resp.StatusCode != 204 {
		t.Fatalf("cancel: %d", resp.StatusCode)
	}
	startSession(t, n, "a")
	// Sessions belong to their repository and their user.
	resp, body = do(t, "GET", n.url(strings.Replace(loc, "/v2/a/", "/v2/b/", 1)), testUser, testPass, nil, nil)
	wantError(t, "session of another repository", 404, "BLOB_UPLOAD_UNKNOWN", resp.StatusCode, body)
}
