package npm_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"nora/auth"
	"nora/cache"
	"nora/proxy"
	"nora/proxy/admin"
	"nora/proxy/npm"
	"nora/proxy/npm/npmtest"
	"nora/proxy/proxytest"
)

// TestHostedTarballsMarked: GC marks the tarballs of hosted versions, so
// that it never sweeps them (the wiring hands the hosted state to the GC).
func TestHostedTarballsMarked(t *testing.T) {
	dir, err := os.MkdirTemp("", "nora-admin") // a socket path must fit sun_path
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	scfg := proxy.DefaultConfig()
	scfg.AdminSocket = filepath.Join(dir, "admin.sock")
	ac := auth.DefaultConfig()
	ac.Htpasswd = proxytest.Htpasswd(t, testUser, testPass)
	n := proxytest.Start(t, proxy.AppConfig{Server: scfg, Npm: npm.Config{}, Auth: &ac})
	if got := gcMarked(t, scfg.AdminSocket); got != 0 {
		t.Fatalf("%d digests marked before any publish", got)
	}
	tgz := npmtest.Tarball(t, "@acme/lib", "1.0.0", 1000)
	resp, b := do(t, "PUT", n.URL+"/npm/@acme%2flib", strings.NewReader(string(publishDoc("@acme/lib", "1.0.0", tgz))),
		"Content-Type", "application/json", "Authorization", basicAuth(testUser, testPass))
	if resp.StatusCode != 201 {
		t.Fatalf("publish: %d %s", resp.StatusCode, b)
	}
	if got := gcMarked(t, scfg.AdminSocket); got != 1 {
		t.Fatalf("%d digests marked after publishing one tarball, want 1", got)
	}
}

// gcMarked runs a dry GC through the admin socket and returns how many
// digests hosted state told it to keep.
func gcMarked(t *testing.T, socket string) int64 {
	t.Helper()
	ctx := context.Background()
	c := admin.NewClient(socket)
	if _, err := c.Start(ctx, "gc", true); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		st, err := c.Job(ctx, "gc")
		if err != nil || st.State == admin.Failed {
			t.Fatalf("gc: %v %s", err, st.Error)
		}
		if st.State != admin.Done {
			continue
		}
		var rep cache.GCReport
		raw, _ := st.Result.(json.RawMessage)
		if err := json.Unmarshal(raw, &rep); err != nil {
			t.Fatalf("gc report %s: %v", raw, err)
		}
		return rep.Marked
	}
	t.Fatal("gc did not finish")
	return 0
}
