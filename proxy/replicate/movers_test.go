package replicate_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"nora/auth"
	"nora/internal/fault"
	"nora/proxy"
	"nora/proxy/cargo"
	"nora/proxy/maven"
	"nora/proxy/npm"
	"nora/proxy/npm/npmtest"
	"nora/proxy/proxytest"
	"nora/proxy/pypi"
	"nora/proxy/pypi/pypitest"
	"nora/proxy/replicate"
)

// pkgPair is a source and a target nora with the formats of cfg, both behind
// htpasswd logins with anonymous reads.
type pkgPair struct {
	srcN, dstN *proxytest.Nora
	// srcToken may push and read the admin API on the source.
	srcToken string
	src, dst replicate.Endpoint
	// pullOnly is the target with a token that may not push.
	pullOnly replicate.Endpoint
}

func startPkgPair(t testing.TB, cfg proxy.AppConfig) *pkgPair {
	t.Helper()
	start := func() (*proxytest.Nora, *proxytest.Tokens) {
		c := cfg
		c.Auth = &auth.Config{AnonymousRead: true, Htpasswd: proxytest.Htpasswd(t, "ci", "secret")}
		return proxytest.StartTokens(t, c)
	}
	srcN, srcTk := start()
	dstN, dstTk := start()
	p := &pkgPair{srcN: srcN, dstN: dstN, srcToken: srcTk.Create(t, "replicator", "admin:**", "push:**")}
	p.src = replicate.Endpoint{Name: "source", URL: srcN.URL, Token: p.srcToken}
	p.dst = replicate.Endpoint{Name: "target", URL: dstN.URL, Token: dstTk.Create(t, "replicator", "push:**", "delete:**")}
	p.pullOnly = replicate.Endpoint{Name: "target", URL: dstN.URL, Token: dstTk.Create(t, "reader", "pull:**")}
	return p
}

// list lists the items of m on the source that match.
func (p *pkgPair) list(t *testing.T, m replicate.Mover, match func(name, version string) bool) []replicate.Item {
	t.Helper()
	items, err := m.List(context.Background(), p.src, match)
	if err != nil {
		t.Fatalf("list %s: %v", m.Format(), err)
	}
	return items
}

// copyAll copies items dry, then twice: the first run sends, the second
// skips all with zero bytes. It returns the bytes of the first run.
func (p *pkgPair) copyAll(t *testing.T, m replicate.Mover, items []replicate.Item) int64 {
	t.Helper()
	var total, heard int64
	for _, it := range items {
		// A dry run tells what it would send and sends nothing: the copy
		// after it still sends.
		c, err := m.Copy(context.Background(), p.src, p.dst, it, true, func(n int64) { heard += n })
		if err != nil || c.Skipped || heard != 0 {
			t.Fatalf("dry copy %v: %+v %v, %d bytes heard sent", it, c, err, heard)
		}
	}
	for _, it := range items {
		c, err := m.Copy(context.Background(), p.src, p.dst, it, false, func(n int64) { heard += n })
		if err != nil {
			t.Fatalf("copy %v: %v", it, err)
		}
		if c.Skipped || c.Bytes == 0 {
			t.Fatalf("copy %v: %+v, want bytes sent", it, c)
		}
		total += c.Bytes
	}
	if heard != total {
		t.Fatalf("progress heard %d bytes, copies sent %d", heard, total)
	}
	for _, it := range items {
		c, err := m.Copy(context.Background(), p.src, p.dst, it, false, nil)
		if err != nil || !c.Skipped || c.Bytes != 0 {
			t.Fatalf("second copy %v: %+v %v, want skipped with 0 bytes", it, c, err)
		}
	}
	return total
}

// refused checks that copying it to a target whose token may not push
// fails naming the item.
func (p *pkgPair) refused(t *testing.T, m replicate.Mover, it replicate.Item) {
	t.Helper()
	_, err := m.Copy(context.Background(), p.src, p.pullOnly, it, false, nil)
	if !errors.Is(err, fault.Denied) || !strings.Contains(err.Error(), it.Name) || !strings.Contains(err.Error(), it.Version) {
		t.Fatalf("copy to a target refusing pushes: %v, want a refusal naming %s %s", err, it.Name, it.Version)
	}
}

// get reads url whole.
func pkgFetch(t *testing.T, url string) []byte {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s %v\n%s", url, resp.Status, err, b)
	}
	return b
}

// sameBytes checks that path is the same on both noras.
func (p *pkgPair) sameBytes(t *testing.T, path string) {
	t.Helper()
	a, b := pkgFetch(t, p.srcN.URL+path), pkgFetch(t, p.dstN.URL+path)
	if string(a) != string(b) {
		t.Fatalf("%s: %d bytes on the source, %d different ones on the target", path, len(a), len(b))
	}
}

// TestRunPackages: a run with the package movers between two noras copies
// one hosted package of each format, and a second run sends 0 bytes; a
// target prefix is refused for packages, item by item.
func TestRunPackages(t *testing.T) {
	npmCfg := npm.DefaultConfig()
	npmCfg.HostedNames = []string{"@acme/*"}
	p := startPkgPair(t, proxy.AppConfig{Npm: npmCfg, PyPI: pypi.DefaultConfig(), Maven: maven.DefaultConfig(), Cargo: cargo.DefaultConfig()})
	npmRun(t, p.srcN, p.srcToken, npmtest.WritePackage(t, "@acme/lib", "1.0.0", nil, "module.exports = 1;\n"), "publish")
	whl, _ := pypitest.Build(t, t.TempDir(), pypitest.Project{Name: "acme-py", Version: "1.0.0"})
	python(t, "-m", "twine", "upload", "--repository-url", p.srcN.URL+"/simple/", "--non-interactive", "--disable-progress-bar", whl)
	p.mavenPut(t, "/maven2/com/acme/lib/1.0/lib-1.0.jar", []byte("PK\x03\x04 classes"))
	p.mavenPut(t, "/maven2/com/acme/lib/1.0/lib-1.0.pom", pom("com.acme", "lib", "1.0", "jar"))
	cargoRun(t, p.srcN, crateDir(t, "acme-rs", "1.0.0", "", ""), "publish", "--registry", "nora", "--no-verify", "--allow-dirty")

	run := func(prefix string) replicate.Report {
		t.Helper()
		rp, err := replicate.Run(context.Background(), replicate.Options{Source: p.src, Target: p.dst,
			Match: []string{"*", "@acme/*"}, Movers: replicate.Movers(), TargetPrefix: prefix})
		if err != nil {
			t.Fatal(err)
		}
		return rp
	}
	if rp := run("mirror/"); rp.Failed != 4 || rp.Bytes != 0 || !strings.Contains(rp.Items[0].Reason, "images only") {
		t.Fatalf("run with a target prefix: %+v", rp)
	}
	if rp := run(""); rp.Copied != 4 || rp.Failed != 0 || rp.Bytes == 0 {
		t.Fatalf("first run: %+v", rp)
	}
	if rp := run(""); rp.Skipped != 4 || rp.Bytes != 0 {
		t.Fatalf("second run: %+v", rp)
	}
}
