package sitetls

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// writePair issues a certificate for name from a throwaway CA into dir's
// cert.pem and key.pem, as a site's own PKI would drop them in place.
func writePair(t *testing.T, dir, name string) {
	t.Helper()
	ca, err := createCA(t.TempDir(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	certPEM, keyPEM, err := ca.issue([]string{name}, nil, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	for f, b := range map[string][]byte{"cert.pem": certPEM, "key.pem": keyPEM} {
		if err := writeFile(filepath.Join(dir, f), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

func TestFilesReload(t *testing.T) {
	dir := t.TempDir()
	writePair(t, dir, "one.example")
	cfg := Config{Mode: ModeFiles, Cert: filepath.Join(dir, "cert.pem"), Key: filepath.Join(dir, "key.pem")}
	c, err := Open(cfg, t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if c.CAPEM() != nil {
		t.Error("files mode publishes a CA")
	}
	name := func() string { return leaf(t, c).DNSNames[0] }
	if name() != "one.example" {
		t.Fatal(name())
	}
	// Unchanged files: nothing to do.
	if err := c.reloadIfChanged(); err != nil || name() != "one.example" {
		t.Fatal(err, name())
	}
	writePair(t, dir, "two.example")
	if err := c.reloadIfChanged(); err != nil || name() != "two.example" {
		t.Fatalf("after replacing the files: %v %s", err, name())
	}
	// A broken pair keeps the one in use.
	if err := os.WriteFile(cfg.Key, []byte("junk"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := c.Reload(); err == nil || name() != "two.example" {
		t.Fatalf("broken key: %v, serving %s", err, name())
	}
	if _, err := Open(Config{Mode: ModeFiles, Cert: cfg.Cert, Key: filepath.Join(dir, "none.pem")}, t.TempDir(), Options{}); err == nil {
		t.Error("Open with a missing key file succeeded")
	}
}
