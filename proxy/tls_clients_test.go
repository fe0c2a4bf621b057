package proxy_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/x509"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"nora/proxy"
	"nora/proxy/cargo"
	"nora/proxy/cargo/cargotest"
	"nora/proxy/docker"
	"nora/proxy/maven"
	"nora/proxy/maven/maventest"
	"nora/proxy/npm"
	"nora/proxy/npm/npmtest"
	"nora/proxy/proxytest"
	"nora/proxy/pypi"
	"nora/proxy/pypi/pypitest"
	"nora/upstream/upstreamtest"
)

// The real clients reach a nora in [server.tls] mode "auto" over HTTPS
// with its site CA, fetched from the plain listener's /ca.crt as a user
// does, and no insecure flag. The upstreams stay plain on loopback. Each
// client pulls one small thing; a client that skipped verification or
// fell back to plain HTTP would not pass: the TLS port speaks only TLS,
// and the clients without the CA must fail.

// tlsFixtures are the upstreams behind the TLS nora, one small artifact each.
type tlsFixtures struct {
	docker *upstreamtest.Registry
	npm    *npmtest.Registry
	pypi   *pypitest.Server
	cargo  *cargotest.Registry
	maven  *maventest.Repo
}

const (
	tlsCrate     = "acme-tls"
	tlsPyProject = "acme-tls"
	tlsNpmPkg    = "@acme/tls"
	tlsParentPom = "org/example/nora/tls-parent/1.0/tls-parent-1.0.pom"
)

func newTLSFixtures(t *testing.T) *tlsFixtures {
	t.Helper()
	f := &tlsFixtures{
		docker: upstreamtest.New(t, upstreamtest.Options{}),
		npm:    npmtest.NewRegistry(t),
		pypi:   pypitest.New(t, pypitest.Options{}),
		cargo:  cargotest.New(t, cargotest.Options{}),
	}
	f.docker.PushRandomImage(t, "library/nginx", "latest", 1, 4<<10)
	f.npm.Publish(t, tlsNpmPkg, "1.0.0", 1<<10)
	whl, _ := pypitest.Build(t, t.TempDir(), pypitest.Project{Name: tlsPyProject, Version: "1.0.0", RequiresPython: ">=3"})
	f.pypi.AddDist(tlsPyProject, whl, ">=3")
	f.cargo.Publish(tlsCrate, "0.1.0", crateFile(t, tlsCrate, "0.1.0"))
	repo := t.TempDir()
	maventest.WriteFile(t, repo, tlsParentPom, []byte(`<project><modelVersion>4.0.0</modelVersion>
<groupId>org.example.nora</groupId><artifactId>tls-parent</artifactId><version>1.0</version><packaging>pom</packaging>
</project>
`))
	f.maven = maventest.New(t, repo)
	return f
}

// config is a nora in front of every fixture.
func (f *tlsFixtures) config() proxy.AppConfig {
	cfg := proxy.AppConfig{Docker: docker.DefaultConfig(), Npm: npm.DefaultConfig(), PyPI: pypi.DefaultConfig(),
		Maven: maven.DefaultConfig(), Cargo: cargo.DefaultConfig()}
	cfg.Docker.Upstreams = []docker.UpstreamConfig{{Name: "docker.io", URL: f.docker.URL}}
	cfg.Npm.Upstream = f.npm.URL
	cfg.PyPI.Upstream = f.pypi.IndexURL
	cfg.Maven.Upstreams = []maven.UpstreamConfig{{URL: f.maven.URL}}
	cfg.Cargo.Index = f.cargo.IndexURL
	return cfg
}

// crateFile is a .crate as cargo packages it: a gzipped tar of
// <name>-<vers>/Cargo.toml and src/lib.rs.
func crateFile(t *testing.T, name, vers string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for file, body := range map[string]string{
		"Cargo.toml": "[package]\nname = \"" + name + "\"\nversion = \"" + vers + "\"\nedition = \"2021\"\n",
		"src/lib.rs": "pub fn tls() -> u32 { 1 }\n",
	} {
		hdr := &tar.Header{Name: name + "-" + vers + "/" + file, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(body))
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	zw.Close()
	return buf.Bytes()
}

func TestClientsOverTLS(t *testing.T) {
	f := newTLSFixtures(t)
	n := proxytest.StartTLS(t, f.config())
	caFile, ca := proxytest.FetchCA(t, n.PlainURL+"/ca.crt")
	host := "localhost:" + n.Port
	base := "https://" + host

	t.Run("go-client", func(t *testing.T) { checkGoClient(t, base, caFile, ca) })
	t.Run("crane", func(t *testing.T) { tlsCrane(t, host, caFile) })
	t.Run("skopeo", func(t *testing.T) { tlsSkopeo(t, host, caFile) })
	t.Run("npm", func(t *testing.T) { tlsNpm(t, base, caFile) })
	t.Run("pip", func(t *testing.T) { tlsPip(t, base, caFile) })
	t.Run("cargo", func(t *testing.T) { tlsCargo(t, base, caFile) })
	t.Run("mvn", func(t *testing.T) { tlsMaven(t, base, caFile) })
}

// checkGoClient: the TLS listener's certificate chains to the published
// CA (and to nothing else), and both listeners publish the same CA.
func checkGoClient(t *testing.T, base, caFile string, ca *x509.Certificate) {
	resp, err := proxytest.TLSClient(ca, nil).Get(base + "/ca.crt")
	if err != nil {
		t.Fatalf("GET /ca.crt over TLS with the site CA: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if want, _ := os.ReadFile(caFile); resp.StatusCode != 200 || !bytes.Equal(body, want) {
		t.Fatalf("GET /ca.crt over TLS: %d, not the CA the plain listener gave:\n%s", resp.StatusCode, body)
	}
	_, err = proxytest.TLSClient(nil, nil).Get(base + "/health")
	var unknown x509.UnknownAuthorityError
	if !errors.As(err, &unknown) {
		t.Fatalf("GET /health over TLS without the site CA: %v, want an unknown authority", err)
	}
}

// tool runs a client binary in dir with env (built from scratch) and
// returns its combined output.
func tool(t *testing.T, dir string, env []string, name string, args ...string) (string, error) {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s is not installed (make setup installs it): %v", name, err)
	}
	cmd := exec.Command(path, args...)
	cmd.Dir, cmd.Env = dir, env
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func mustTool(t *testing.T, dir string, env []string, name string, args ...string) string {
	t.Helper()
	out, err := tool(t, dir, env, name, args...)
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return out
}

// tlsCrane pulls with crane trusting the CA through SSL_CERT_FILE, then
// shows that without it the pull fails on the certificate. crane tries
// plain HTTP for localhost after HTTPS fails; nora's TLS port refuses it.
func tlsCrane(t *testing.T, host, caFile string) {
	home := t.TempDir()
	env := proxytest.Env(home, "DOCKER_CONFIG="+home, "SSL_CERT_DIR="+home)
	out := filepath.Join(home, "img.tar")
	mustTool(t, home, append(env, "SSL_CERT_FILE="+caFile), "crane", "pull", host+"/nginx:latest", out)
	if _, err := os.Stat(out); err != nil {
		t.Fatal(err)
	}
	msg, err := tool(t, home, append(env, "SSL_CERT_FILE="+filepath.Join(home, "none.crt")), "crane", "digest", host+"/nginx:latest")
	if err == nil || !strings.Contains(msg, "certificate") {
		t.Fatalf("crane without the site CA: %v\n%s", err, msg)
	}
}

// tlsSkopeo copies with skopeo given the CA as --src-cert-dir; skopeo
// never falls back to plain HTTP, and registries.conf is empty, so no
// insecure exception applies.
func tlsSkopeo(t *testing.T, host, caFile string) {
	home := t.TempDir()
	certs := filepath.Join(home, "certs.d")
	os.MkdirAll(certs, 0o755)
	mustCopy(t, caFile, filepath.Join(certs, "ca.crt"))
	policy, conf := filepath.Join(home, "policy.json"), filepath.Join(home, "registries.conf")
	os.WriteFile(policy, []byte(`{"default":[{"type":"insecureAcceptAnything"}]}`), 0o600)
	os.WriteFile(conf, nil, 0o600)
	mustTool(t, home, proxytest.Env(home), "skopeo", "--policy", policy, "--registries-conf", conf,
		"copy", "--src-cert-dir", certs, "docker://"+host+"/nginx:latest", "oci:"+filepath.Join(home, "oci")+":latest")
}

// tlsNpm installs with the CA as npm's cafile.
func tlsNpm(t *testing.T, base, caFile string) {
	home, proj := t.TempDir(), t.TempDir()
	rc := filepath.Join(home, "npmrc")
	conf := "registry=" + base + "/npm/\ncafile=" + caFile + "\nfetch-retries=0\nupdate-notifier=false\n"
	os.WriteFile(rc, []byte(conf), 0o600)
	os.WriteFile(filepath.Join(proj, "package.json"), []byte(`{"name":"proj","version":"1.0.0","private":true}`), 0o600)
	out, err := npmtest.NPM(t, proj, home, "install", tlsNpmPkg, "--userconfig", rc, "--cache", filepath.Join(home, "cache"),
		"--no-audit", "--no-fund")
	if err != nil {
		t.Fatalf("npm install over TLS: %v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(proj, "node_modules", tlsNpmPkg, "package.json")); err != nil {
		t.Fatalf("npm install over TLS installed nothing: %v\n%s", err, out)
	}
}

// tlsPip installs with pip --cert.
func tlsPip(t *testing.T, base, caFile string) {
	home, target := t.TempDir(), t.TempDir()
	env := []string{"PATH=/usr/bin:/bin", "HOME=" + home, "TMPDIR=" + home, "LANG=C.UTF-8",
		"PIP_CONFIG_FILE=/dev/null", "PIP_NO_INPUT=1", "PYTHONDONTWRITEBYTECODE=1"}
	mustTool(t, home, env, pypitest.Python, "-m", "pip", "install", "--no-cache-dir", "--disable-pip-version-check",
		"--retries", "0", "--timeout", "20", "--cert", caFile, "--index-url", base+"/simple/", "--target", target, tlsPyProject)
	if _, err := os.Stat(filepath.Join(target, "acme_tls.py")); err != nil {
		t.Fatalf("pip install over TLS installed nothing: %v", err)
	}
}

// tlsCargo fetches through the sparse index over HTTPS with the CA as
// http.cainfo (CARGO_HTTP_CAINFO).
func tlsCargo(t *testing.T, base, caFile string) {
	home := t.TempDir()
	cargoHome, app := filepath.Join(home, "cargo-home"), filepath.Join(home, "app")
	os.MkdirAll(filepath.Join(app, "src"), 0o755)
	os.MkdirAll(cargoHome, 0o755)
	os.WriteFile(filepath.Join(cargoHome, "config.toml"), []byte("[source.crates-io]\nreplace-with = \"nora\"\n\n[source.nora]\n"+
		"registry = \"sparse+"+base+"/cargo/index/\"\n"), 0o644)
	os.WriteFile(filepath.Join(app, "Cargo.toml"), []byte("[package]\nname = \"app\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n"+
		"[dependencies]\n"+tlsCrate+" = \"0.1.0\"\n"), 0o644)
	os.WriteFile(filepath.Join(app, "src", "main.rs"), []byte("fn main() {}\n"), 0o644)
	env := proxytest.Env(home, "CARGO_HOME="+cargoHome, "CARGO_HTTP_CAINFO="+caFile, "CARGO_NET_RETRY=0",
		"CARGO_TERM_COLOR=never", "CARGO_TERM_PROGRESS_WHEN=never")
	env = append(env, rustupEnv()...)
	mustTool(t, app, env, "cargo", "generate-lockfile")
	mustTool(t, app, env, "cargo", "fetch")
	if m, _ := filepath.Glob(filepath.Join(cargoHome, "registry", "cache", "*", tlsCrate+"-0.1.0.crate")); len(m) != 1 {
		t.Fatalf("cargo fetch over TLS cached %d crates", len(m))
	}
}

// rustupEnv lets a rustup-managed cargo find its toolchains.
func rustupEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "RUSTUP_") {
			env = append(env, kv)
		}
	}
	if os.Getenv("RUSTUP_HOME") == "" {
		if h, err := os.UserHomeDir(); err == nil {
			if _, err := os.Stat(filepath.Join(h, ".rustup")); err == nil {
				env = append(env, "RUSTUP_HOME="+filepath.Join(h, ".rustup"))
			}
		}
	}
	return env
}

// tlsMaven validates a project whose parent POM only nora has, with a
// truststore made by keytool: resolving the parent needs the repository,
// the validate phase of a pom project needs no plugin.
func tlsMaven(t *testing.T, base, caFile string) {
	store, pass := proxytest.Truststore(t, caFile)
	work := t.TempDir()
	project, repo, home := filepath.Join(work, "app"), filepath.Join(work, "repo"), filepath.Join(work, "home")
	os.MkdirAll(project, 0o755)
	os.MkdirAll(home, 0o755)
	os.WriteFile(filepath.Join(project, "pom.xml"), []byte(`<project><modelVersion>4.0.0</modelVersion>
<parent><groupId>org.example.nora</groupId><artifactId>tls-parent</artifactId><version>1.0</version></parent>
<artifactId>app</artifactId><packaging>pom</packaging>
</project>
`), 0o644)
	settings, global := filepath.Join(work, "settings.xml"), filepath.Join(work, "global.xml")
	os.WriteFile(settings, []byte("<settings><mirrors><mirror><id>nora</id><mirrorOf>*</mirrorOf><url>"+base+
		"/maven2/</url></mirror></mirrors></settings>\n"), 0o644)
	os.WriteFile(global, []byte("<settings/>\n"), 0o644)
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + home, "TMPDIR=" + work, "MAVEN_SKIP_RC=1", "LANG=C.UTF-8",
		"MAVEN_OPTS=-Djavax.net.ssl.trustStore=" + store + " -Djavax.net.ssl.trustStorePassword=" + pass +
			" -Djavax.net.ssl.trustStoreType=PKCS12"}
	mustTool(t, project, env, "mvn", "-B", "-s", settings, "-gs", global, "-Dmaven.repo.local="+repo,
		"-Dstyle.color=never", "--no-transfer-progress", "validate")
	if _, err := os.Stat(filepath.Join(repo, filepath.FromSlash(tlsParentPom))); err != nil {
		t.Fatalf("mvn over TLS did not resolve the parent POM: %v", err)
	}
}

func mustCopy(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err == nil {
		err = os.WriteFile(to, b, 0o644)
	}
	if err != nil {
		t.Fatal(err)
	}
}
