package maven_test

import (
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"nora/auth"
	"nora/proxy/httpx"
	"nora/proxy/maven"
	"nora/proxy/maven/maventest"
	"nora/proxy/proxytest"
)

// confusionUpstream is a test upstream that has com.acme:lib:9.9, the
// public package a dependency-confusion attack would publish under the
// site's own coordinates, plus Debian's plugins for builds.
func confusionUpstream(t *testing.T) *maventest.Repo {
	t.Helper()
	root := t.TempDir()
	maventest.WriteFile(t, root, "com/acme/lib/9.9/lib-9.9.pom", []byte(`<project><modelVersion>4.0.0</modelVersion>
<groupId>com.acme</groupId><artifactId>lib</artifactId><version>9.9</version></project>`))
	maventest.WriteFile(t, root, "com/acme/lib/9.9/lib-9.9.jar", []byte("not the site's library"))
	return maventest.New(t, root, maventest.DebianRepo)
}

// send makes one request with optional Basic credentials and returns the
// response with its body read.
func send(t testing.TB, method, url, user, pass, body string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if user != "" {
		req.SetBasicAuth(user, pass)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: body: %v", method, url, err)
	}
	return resp, string(b)
}

func sumHex(alg, s string) string {
	switch alg {
	case "md5":
		b := md5.Sum([]byte(s))
		return hexOf(b[:])
	case "sha1":
		b := sha1.Sum([]byte(s))
		return hexOf(b[:])
	case "sha256":
		b := sha256.Sum256([]byte(s))
		return hexOf(b[:])
	}
	b := sha512.Sum512([]byte(s))
	return hexOf(b[:])
}

func TestDeploy(t *testing.T) {
	up := confusionUpstream(t)
	ac := &auth.Config{AnonymousRead: true, Htpasswd: proxytest.Htpasswd(t, "ci", "secret")}
	n := startNoraAuth(t, maven.DefaultConfig(), ac, up.URL)
	const dir = "com/acme/lib/"
	f := func(method, path, user, pass, body string, wantStatus int, wantBody string) string {
		t.Helper()
		resp, got := send(t, method, n.base()+path, user, pass, body)
		if resp.StatusCode != wantStatus || !strings.Contains(got, wantBody) {
			t.Fatalf("%s %s: %d %q, want %d with %q", method, path, resp.StatusCode, got, wantStatus, wantBody)
		}
		if wantStatus == 401 && resp.Header.Get("WWW-Authenticate") != `Basic realm="nora"` {
			t.Fatalf("%s %s: 401 with WWW-Authenticate %q", method, path, resp.Header.Get("WWW-Authenticate"))
		}
		return got
	}
	// Not hosted yet: proxied, the upstream's 9.9 shows.
	f("GET", dir+"maven-metadata.xml", "", "", "", 200, "<version>9.9</version>")
	asked := up.Requests(dir)

	jar, pom := dir+"1.0/lib-1.0.jar", dir+"1.0/lib-1.0.pom"
	f("PUT", jar, "", "", "x", 401, "authentication required")
	f("PUT", jar, "ci", "wrong", "x", 401, "invalid user name or password")
	f("PUT", jar, "ci", "secret", "jar 1.0", 201, "created")
	f("PUT", jar, "ci", "secret", "jar 1.0", 200, "same content") // a retried deploy
	f("PUT", jar, "ci", "secret", "jar 1.0, rebuilt", 409, "immutable")
	f("PUT", jar+".sha1", "ci", "secret", sumHex("sha1", "jar 1.0")+"  lib-1.0.jar\n", 200, "matches")
	// Confirmed by its sha1: a contradicting md5 is refused, the jar stays.
	f("PUT", jar+".md5", "ci", "secret", strings.Repeat("0", 32), 400, "checksum")
	f("GET", jar, "", "", "", 200, "jar 1.0")

	// Corrupted on the way: the first checksum disagrees, the pom is
	// discarded and the client's retry is no conflict.
	f("PUT", pom, "ci", "secret", "<project>corrupted", 201, "created")
	f("PUT", pom+".sha1", "ci", "secret", sumHex("sha1", "<project/>"), 400, "deploy it again")
	f("GET", pom, "", "", "", 404, "")
	f("GET", pom+".sha1", "", "", "", 404, "")
	f("PUT", pom, "ci", "secret", "<project/>", 201, "created")
	f("PUT", pom+".sha1", "ci", "secret", sumHex("sha1", "<project/>"), 200, "matches")
	f("PUT", dir+"1.0/lib-1.0.war.sha1", "ci", "secret", sumHex("sha1", "x"), 404, "before its checksum")
	f("PUT", dir+"1.0/lib-1.0.jar.sha1", "ci", "secret", "not a checksum", 400, "invalid checksum")

	// The client's metadata (merged by mvn with the upstream's, 9.9
	// included) is accepted but not served: nora's is.
	clientMeta := `<metadata><groupId>com.acme</groupId><artifactId>lib</artifactId><versioning>
<versions><version>1.0</version><version>9.9</version></versions></versioning></metadata>`
	f("PUT", dir+"maven-metadata.xml", "ci", "secret", clientMeta, 200, "accepted")
	f("PUT", dir+"maven-metadata.xml.sha1", "ci", "secret", sumHex("sha1", clientMeta), 200, "accepted")
	f("PUT", dir+"maven-metadata.xml", "ci", "secret", "<html>", 400, "")
	meta := f("GET", dir+"maven-metadata.xml", "", "", "", 200, "<release>1.0</release>")
	if strings.Contains(meta, "9.9") {
		t.Fatalf("hosted metadata mixes in the upstream's versions:\n%s", meta)
	}
	for _, alg := range []string{"sha1", "md5", "sha256", "sha512"} {
		f("GET", dir+"maven-metadata.xml."+alg, "", "", "", 200, sumHex(alg, meta))
		f("GET", jar+"."+alg, "", "", "", 200, sumHex(alg, "jar 1.0"))
	}
	resp, _ := send(t, "HEAD", n.base()+jar, "", "", "")
	if resp.StatusCode != 200 || resp.ContentLength != int64(len("jar 1.0")) {
		t.Fatalf("HEAD: %d, length %d", resp.StatusCode, resp.ContentLength)
	}

	// Hosted: upstream's 9.9 is gone, and upstream is never asked again.
	f("GET", dir+"9.9/lib-9.9.jar", "", "", "", 404, "")
	f("GET", dir+"9.9/lib-9.9.pom", "", "", "", 404, "")
	f("GET", dir+"9.9/maven-metadata.xml", "", "", "", 404, "")
	f("GET", dir+"1.0-SNAPSHOT/maven-metadata.xml", "", "", "", 404, "")
	if got := up.Requests(dir); got != asked {
		t.Fatalf("upstream asked %d more times about the hosted artifact", got-asked)
	}

	// A non-unique SNAPSHOT name is no deploy Maven 3 makes.
	f("PUT", dir+"1.1-SNAPSHOT/lib-1.1-SNAPSHOT.jar", "ci", "secret", "x", 400, "timestamped")
	// Two builds of a SNAPSHOT: the non-unique name is the latest.
	snap := dir + "1.1-SNAPSHOT/lib-1.1-"
	f("PUT", snap+"20240102.030405-1.jar", "ci", "secret", "build 1", 201, "")
	f("PUT", snap+"20240102.030406-2.jar", "ci", "secret", "build 2", 201, "")
	f("GET", dir+"1.1-SNAPSHOT/lib-1.1-SNAPSHOT.jar", "", "", "", 200, "build 2")
	f("GET", dir+"1.1-SNAPSHOT/lib-1.1-SNAPSHOT.jar.sha1", "", "", "", 200, sumHex("sha1", "build 2"))
	f("GET", dir+"1.1-SNAPSHOT/maven-metadata.xml", "", "", "", 200, "<buildNumber>2</buildNumber>")
	f("GET", dir+"maven-metadata.xml", "", "", "", 200, "<latest>1.1-SNAPSHOT</latest>")
}

func TestDeployRefusedWithoutUsers(t *testing.T) {
	n := startNora(t, maven.DefaultConfig())
	resp, body := send(t, "PUT", n.base()+"com/acme/lib/1.0/lib-1.0.jar", "ci", "secret", "x")
	if resp.StatusCode != 403 || !strings.Contains(body, httpx.NoWritesMessage) || resp.Header.Get("WWW-Authenticate") != "" {
		t.Fatalf("PUT without htpasswd: %d %q", resp.StatusCode, body)
	}
}

func TestReadsOfHostedNeedLoginWithoutAnonymousRead(t *testing.T) {
	ac := &auth.Config{AnonymousRead: false, Htpasswd: proxytest.Htpasswd(t, "ci", "secret")}
	n := startNoraAuth(t, maven.DefaultConfig(), ac)
	jar := n.base() + "com/acme/lib/1.0/lib-1.0.jar"
	if resp, body := send(t, "PUT", jar, "ci", "secret", "x"); resp.StatusCode != 201 {
		t.Fatalf("PUT: %d %q", resp.StatusCode, body)
	}
	resp, _ := send(t, "GET", jar, "", "", "")
	if resp.StatusCode != 401 || resp.Header.Get("WWW-Authenticate") != `Basic realm="nora"` {
		t.Fatalf("anonymous GET: %d %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}
	if resp, body := send(t, "GET", jar, "ci", "secret", ""); resp.StatusCode != 200 || body != "x" {
		t.Fatalf("GET with login: %d %q", resp.StatusCode, body)
	}
}

// rawPut sends a PUT whose body stops after part of its declared length,
// waits until the server has written that part to an upload temp file in
// tmpDir (so the refusal checked after is of an upload that started), then
// closes the connection.
func rawPut(t *testing.T, addr, tmpDir, path, user, pass string, declared int, body string) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	req, _ := http.NewRequest("PUT", "http://"+addr+path, nil)
	req.SetBasicAuth(user, pass)
	fmt.Fprintf(c, "PUT %s HTTP/1.1\r\nHost: %s\r\nAuthorization: %s\r\nContent-Length: %d\r\n\r\n%s",
		path, addr, req.Header.Get("Authorization"), declared, body)
	waitFor(t, "the server to read the partial body", func() bool {
		left, _ := filepath.Glob(filepath.Join(tmpDir, "maven-upload-*"))
		for _, p := range left {
			if fi, err := os.Stat(p); err == nil && fi.Size() == int64(len(body)) {
				return true
			}
		}
		return false
	})
}

// waitFor polls cond until it holds, failing the test after 10 seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func TestDeployCapsAndTruncation(t *testing.T) {
	ac := &auth.Config{AnonymousRead: true, Htpasswd: proxytest.Htpasswd(t, "ci", "secret")}
	cfg := maven.DefaultConfig()
	cfg.MaxUploadSize = 64 << 10
	n := startNoraAuth(t, cfg, ac)
	jar := "com/acme/big/1.0/big-1.0.jar"
	resp, body := send(t, "PUT", n.base()+jar, "ci", "secret", strings.Repeat("x", 128<<10))
	if resp.StatusCode != 413 {
		t.Fatalf("oversized PUT: %d %q", resp.StatusCode, body)
	}
	// More than the 8 KiB the HTTP server reads before the handler runs:
	// a smaller body cut short never reaches it.
	tmp := filepath.Join(n.DataDir, "tmp")
	rawPut(t, n.Addr, tmp, "/maven2/"+jar, "ci", "secret", 48<<10, strings.Repeat("y", 32<<10))
	waitFor(t, "the truncated upload's temp file to go", func() bool {
		left, _ := filepath.Glob(filepath.Join(tmp, "maven-upload-*"))
		return len(left) == 0
	})
	for _, p := range []string{jar, "com/acme/big/maven-metadata.xml"} {
		if resp, _ := send(t, "GET", n.base()+p, "", "", ""); resp.StatusCode != 404 {
			t.Fatalf("after refused uploads, GET %s: %d", p, resp.StatusCode)
		}
	}
	if _, err := os.Stat(filepath.Join(n.DataDir, "objects", "hosted", "maven", "index")); !os.IsNotExist(err) {
		t.Fatalf("refused uploads created hosted state: %v", err)
	}
}

func TestConcurrentDeploys(t *testing.T) {
	ac := &auth.Config{AnonymousRead: true, Htpasswd: proxytest.Htpasswd(t, "ci", "secret")}
	n := startNoraAuth(t, maven.DefaultConfig(), ac)
	const versions = 16
	var wg sync.WaitGroup
	for i := range versions {
		wg.Go(func() {
			v := fmt.Sprintf("2.%d", i)
			req, _ := http.NewRequest("PUT", n.base()+"com/acme/lib/"+v+"/lib-"+v+".pom", strings.NewReader("<project/>"))
			req.SetBasicAuth("ci", "secret")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
			if resp.StatusCode != 201 {
				t.Errorf("PUT %s: %d", v, resp.StatusCode)
			}
		})
	}
	wg.Wait()
	_, meta := send(t, "GET", n.base()+"com/acme/lib/maven-metadata.xml", "", "", "")
	if got := strings.Count(meta, "<version>"); got != versions {
		t.Fatalf("%d versions listed after %d concurrent deploys:\n%s", got, versions, meta)
	}
}
