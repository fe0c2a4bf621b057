package npm_test

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"nora/auth"
	"nora/cache"
	"nora/proxy"
	"nora/proxy/npm"
	"nora/proxy/npm/npmtest"
	"nora/proxy/proxytest"
)

// TestPublishToFullDisk: npm publish into a full store is answered 507
// {"error":"insufficient storage"}, not 400 "cannot read the request
// body"; nothing of it is visible; the same publish succeeds once there
// is room.
func TestPublishToFullDisk(t *testing.T) {
	disk := proxytest.NewDisk(t, "16m")
	var log proxytest.Log
	ac := auth.DefaultConfig()
	ac.Htpasswd = proxytest.Htpasswd(t, testUser, testPass)
	// No upstream answers: @acme/* is never looked up there anyway.
	cfg := npm.Config{Upstream: "http://127.0.0.1:1/", HostedNames: []string{"@acme/*"}}
	n := proxytest.StartLogged(t, proxy.AppConfig{Npm: cfg, Auth: &ac, Storage: cache.Config{Path: disk.Path}}, log.Logger())
	ci := newClient(t, n, testUser, testPass)
	big := make([]byte, 2<<20)
	rand.Read(big)
	dir := npmtest.WritePackage(t, "@acme/big", "1.0.0", nil, "module.exports = '"+base64.StdEncoding.EncodeToString(big)+"';\n")
	tgz := npmtest.Tarball(t, "@acme/raw", "1.0.0", 1<<20)
	publish := func() (*http.Response, []byte) {
		return do(t, "PUT", n.URL+"/npm/@acme%2fraw", bytes.NewReader(publishDoc("@acme/raw", "1.0.0", tgz)),
			"Content-Type", "application/json", "Authorization", basicAuth(testUser, testPass))
	}

	disk.Fill(t, 64<<10)
	out := ci.mustFail(dir, "507", "publish")
	n.CheckNoPath(t, "npm publish", []byte(out))
	resp, body := publish()
	var e struct{ Error string }
	if resp.StatusCode != 507 || json.Unmarshal(body, &e) != nil || e.Error != "insufficient storage" {
		t.Fatalf("publish into a full disk: %d %s, want 507 insufficient storage", resp.StatusCode, body)
	}
	n.CheckNoPath(t, "publish", body)

	// Nothing of either publish is visible.
	for _, p := range []string{"/npm/@acme%2fbig", "/npm/@acme%2fraw", "/npm/@acme/raw/-/raw-1.0.0.tgz"} {
		if resp, body := get(t, n.URL+p); resp.StatusCode != 404 {
			t.Fatalf("GET %s after a failed publish: %d %s", p, resp.StatusCode, body)
		}
	}
	if n.Stored(cache.BlobKey(digest.FromBytes(tgz))) {
		t.Fatal("the tarball of a failed publish is in the store")
	}
	n.WaitNoTempFiles(t, 10*time.Second)
	if !strings.Contains(log.String(), "no space left on device") {
		t.Fatalf("the log does not say why:\n%s", log.String())
	}

	// Room again: the same publishes go through.
	disk.Free(t)
	ci.must(dir, "publish")
	if resp, body := publish(); resp.StatusCode != 201 {
		t.Fatalf("publish with room: %d %s", resp.StatusCode, body)
	}
	for _, p := range []string{"/npm/@acme%2fbig", "/npm/@acme/raw/-/raw-1.0.0.tgz"} {
		if resp, body := get(t, n.URL+p); resp.StatusCode != 200 {
			t.Fatalf("GET %s after the publish: %d %s", p, resp.StatusCode, body)
		}
	}
}
