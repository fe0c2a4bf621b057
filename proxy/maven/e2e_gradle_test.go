package maven_test

import (
	"bytes"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"nora/auth"
	"nora/proxy/maven"
	"nora/proxy/maven/maventest"
	"nora/proxy/proxytest"
)

// TestGradleSnippetsShape: Debian 12's gradle is 4.4, which has neither the
// Kotlin DSL the README shows nor isAllowInsecureProtocol (Gradle 6 and
// later), so the README's Gradle blocks are checked for shape, and nora is
// asked what Gradle would ask of the repository URL they name: a resolve
// (GET of a POM and its jar) and a publish (PUT with the login).
func TestGradleSnippetsShape(t *testing.T) {
	resolve := proxytest.Snippet(t, "repositories {\n    maven {")
	publish := proxytest.Snippet(t, "publishing {")
	urlRe := regexp.MustCompile(`url = uri\("([^"]+)"\)`)
	repoURL := func(name, block string) string {
		t.Helper()
		m := urlRe.FindAllStringSubmatch(block, -1)
		if len(m) != 1 || m[0][1] != "http://"+proxytest.DocAddr+"/maven2/" {
			t.Fatalf("Gradle %s block: url %q, want http://%s/maven2/", name, m, proxytest.DocAddr)
		}
		if !strings.Contains(block, "isAllowInsecureProtocol = true") {
			t.Fatalf("Gradle %s block without isAllowInsecureProtocol = true (Gradle 7 refuses plain HTTP):\n%s", name, block)
		}
		return m[0][1]
	}
	resolveURL, publishURL := repoURL("resolve", resolve), repoURL("publish", publish)
	// credentials(PasswordCredentials::class) reads <name>Username and
	// <name>Password, which the README names.
	if !strings.Contains(publish, `name = "nora"`) || !strings.Contains(publish, "credentials(PasswordCredentials::class)") {
		t.Fatalf("Gradle publish block does not take the login from noraUsername/noraPassword:\n%s", publish)
	}
	if !strings.Contains(proxytest.Inline(t, "noraUsername"), "noraUsername") || !strings.Contains(proxytest.Inline(t, "noraPassword"), "noraPassword") {
		t.Fatal("README does not name noraUsername and noraPassword")
	}

	ac := auth.DefaultConfig()
	ac.Htpasswd = proxytest.Htpasswd(t, "ci", "s3cret-gradle")
	up := maventest.New(t, maventest.DebianRepo)
	n := startNoraAuth(t, maven.Config{}, &ac, up.URL)
	base := n.Local(resolveURL)
	for _, p := range []string{"junit/junit/4.x/junit-4.x.pom", "junit/junit/4.x/junit-4.x.jar"} {
		if resp, _ := fetch(t, "GET", base+p); resp.StatusCode != 200 {
			t.Fatalf("GET %s%s: %d", base, p, resp.StatusCode)
		}
	}
	put := func(p string, body []byte, user, pass string) int {
		t.Helper()
		req, _ := http.NewRequest("PUT", n.Local(publishURL)+p, bytes.NewReader(body))
		if user != "" {
			req.SetBasicAuth(user, pass)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	// Gradle sends the login after a 401 challenge.
	const jar = "com/acme/gradle-lib/1.0/gradle-lib-1.0.jar"
	if got := put(jar, []byte("jar bytes"), "", ""); got != http.StatusUnauthorized {
		t.Fatalf("anonymous PUT: %d, want 401", got)
	}
	if got := put(jar, []byte("jar bytes"), "ci", "s3cret-gradle"); got != http.StatusCreated && got != http.StatusOK {
		t.Fatalf("PUT with the login: %d", got)
	}
	if resp, body := fetch(t, "GET", n.Local(publishURL)+jar); resp.StatusCode != 200 || string(body) != "jar bytes" {
		t.Fatalf("published jar: %d %q", resp.StatusCode, body)
	}
}
