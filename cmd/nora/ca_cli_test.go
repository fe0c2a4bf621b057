package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"nora/proxy/sitetls"
)

func TestCACmd(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	config := filepath.Join(t.TempDir(), "nora.toml")
	doc := "[storage]\npath = \"" + data + "\"\n[server.tls]\nmode = \"auto\"\n"
	if err := os.WriteFile(config, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"ca", "--config", config}, &stdout, &stderr, nil); code != 1 ||
		!strings.Contains(stderr.String(), "no site CA at") {
		t.Errorf("before the first start: %d %q", code, stderr.String())
	}
	certs, err := sitetls.Open(sitetls.Config{Mode: sitetls.ModeAuto}, data, sitetls.Options{})
	if err != nil {
		t.Fatal(err)
	}
	stdout.Reset()
	if code := run(context.Background(), []string{"ca", "--config", config}, &stdout, &stderr, nil); code != 0 ||
		stdout.String() != string(certs.CAPEM()) {
		t.Errorf("nora ca: %d %q, want the CA", code, stdout.String())
	}
}

func TestTLSKeys(t *testing.T) {
	ok := func(doc string) {
		t.Helper()
		if _, err := parseConfig("t.toml", []byte(doc), nil); err != nil {
			t.Errorf("%q: %v", doc, err)
		}
	}
	bad := func(doc, want string) {
		t.Helper()
		_, err := parseConfig("t.toml", []byte(doc), nil)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", doc, err, want)
		}
	}
	ok("[server.tls]\nmode = \"auto\"\n")
	ok("[server]\nlisten = \"0.0.0.0:443\"\nlisten_plain = \"0.0.0.0:80\"\nplain = \"serve\"\n[server.tls]\nmode = \"auto\"\nhosts = [\"nora.local\", \"10.0.0.2\"]\n")
	ok("[server.tls]\nmode = \"files\"\ncert = \"/c.pem\"\nkey = \"/k.pem\"\n")
	bad("[server.tls]\nmode = \"on\"\n", `t.toml:2: server.tls.mode: want "off", "auto" or "files", got "on"`)
	bad("[server.tls]\nmode = \"files\"\n", `server.tls.cert: cert and key are required`)
	bad("[server.tls]\nmode = \"auto\"\nhosts = [\"a b\"]\n", `server.tls.hosts: want host names or IP addresses`)
	bad("[server]\nlisten_plain = \"0.0.0.0:80\"\n", `server.listen_plain: needs server.tls.mode`)
	bad("[server]\nlisten_plain = \"80\"\n[server.tls]\nmode = \"auto\"\n", `server.listen_plain: want host:port`)
	bad("[server]\nplain = \"drop\"\n", `server.plain: want "redirect" or "serve"`)
}

// In files mode, config check (startable) loads the certificate and key,
// as serve would.
func TestTLSFilesStartable(t *testing.T) {
	dir := t.TempDir()
	cert, key := filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem")
	doc := fmt.Sprintf("[storage]\npath = %q\n[server.tls]\nmode = \"files\"\ncert = %q\nkey = %q\n", filepath.Join(dir, "data"), cert, key)
	path := writeConfig(t, doc)
	if _, _, err := loadStartable(path, "", nil); err == nil || !strings.Contains(err.Error(), "server.tls.cert: cannot load") {
		t.Fatalf("missing files: %v", err)
	}
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), DNSNames: []string{"nora.test"}, NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(key, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600)
	if _, _, err := loadStartable(path, "", nil); err != nil {
		t.Fatalf("loadable files: %v", err)
	}
}
