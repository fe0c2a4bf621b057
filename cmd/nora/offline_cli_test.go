package main

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"nora/proxy"
	"nora/proxy/docker"
	"nora/proxy/proxytest"
	"nora/upstream/upstreamtest"
)

// nora export writes the tar and nora import loads it into a nora whose
// upstream is gone; a damaged tar exits 1 naming the member, and a failed
// export leaves no file.
func TestExportImportCLI(t *testing.T) {
	reg := upstreamtest.New(t, upstreamtest.Options{})
	reg.PushRandomImage(t, "library/web", "1", 2, 16<<10)
	cfg := proxy.AppConfig{Docker: docker.DefaultConfig()}
	cfg.Docker.Upstreams = []docker.UpstreamConfig{{Name: "docker.io", URL: reg.URL}}
	hub := proxytest.Start(t, cfg)
	conf := func(n *proxytest.Nora) string {
		return writeConfig(t, "[server]\nadmin_socket = \""+n.AdminSocket+"\"\n[storage]\npath = \""+t.TempDir()+"\"\n")
	}
	dir := t.TempDir()
	list := filepath.Join(dir, "list.txt")
	os.WriteFile(list, []byte("web:1\n"), 0o600)
	site := filepath.Join(dir, "site.tar")

	code, stdout, stderr := runCLI("export", "--config", conf(hub), "-f", list, "-o", site)
	if code != 0 || !strings.Contains(stdout, "wrote "+site) {
		t.Fatalf("export: exit %d\n%s\n%s", code, stdout, stderr)
	}
	os.WriteFile(list, []byte("web:1\nno/such:1\n"), 0o600)
	code, _, stderr = runCLI("export", "--config", conf(hub), "-f", list, "-o", filepath.Join(dir, "cut.tar"))
	if _, err := os.Stat(filepath.Join(dir, "cut.tar")); code != 1 || err == nil || !strings.Contains(stderr, "export") {
		t.Fatalf("export of an unknown image: exit %d, file: %v\n%s", code, err, stderr)
	}
	if m, _ := filepath.Glob(filepath.Join(dir, "*.partial")); len(m) != 0 {
		t.Fatalf("a failed export left %v", m)
	}
	reg.Stop()

	edge := proxytest.Start(t, cfg)
	b, _ := os.ReadFile(site)
	bad := filepath.Join(dir, "bad.tar")
	b[600] ^= 0x01 // in the first member's bytes
	os.WriteFile(bad, b, 0o600)
	code, _, stderr = runCLI("import", "--config", conf(edge), bad)
	if code != 1 || !strings.Contains(stderr, `member "blobs/sha256/`) {
		t.Fatalf("import of a damaged tar: exit %d\n%s", code, stderr)
	}
	code, stdout, stderr = runCLI("import", "--config", conf(edge), site)
	if code != 0 || !strings.Contains(stdout, "imported web:1") {
		t.Fatalf("import: exit %d\n%s\n%s", code, stdout, stderr)
	}
	req, _ := http.NewRequest(http.MethodGet, edge.URL+"/v2/web/manifests/1", nil)
	req.Header.Set("Accept", "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("web:1 is not served after the import: %v %v", err, resp)
	}
	resp.Body.Close()
}
