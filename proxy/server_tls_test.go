package proxy

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"nora/cache"
	"nora/proxy/maven"
	"nora/proxy/maven/maventest"
	"nora/proxy/sitetls"
)

// tlsApp serves an App with server (Listen and AdminSocket filled in) on
// loopback until t ends.
func tlsApp(t *testing.T, server Config, storagePath string) *App {
	t.Helper()
	storage := cache.DefaultConfig()
	storage.Path = storagePath
	return tlsAppCfg(t, AppConfig{Server: server, Storage: storage}, slog.New(slog.DiscardHandler))
}

func tlsAppCfg(t *testing.T, cfg AppConfig, log *slog.Logger) *App {
	t.Helper()
	cfg.Server.Listen = "127.0.0.1:0"
	return runApp(t, cfg, log)
}

func autoConfig(plain string) Config {
	c := DefaultConfig()
	c.TLS.Mode = sitetls.ModeAuto
	c.ListenPlain = "127.0.0.1:0"
	c.Plain = plain
	return c
}

// trusting is a client that trusts only the CAs in pemCAs and follows no
// redirect.
func trusting(t *testing.T, pemCAs ...[]byte) *http.Client {
	t.Helper()
	pool := x509.NewCertPool()
	for _, p := range pemCAs {
		if !pool.AppendCertsFromPEM(p) {
			t.Fatalf("not a PEM certificate: %q", p)
		}
	}
	return &http.Client{
		Timeout:       10 * time.Second,
		Transport:     &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

func fetchTLS(t *testing.T, c *http.Client, url string) (*http.Response, string) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func TestTLSAuto(t *testing.T) {
	app := tlsApp(t, autoConfig(PlainRedirect), t.TempDir())
	plain := "http://" + app.PlainAddr().String()
	_, port, _ := net.SplitHostPort(app.Addr().String())

	resp, ca := fetchTLS(t, http.DefaultClient, plain+"/ca.crt")
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/x-pem-file" || !strings.HasPrefix(ca, "-----BEGIN CERTIFICATE-----") {
		t.Fatalf("plain /ca.crt: %d %s %q", resp.StatusCode, resp.Header.Get("Content-Type"), ca)
	}
	c := trusting(t, []byte(ca))
	base := "https://localhost:" + port
	if resp, body := fetchTLS(t, c, base+"/ca.crt"); resp.StatusCode != 200 || body != ca {
		t.Errorf("TLS /ca.crt: %d, same %v", resp.StatusCode, body == ca)
	}
	resp, _ = fetchTLS(t, c, base+"/v2/")
	if resp.StatusCode != 200 || resp.TLS == nil || resp.TLS.Version < tls.VersionTLS12 {
		t.Fatalf("GET /v2/ over TLS: %d %+v", resp.StatusCode, resp.TLS)
	}
	// Also by address: the certificate covers the machine's addresses.
	if resp, _ := fetchTLS(t, c, "https://"+app.Addr().String()+"/health"); resp.StatusCode != 200 {
		t.Errorf("by address: %d", resp.StatusCode)
	}

	// The plain listener serves /health, redirects the registry.
	if resp, _ := fetchTLS(t, c, plain+"/health"); resp.StatusCode != 200 {
		t.Errorf("plain /health: %d", resp.StatusCode)
	}
	resp, _ = fetchTLS(t, c, plain+"/v2/library/x/manifests/1?a=b")
	if want := "https://127.0.0.1:" + port + "/v2/library/x/manifests/1?a=b"; resp.StatusCode != http.StatusPermanentRedirect || resp.Header.Get("Location") != want {
		t.Errorf("plain /v2/: %d %q, want 308 %q", resp.StatusCode, resp.Header.Get("Location"), want)
	}
	// TLS 1.1 is refused.
	if _, err := tls.Dial("tcp", app.Addr().String(), &tls.Config{MaxVersion: tls.VersionTLS11, InsecureSkipVerify: true}); err == nil {
		t.Error("TLS 1.1 accepted")
	}
}

func TestTLSPlainServe(t *testing.T) {
	app := tlsApp(t, autoConfig(PlainServe), t.TempDir())
	if resp, _ := fetchTLS(t, http.DefaultClient, "http://"+app.PlainAddr().String()+"/v2/"); resp.StatusCode != 200 {
		t.Errorf("plain = serve: /v2/ %d", resp.StatusCode)
	}
}

// A restart keeps the CA: clients set up once stay set up.
func TestTLSRestartKeepsCA(t *testing.T) {
	dir := t.TempDir()
	cas := make([]string, 2)
	for i := range cas {
		ctx, cancel := context.WithCancel(context.Background())
		cfg := autoConfig(PlainRedirect)
		cfg.Listen, cfg.AdminSocket = "127.0.0.1:0", filepath.Join(t.TempDir(), "a.sock")
		storage := cache.DefaultConfig()
		storage.Path = dir
		app, err := NewApp(AppConfig{Server: cfg, Storage: storage}, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- app.Serve(ctx) }()
		_, cas[i] = fetchTLS(t, http.DefaultClient, "http://"+app.PlainAddr().String()+"/ca.crt")
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	if cas[0] != cas[1] || !strings.Contains(cas[0], "CERTIFICATE") {
		t.Error("a restart changed the site CA")
	}
}

func TestCAWithoutAuto(t *testing.T) {
	app := tlsApp(t, DefaultConfig(), t.TempDir())
	resp, body := fetchTLS(t, http.DefaultClient, "http://"+app.Addr().String()+"/ca.crt")
	if resp.StatusCode != 404 || !strings.Contains(body, `mode = "auto"`) {
		t.Errorf("TLS off: /ca.crt %d %q", resp.StatusCode, body)
	}
}

// A plain request to the TLS port gets a readable 400; a TLS hello to the
// plain port fails the handshake; both listeners serve on.
func TestTLSWrongProtocol(t *testing.T) {
	var logs syncBuffer
	storage := cache.DefaultConfig()
	storage.Path = t.TempDir()
	app := tlsAppCfg(t, AppConfig{Server: autoConfig(PlainRedirect), Storage: storage}, slog.New(slog.NewTextHandler(&logs, nil)))
	conn, err := net.DialTimeout("tcp", app.Addr().String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(conn, "GET /v2/ HTTP/1.1\r\nHost: localhost\r\n\r\n")
	b, _ := io.ReadAll(conn)
	conn.Close()
	if !strings.HasPrefix(string(b), "HTTP/1.0 400") || !strings.Contains(string(b), "HTTP request to an HTTPS server") {
		t.Errorf("plain request to the TLS port: %q", b)
	}

	_, err = (&http.Client{Timeout: 5 * time.Second}).Get("https://" + app.PlainAddr().String() + "/v2/")
	if err == nil || !strings.Contains(err.Error(), "HTTP response to HTTPS client") {
		t.Errorf("TLS to the plain port: %v", err)
	}
	resp, ca := fetchTLS(t, http.DefaultClient, "http://"+app.PlainAddr().String()+"/ca.crt")
	if resp.StatusCode != 200 {
		t.Fatalf("plain listener after a TLS hello: %d", resp.StatusCode)
	}
	if resp, _ := fetchTLS(t, trusting(t, []byte(ca)), "https://localhost:"+port(app.Addr())+"/v2/"); resp.StatusCode != 200 {
		t.Errorf("TLS listener after a plain request: %d", resp.StatusCode)
	}
	for _, want := range []string{"not TLS on the TLS listener", "a TLS handshake on a plain HTTP listener"} {
		waitFor(t, "log: "+want, func() bool { return strings.Contains(logs.String(), want) })
	}
}

func port(a net.Addr) string {
	_, p, _ := net.SplitHostPort(a.String())
	return p
}

// files mode: replace the files and reload (SIGHUP's path): a new
// connection gets the new certificate while an open one finishes its
// download.
func TestTLSFilesReload(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	// Two site PKIs, each an auto-mode CA in its own directory.
	issue := func() []byte {
		d := t.TempDir()
		c, err := sitetls.Open(sitetls.Config{Mode: sitetls.ModeAuto}, d, sitetls.Options{})
		if err != nil {
			t.Fatal(err)
		}
		for from, to := range map[string]string{"server.crt": certFile, "server.key": keyFile} {
			b, err := os.ReadFile(filepath.Join(sitetls.Dir(d), from))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(to+".new", b, 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(to+".new", to); err != nil {
				t.Fatal(err)
			}
		}
		return c.CAPEM()
	}
	ca1 := issue()
	// A jar larger than the socket buffers, so the download is still
	// running when the certificate changes.
	const jar = "org/example/big/1.0/big-1.0.jar"
	body := bytes.Repeat([]byte("0123456789abcdef"), 2<<20) // 32 MiB
	root := t.TempDir()
	maventest.WriteFile(t, root, jar, body)
	mc := maven.DefaultConfig()
	mc.Upstreams = []maven.UpstreamConfig{{URL: maventest.New(t, root).URL}}
	cfg := AppConfig{Server: DefaultConfig(), Storage: cache.DefaultConfig(), Maven: mc}
	cfg.Server.TLS = sitetls.Config{Mode: sitetls.ModeFiles, Cert: certFile, Key: keyFile}
	cfg.Storage.Path = t.TempDir()
	app := tlsAppCfg(t, cfg, slog.New(slog.DiscardHandler))
	url := "https://localhost:" + port(app.Addr()) + "/maven2/" + jar
	if resp, got := fetchTLS(t, trusting(t, ca1), url); resp.StatusCode != 200 || got != string(body) {
		t.Fatalf("warm-up GET: %d, %d bytes", resp.StatusCode, len(got))
	}

	old, err := trusting(t, ca1).Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer old.Body.Close()
	head := make([]byte, 1<<20)
	if _, err := io.ReadFull(old.Body, head); err != nil {
		t.Fatal(err)
	}

	ca2 := issue()
	if err := app.Reload(cfg); err != nil {
		t.Fatal(err)
	}
	if resp, _ := fetchTLS(t, trusting(t, ca2), "https://localhost:"+port(app.Addr())+"/health"); resp.StatusCode != 200 {
		t.Errorf("new connection with the new CA: %d", resp.StatusCode)
	}
	if _, err := trusting(t, ca1).Get("https://localhost:" + port(app.Addr()) + "/health"); err == nil {
		t.Error("a new connection still gets the old certificate")
	}
	rest, err := io.ReadAll(old.Body)
	if err != nil || !bytes.Equal(append(head, rest...), body) {
		t.Errorf("the download open across the reload: %d of %d bytes, %v", len(head)+len(rest), len(body), err)
	}
}

func pool(t *testing.T, pemCA []byte) *x509.CertPool {
	t.Helper()
	p := x509.NewCertPool()
	if !p.AppendCertsFromPEM(pemCA) {
		t.Fatal("no CA")
	}
	return p
}
