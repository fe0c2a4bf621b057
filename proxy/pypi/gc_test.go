package pypi_test

import (
	"testing"

	"nora/proxy"
	"nora/proxy/proxytest"
	"nora/proxy/pypi"
)

// TestHostedFilesMarked: GC marks the files of hosted projects and their
// core metadata, so that it never sweeps them (the wiring hands the hosted
// state to the GC).
func TestHostedFilesMarked(t *testing.T) {
	n := &noraUnderTest{proxytest.Start(t, proxy.AppConfig{PyPI: pypi.DefaultConfig(), Auth: authConfig(t, true, true)})}
	if got := n.GCMarked(t); got != 0 {
		t.Fatalf("%d digests marked before any upload", got)
	}
	whlName, whl := makeWheel(t, "acme-lib", "1.0.0", "", "")
	if resp, body := n.upload(t, twineForm("acme-lib", "1.0.0", "bdist_wheel", whlName, whl, "")); resp.StatusCode != 200 {
		t.Fatalf("upload: %d %s", resp.StatusCode, body)
	}
	if got := n.GCMarked(t); got != 2 {
		t.Fatalf("%d digests marked after uploading a wheel, want 2 (the wheel and its metadata)", got)
	}
}
