package proxytest

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"nora/proxy"
	"nora/proxy/sitetls"
)

// FetchCA GETs url (a plain listener's /ca.crt), checks it is one PEM CA
// certificate, writes it to ca.crt in a new directory and returns that
// path and the certificate. A client trusting only this file verifies nora.
func FetchCA(t testing.TB, url string) (string, *x509.Certificate) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %v", url, resp.StatusCode, err)
	}
	block, rest := pem.Decode(body)
	if block == nil || block.Type != "CERTIFICATE" || len(rest) != 0 {
		t.Fatalf("GET %s is not one PEM certificate:\n%s", url, body)
	}
	ca, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if !ca.IsCA {
		t.Fatalf("GET %s: %s is not a CA", url, ca.Subject)
	}
	file := filepath.Join(t.TempDir(), "ca.crt")
	if err := os.WriteFile(file, body, 0o644); err != nil {
		t.Fatal(err)
	}
	return file, ca
}

// TLSClient is an HTTP client that trusts only ca, as a client set up
// with the site CA does; a nil ca trusts the system roots only, as a
// client not set up yet does.
func TLSClient(ca *x509.Certificate, cfg *tls.Config) *http.Client {
	if cfg == nil {
		cfg = &tls.Config{}
	}
	if ca != nil {
		pool := x509.NewCertPool()
		pool.AddCert(ca)
		cfg.RootCAs = pool
	}
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg, DisableCompression: true}}
}

// Truststore imports caFile into a new PKCS#12 truststore with keytool and
// returns its path and password, for -Djavax.net.ssl.trustStore.
func Truststore(t testing.TB, caFile string) (path, pass string) {
	t.Helper()
	keytool, err := exec.LookPath("keytool")
	if err != nil {
		t.Fatalf("keytool is not installed (.ci/setup-maven.sh installs a JDK): %v", err)
	}
	path, pass = filepath.Join(t.TempDir(), "truststore.p12"), "nora-test"
	out, err := exec.Command(keytool, "-importcert", "-noprompt", "-alias", "nora-site-ca", "-file", caFile,
		"-keystore", path, "-storetype", "PKCS12", "-storepass", pass).CombinedOutput()
	if err != nil {
		t.Fatalf("keytool -importcert: %v\n%s", err, out)
	}
	return path, pass
}

// TLSNora is a test nora with [server.tls] mode "auto": URL is its TLS
// listener as https://localhost:<Port>, PlainURL its plain listener.
type TLSNora struct {
	*Nora
	Port     string
	PlainURL string
}

// StartTLS runs a nora built from cfg with TLS mode "auto" on a loopback
// port and a plain listener beside it, until t ends. A zero cfg.Server is
// proxy.DefaultConfig(); its Plain setting (redirect or serve) is kept.
func StartTLS(t testing.TB, cfg proxy.AppConfig) *TLSNora {
	t.Helper()
	if cfg.Server == (proxy.Config{}) {
		cfg.Server = proxy.DefaultConfig()
	}
	cfg.Server.TLS.Mode = sitetls.ModeAuto
	// The plain port is picked before nora binds it: Start reports the
	// main listener's address only.
	plain := freeLoopback(t)
	cfg.Server.ListenPlain = plain
	n := Start(t, cfg)
	_, port, _ := net.SplitHostPort(n.Addr)
	n.URL = "https://localhost:" + port
	return &TLSNora{Nora: n, Port: port, PlainURL: "http://" + plain}
}

// freeLoopback returns a loopback address whose port nobody listens on.
func freeLoopback(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
