package maven_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"nora/proxy"
	"nora/proxy/maven"
	"nora/proxy/maven/maventest"
	"nora/proxy/proxytest"
)

// TestAPITokenDeploy: mvn deploys with an API token as the password of
// its <server> entry what the token's permissions allow; other groups are
// forbidden, an expired or revoked token is unauthorized.
func TestAPITokenDeploy(t *testing.T) {
	if _, err := os.Stat(maventest.DebianRepo); err != nil {
		t.Fatalf("Debian's Maven repository is missing (.ci/setup-maven.sh installs it): %v", err)
	}
	up := maventest.New(t, maventest.DebianRepo)
	mc := maven.DefaultConfig()
	mc.Upstreams = []maven.UpstreamConfig{{URL: up.URL}}
	pn, tokens := proxytest.StartTokens(t, proxy.AppConfig{Maven: mc})
	n := &noraUnderTest{pn}
	laptop := tokens.Create(t, "laptop", "push:maven:com.acme:*")
	other := tokens.Create(t, "other", "push:maven:org.other:*")
	reader := strings.Replace(userSettings, "NORA", n.base(), 1)
	localRepo := filepath.Join(t.TempDir(), "repo") // plugins resolve once
	deploy := func(token, version, want string) {
		t.Helper()
		project := fromTemplate(t, "lib", map[string]string{"VERSION": version, "NORA": n.base(), "BUILD": version})
		out, err := runMvn(t, project, withServer(reader, "anything", token), localRepo, "deploy")
		if want == "" && err != nil {
			t.Fatalf("mvn deploy %s: %v\n%s", version, err, lastLines(out, 60))
		}
		if want != "" && (err == nil || !strings.Contains(out, want)) {
			t.Fatalf("mvn deploy %s: %v, want a failure naming %s\n%s", version, err, want, lastLines(out, 30))
		}
	}
	deploy(laptop, "1.0", "")
	deploy(other, "1.1", "403")
	deploy(tokens.Expired, "1.2", "401")
	tokens.Revoke(t, "laptop")
	deploy(laptop, "1.3", "401")
	if resp, _ := send(t, "GET", n.base()+"com/acme/lib/1.0/lib-1.0.jar", "", "", ""); resp.StatusCode != 200 {
		t.Fatalf("the deployed jar: %d", resp.StatusCode)
	}
	for _, v := range []string{"1.1", "1.2", "1.3"} {
		if resp, _ := send(t, "GET", n.base()+"com/acme/lib/"+v+"/lib-"+v+".jar", "", "", ""); resp.StatusCode != 404 {
			t.Fatalf("a refused deploy of %s left its jar: %d", v, resp.StatusCode)
		}
	}
}
