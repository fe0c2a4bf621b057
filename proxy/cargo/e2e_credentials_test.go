package cargo_test

import (
	"encoding/base64"
	"path/filepath"
	"strings"
	"testing"

	"nora/proxy/cargo/cargotest"
	"nora/proxy/proxytest"
)

// TestCargoPublishWithREADMECredentials publishes with the registry and the
// token where README.md puts them: [registries.nora] in config.toml,
// the token in credentials.toml, and no token in the environment.
func TestCargoPublishWithREADMECredentials(t *testing.T) {
	up := cargotest.New(t, cargotest.Options{})
	n := startNoraAuth(t, alwaysRevalidate(up), users(t))

	registry := proxytest.Inline(t, "[registries.nora] index")
	creds := proxytest.Snippet(t, "[registries.nora]\ntoken")
	// The README's token is that of "ci:PASS"; the test's user has its own.
	const docToken = "Basic Y2k6UEFTUw=="
	if b, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(docToken, "Basic ")); err != nil || string(b) != "ci:PASS" ||
		!strings.Contains(creds, `token = "`+docToken+`"`) || proxytest.Inline(t, "echo -n ci:PASS | base64") == "" {
		t.Fatalf("README's credentials.toml does not hold the token of ci:PASS:\n%s", creds)
	}
	creds = strings.Replace(creds, docToken, basicToken(testUser, testPass), 1)

	home := t.TempDir()
	writeFiles(t, home, map[string]string{
		"cargo-home/config.toml":      n.Local(strings.Replace(registry, "] ", "]\n", 1)) + "\n",
		"cargo-home/credentials.toml": creds,
	})
	env := cargoEnv(home)
	dir := filepath.Join(home, "src")
	writeFiles(t, dir, map[string]string{
		"Cargo.toml": "[package]\nname = \"acme-creds\"\nversion = \"0.1.0\"\nedition = \"2021\"\n" +
			"description = \"nora hosted test crate\"\nlicense = \"MIT\"\npublish = [\"nora\"]\n",
		"src/lib.rs": "",
	})
	out, err := runCargo(t, dir, env, "publish", "--registry", "nora", "--no-verify", "--allow-dirty")
	if err != nil || !strings.Contains(out, "Published acme-creds v0.1.0") {
		t.Fatalf("cargo publish with the README's credentials.toml: %v\n%s", err, out)
	}
	if lines := indexLines(t, n.Addr, "ac/me/acme-creds"); len(lines) != 1 || lines[0]["vers"] != "0.1.0" {
		t.Fatalf("index after publish: %v", lines)
	}
}
