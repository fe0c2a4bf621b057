package maven_test

import (
	"crypto/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"nora/auth"
	"nora/cache"
	"nora/proxy"
	"nora/proxy/maven"
	"nora/proxy/maven/maventest"
	"nora/proxy/proxytest"
)

// TestDeployToFullDisk: mvn deploy into a full store is answered 507 in
// plain text, not 400 with the temp file's path; nothing of the version
// is visible; the same deploy succeeds once there is room.
func TestDeployToFullDisk(t *testing.T) {
	if _, err := os.Stat(maventest.DebianRepo); err != nil {
		t.Fatalf("Debian's Maven repository is missing (.ci/setup-maven.sh installs it): %v", err)
	}
	// mvn resolves its plugins from the upstream itself, not through nora:
	// they must not need room on the small disk.
	up := maventest.New(t, maventest.DebianRepo)
	disk := proxytest.NewDisk(t, "16m")
	var log proxytest.Log
	mc := maven.DefaultConfig()
	mc.Upstreams = []maven.UpstreamConfig{{URL: up.URL}}
	ac := &auth.Config{AnonymousRead: true, Htpasswd: proxytest.Htpasswd(t, "ci", "secret")}
	n := &noraUnderTest{proxytest.StartLogged(t, proxy.AppConfig{Maven: mc, Auth: ac, Storage: cache.Config{Path: disk.Path}}, log.Logger())}
	settings := withServer(strings.Replace(userSettings, "NORA", up.URL+"/", 1), "ci", "secret")
	project := fromTemplate(t, "lib", map[string]string{"VERSION": "1.0", "NORA": n.base(), "BUILD": "big"})
	big := make([]byte, 2<<20)
	rand.Read(big)
	maventest.WriteFile(t, project, "src/main/resources/big.bin", big)
	localRepo := filepath.Join(t.TempDir(), "repo")
	const dir = "com/acme/lib/"

	// No room at all: not even the pom fits, so no file of the version
	// can be there.
	disk.Fill(t, 0)
	out, err := runMvn(t, project, settings, localRepo, "deploy")
	if err == nil || !strings.Contains(out, "507") {
		t.Fatalf("mvn deploy into a full disk: %v, want a failure naming 507\n%s", err, lastLines(out, 40))
	}
	n.CheckNoPath(t, "mvn deploy", []byte(out))
	resp, body := send(t, "PUT", n.base()+dir+"1.0/lib-1.0-raw.jar", "ci", "secret", string(big))
	if resp.StatusCode != 507 || body != "insufficient storage\n" {
		t.Fatalf("PUT into a full disk: %d %q, want 507 insufficient storage", resp.StatusCode, body)
	}
	n.CheckNoPath(t, "PUT", []byte(body))

	for _, p := range []string{"1.0/lib-1.0.jar", "1.0/lib-1.0.pom", "1.0/lib-1.0-raw.jar", "maven-metadata.xml"} {
		if resp, body := send(t, "GET", n.base()+dir+p, "", "", ""); resp.StatusCode != 404 {
			t.Fatalf("GET %s after a failed deploy: %d %s", p, resp.StatusCode, body)
		}
	}
	if len(n.TempFiles()) != 0 {
		t.Fatalf("temp files left: %v", n.TempFiles())
	}
	if !strings.Contains(log.String(), "no space left on device") {
		t.Fatalf("the log does not say why:\n%s", log.String())
	}

	// Room again: the same deploy goes through.
	disk.Free(t)
	if out, err := runMvn(t, project, settings, localRepo, "deploy"); err != nil {
		t.Fatalf("mvn deploy with room: %v\n%s", err, lastLines(out, 60))
	}
	built := mustRead(t, filepath.Join(localRepo, dir+"1.0/lib-1.0.jar"))
	if resp, got := send(t, "GET", n.base()+dir+"1.0/lib-1.0.jar", "", "", ""); resp.StatusCode != 200 || got != string(built) {
		t.Fatalf("GET the deployed jar: %d, %d bytes", resp.StatusCode, len(got))
	}
}
