package pypi_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"nora/cache"
	"nora/proxy"
	"nora/proxy/admin"
	"nora/proxy/proxytest"
	"nora/proxy/pypi"
)

// TestHostedFilesMarked: GC marks the files of hosted projects and their
// core metadata, so that it never sweeps them (the wiring hands the hosted
// state to the GC).
func TestHostedFilesMarked(t *testing.T) {
	dir, err := os.MkdirTemp("", "nora-admin") // a socket path must fit sun_path
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	scfg := proxy.DefaultConfig()
	scfg.AdminSocket = filepath.Join(dir, "admin.sock")
	n := &noraUnderTest{proxytest.Start(t, proxy.AppConfig{Server: scfg, PyPI: pypi.DefaultConfig(), Auth: authConfig(t, true, true)})}
	if got := gcMarked(t, scfg.AdminSocket); got != 0 {
		t.Fatalf("%d digests marked before any upload", got)
	}
	whlName, whl := makeWheel(t, "acme-lib", "1.0.0", "", "")
	if resp, body := n.upload(t, twineForm("acme-lib", "1.0.0", "bdist_wheel", whlName, whl, "")); resp.StatusCode != 200 {
		t.Fatalf("upload: %d %s", resp.StatusCode, body)
	}
	if got := gcMarked(t, scfg.AdminSocket); got != 2 {
		t.Fatalf("%d digests marked after uploading a wheel, want 2 (the wheel and its metadata)", got)
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
