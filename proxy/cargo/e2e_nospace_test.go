package cargo_test

import (
	"crypto/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"nora/cache"
	"nora/proxy"
	"nora/proxy/cargo/cargotest"
	"nora/proxy/proxytest"
)

// TestPublishToFullDisk: cargo publish into a full store is answered 507
// in cargo's error shape, not 500; nothing of it is visible; the same
// publish succeeds once there is room.
func TestPublishToFullDisk(t *testing.T) {
	up := cargotest.New(t, cargotest.Options{})
	disk := proxytest.NewDisk(t, "16m")
	var log proxytest.Log
	n := proxytest.StartLogged(t, proxy.AppConfig{Cargo: alwaysRevalidate(up), Auth: users(t), Storage: cache.Config{Path: disk.Path}}, log.Logger())
	ci := newCargoUser(t, n.Addr, basicToken(testUser, testPass))
	dir := ci.crate(t, "acme-big", "0.1.0", "", "")
	big := make([]byte, 2<<20)
	rand.Read(big)
	if err := os.WriteFile(filepath.Join(dir, "big.bin"), big, 0o600); err != nil {
		t.Fatal(err)
	}

	disk.Fill(t, 64<<10)
	out, err := ci.publish(t, dir)
	if err == nil || !strings.Contains(out, "507") || !strings.Contains(out, "insufficient storage") {
		t.Fatalf("cargo publish into a full disk: %v\n%s", err, out)
	}
	n.CheckNoPath(t, "cargo publish", []byte(out))
	body := publishBody(metadata("acme-big", "0.1.0"), packaged(t, dir, "acme-big", "0.1.0"))
	status, resp, _ := rawRequest(t, n.Addr, "PUT", "/cargo/api/v1/crates/new", basicToken(testUser, testPass), len(body), body)
	if status != 507 || resp != cargoErrorBody("insufficient storage") {
		t.Fatalf("publish into a full disk: %d %s, want 507 insufficient storage", status, resp)
	}
	n.CheckNoPath(t, "publish", []byte(resp))

	// Nothing of it is visible.
	for _, p := range []string{"/cargo/index/ac/me/acme-big", "/cargo/api/v1/crates/acme-big/0.1.0/download"} {
		if resp, body := get(t, n.URL+p); resp.StatusCode != 404 {
			t.Fatalf("GET %s after a failed publish: %d %s", p, resp.StatusCode, body)
		}
	}
	if len(n.TempFiles()) != 0 {
		t.Fatalf("temp files left: %v", n.TempFiles())
	}
	if !strings.Contains(log.String(), "no space left on device") {
		t.Fatalf("the log does not say why:\n%s", log.String())
	}

	// Room again: the same publish goes through.
	disk.Free(t)
	if out, err := ci.publish(t, dir); err != nil || !strings.Contains(out, "Published acme-big v0.1.0") {
		t.Fatalf("cargo publish with room: %v\n%s", err, out)
	}
	if lines := indexLines(t, n.Addr, "ac/me/acme-big"); len(lines) != 1 || lines[0]["vers"] != "0.1.0" {
		t.Fatalf("index after the publish: %v", lines)
	}
}
