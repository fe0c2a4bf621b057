package pypi_test

import (
	"crypto/rand"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"nora/cache"
	"nora/proxy"
	"nora/proxy/proxytest"
	"nora/proxy/pypi/pypitest"
)

// TestUploadToFullDisk: twine upload into a full store is answered 507 in
// plain text, not 500; nothing of it is visible; the same upload succeeds
// once there is room.
func TestUploadToFullDisk(t *testing.T) {
	up := pypitest.New(t, pypitest.Options{})
	disk := proxytest.NewDisk(t, "16m")
	var log proxytest.Log
	n := &noraUnderTest{proxytest.StartLogged(t, proxy.AppConfig{PyPI: pypiConfig(up), Auth: authConfig(t, true, true),
		Storage: cache.Config{Path: disk.Path}}, log.Logger())}
	big := make([]byte, 2<<20)
	rand.Read(big)
	name, whl := makeWheel(t, "acme-big", "1.0.0", "", "DATA = '"+base64.StdEncoding.EncodeToString(big)+"'\n")
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, whl, 0o600); err != nil {
		t.Fatal(err)
	}

	disk.Fill(t, 64<<10)
	out, err := twine(t, n, testUser, testPass, path)
	if err == nil || !strings.Contains(out, "507") {
		t.Fatalf("twine upload into a full disk: %v\n%s", err, out)
	}
	n.CheckNoPath(t, "twine upload", []byte(out))
	resp, body := n.upload(t, twineForm("acme-big", "1.0.0", "bdist_wheel", name, whl, ""))
	if resp.StatusCode != 507 || body != "507 Insufficient Storage: insufficient storage\n" || resp.Status != "507 insufficient storage" {
		t.Fatalf("upload into a full disk: %s %q, want 507 insufficient storage", resp.Status, body)
	}
	n.CheckNoPath(t, "upload", []byte(body))

	// Nothing of it is visible.
	for _, p := range []string{"/simple/acme-big/", "/simple/acme-big/" + name} {
		if resp, body := httpGet(t, n.URL+p); resp.StatusCode != 404 {
			t.Fatalf("GET %s after a failed upload: %d %s", p, resp.StatusCode, body)
		}
	}
	if n.blobStored(whl) || n.uploadTemps(t) != 0 {
		t.Fatalf("a failed upload left its file (stored %v, temp files %d)", n.blobStored(whl), n.uploadTemps(t))
	}
	if !strings.Contains(log.String(), "no space left on device") {
		t.Fatalf("the log does not say why:\n%s", log.String())
	}

	// Room again: the same upload goes through.
	disk.Free(t)
	mustTwine(t, n, path)
	if resp, body := httpGet(t, n.URL+"/simple/acme-big/"+name); resp.StatusCode != 200 || string(body) != string(whl) {
		t.Fatalf("GET the uploaded file: %d, %d bytes", resp.StatusCode, len(body))
	}
}
