package main

import (
	"bytes"
	"encoding/base64"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pelletier/go-toml/v2"
)

func TestSetDockerAuth(t *testing.T) {
	auth := base64.StdEncoding.EncodeToString([]byte("nora:tok"))
	f := func(old, wantNote string, want ...string) {
		t.Helper()
		got, note, err := setDockerAuth([]byte(old), "nora.test:4000", auth)
		if err != nil {
			t.Fatalf("%s: %v", old, err)
		}
		for _, w := range want {
			if !strings.Contains(string(got), w) {
				t.Fatalf("%s:\n%s\nlacks %s", old, got, w)
			}
		}
		if !strings.Contains(note, wantNote) {
			t.Fatalf("%s: note %q, want %q", old, note, wantNote)
		}
		again, _, _ := setDockerAuth(got, "nora.test:4000", auth)
		if !bytes.Equal(again, got) {
			t.Fatalf("not idempotent:\n%s\n%s", got, again)
		}
	}
	f("", "", `"nora.test:4000": {`, `"auth": "`+auth+`"`)
	f(`{"auths":{"other.test":{"auth":"b3RoZXI6eA=="}},"psFormat":"table"}`, "",
		`"other.test": {`, `"auth": "b3RoZXI6eA=="`, `"psFormat": "table"`, `"auth": "`+auth+`"`)
	// An old entry's identitytoken would win over auth: the entry is replaced.
	got, _, _ := setDockerAuth([]byte(`{"auths":{"nora.test:4000":{"identitytoken":"x"}}}`), "nora.test:4000", auth)
	if strings.Contains(string(got), "identitytoken") {
		t.Fatalf("old entry kept: %s", got)
	}
	f(`{"credsStore":"desktop"}`, `credsStore "desktop"`, `"credsStore": "desktop"`)
	f(`{"credHelpers":{"nora.test:4000":"ecr-login"}}`, `credHelpers names "ecr-login"`)
	if _, _, err := setDockerAuth([]byte(`[1]`), "h", auth); err == nil {
		t.Fatal("a JSON array was taken for a config")
	}
}

func TestSetNPMRC(t *testing.T) {
	const key = "//nora.test/npm/:_authToken"
	f := func(old, want string) {
		t.Helper()
		if got := string(setNPMRC([]byte(old), key, "tok")); got != want {
			t.Fatalf("%q: got %q, want %q", old, got, want)
		}
		if got := string(setNPMRC([]byte(want), key, "tok")); got != want {
			t.Fatalf("not idempotent: %q", got)
		}
	}
	f("", key+"=tok\n")
	f("registry=https://r.test/\n", "registry=https://r.test/\n"+key+"=tok\n")
	f("a=1\n"+key+" = old\nb=2\n"+key+"=older", "a=1\n"+key+"=tok\nb=2\n")
	f("//other.test/:_authToken=x\r\n", "//other.test/:_authToken=x\n"+key+"=tok\n")
}

func TestINISet(t *testing.T) {
	f := func(old, section, key, value, want string) {
		t.Helper()
		ini := parseINI([]byte(old))
		ini.set(section, key, value)
		if got := string(ini.bytes()); got != want {
			t.Fatalf("%q: got\n%s\nwant\n%s", old, got, want)
		}
		ini.set(section, key, value)
		if got := string(ini.bytes()); got != want {
			t.Fatalf("not idempotent:\n%s", got)
		}
	}
	f("", "global", "index-url", "u", "[global]\nindex-url = u\n")
	f("[global]\ntimeout = 5\n\n[install]\nno-deps = 1\n", "global", "index-url", "u",
		"[global]\ntimeout = 5\nindex-url = u\n\n[install]\nno-deps = 1\n")
	f("# c\n[global]\nindex_url = old\ntrusted-host = x\n", "global", "index-url", "u",
		"# c\n[global]\nindex-url = u\ntrusted-host = x\n")
	f("[distutils]\nindex-servers =\n    pypi\n    test\n\n[pypi]\nusername = x\n", "distutils", "index-servers", "pypi\ntest\nnora",
		"[distutils]\nindex-servers =\n    pypi\n    test\n    nora\n\n[pypi]\nusername = x\n")
	f("[pypi]\nusername = x", "nora", "password", "p", "[pypi]\nusername = x\n\n[nora]\npassword = p\n")
	ini := parseINI([]byte("[distutils]\nindex-servers =\n  pypi\n  other\n"))
	if v, _ := ini.get("distutils", "index-servers"); v != "pypi\nother" {
		t.Fatalf("get: %q", v)
	}
}

func TestSetCargoToken(t *testing.T) {
	f := func(old string) map[string]any {
		t.Helper()
		b, err := setCargoToken([]byte(old), "nora", "tok")
		if err != nil {
			t.Fatalf("%q: %v", old, err)
		}
		doc := map[string]any{}
		if err := toml.Unmarshal(b, &doc); err != nil {
			t.Fatalf("%q: %v\n%s", old, err, b)
		}
		if tok := doc["registries"].(map[string]any)["nora"].(map[string]any)["token"]; tok != "tok" {
			t.Fatalf("%q: token %v in\n%s", old, tok, b)
		}
		return doc
	}
	f("")
	doc := f("[registry]\ntoken = \"crates\"\n\n[registries.other]\ntoken = \"o\"\n\n[registries.nora]\ntoken = \"old\"\n")
	if doc["registry"].(map[string]any)["token"] != "crates" || doc["registries"].(map[string]any)["other"].(map[string]any)["token"] != "o" {
		t.Fatalf("other entries lost: %v", doc)
	}
	if _, err := setCargoToken([]byte("registries = 1\n"), "nora", "tok"); err == nil {
		t.Fatal("registries = 1 was overwritten")
	}
}

func TestSetMavenServer(t *testing.T) {
	entry := func(in string) string {
		return in + "<server>\n" + in + "  <id>nora</id>\n" + in + "  <username>nora</username>\n" +
			in + "  <password>t&lt;k</password>\n" + in + "</server>"
	}
	f := func(old, want string) {
		t.Helper()
		got, err := setMavenServer([]byte(old), "nora", "nora", "t<k")
		if err != nil {
			t.Fatalf("%q: %v", old, err)
		}
		if string(got) != want {
			t.Fatalf("%q: got\n%s\nwant\n%s", old, got, want)
		}
		if again, _ := setMavenServer(got, "nora", "nora", "t<k"); !bytes.Equal(again, got) {
			t.Fatalf("not idempotent:\n%s", again)
		}
	}
	f("", "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<settings>\n  <servers>\n"+entry("    ")+"\n  </servers>\n</settings>\n")
	other := "    <server>\n      <id>other</id>\n      <username>u</username>\n    </server>\n"
	f("<settings>\n  <!-- <server><id>nora</id></server> -->\n  <servers>\n"+other+"  </servers>\n  <offline>false</offline>\n</settings>\n",
		"<settings>\n  <!-- <server><id>nora</id></server> -->\n  <servers>\n"+other+entry("    ")+"\n  </servers>\n  <offline>false</offline>\n</settings>\n")
	f("<settings>\n  <servers>\n"+other+"    <server><id> nora </id><password>old</password></server>\n  </servers>\n</settings>",
		"<settings>\n  <servers>\n"+other+entry("    ")+"\n  </servers>\n</settings>")
	f("<settings>\n  <servers/>\n</settings>\n", "<settings>\n  <servers>\n"+entry("    ")+"\n  </servers>\n</settings>\n")
	f("<settings xmlns=\"urn:x\">\n  <localRepository>/r</localRepository>\n</settings>\n",
		"<settings xmlns=\"urn:x\">\n  <localRepository>/r</localRepository>\n  <servers>\n"+entry("    ")+"\n  </servers>\n</settings>\n")
	f("<settings><servers></servers></settings>", "<settings><servers>\n"+entry("  ")+"\n</servers></settings>")
	for _, bad := range []string{"<project></project>", "<settings><servers>", "not xml <"} {
		if got, err := setMavenServer([]byte(bad), "nora", "nora", "t"); err == nil {
			t.Fatalf("%q taken for settings: %s", bad, got)
		}
	}
}

// TestWriteCredentials: every writer merges into the files there, makes
// them 0600, and a second login changes nothing but the token.
func TestWriteCredentials(t *testing.T) {
	home := t.TempDir()
	put := func(rel, content string) {
		p := filepath.Join(home, rel)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	put(".npmrc", "registry=https://npm.test/\n")
	put(".pypirc", "[distutils]\nindex-servers = pypi\n\n[pypi]\nusername = __token__\n")
	put(".m2/settings.xml", "<settings>\n  <servers>\n    <server><id>other</id></server>\n  </servers>\n</settings>\n")
	put("cargo/credentials.toml", "[registries.other]\ntoken = \"o\"\n")
	put("docker/config.json", `{"auths":{"other.test":{"auth":"eA=="}}}`)
	server, _ := url.Parse("https://nora.test:8443/base")
	env := []string{"DOCKER_CONFIG=" + filepath.Join(home, "docker"), "CARGO_HOME=" + filepath.Join(home, "cargo")}
	login := func(token string) (string, map[string]string) {
		t.Helper()
		var out bytes.Buffer
		if err := writeCredentials(loginTarget{server: server, token: token, home: home, env: env},
			[]string{"docker", "npm", "pip", "cargo", "maven"}, &out); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(out.String(), token) {
			t.Fatalf("the report shows the token:\n%s", out.String())
		}
		files := map[string]string{}
		for _, rel := range []string{".npmrc", ".pypirc", ".config/pip/pip.conf", ".m2/settings.xml", "cargo/credentials.toml", "docker/config.json"} {
			p := filepath.Join(home, rel)
			st, err := os.Stat(p)
			if err != nil {
				t.Fatal(err)
			}
			if st.Mode().Perm() != 0o600 {
				t.Fatalf("%s: mode %v", rel, st.Mode().Perm())
			}
			if !strings.Contains(out.String(), p) {
				t.Fatalf("the report does not name %s:\n%s", p, out.String())
			}
			b, _ := os.ReadFile(p)
			files[rel] = string(b)
		}
		return out.String(), files
	}
	_, first := login("tok-1")
	for rel, want := range map[string][]string{
		".npmrc":                 {"registry=https://npm.test/\n", "//nora.test:8443/base/npm/:_authToken=tok-1\n"},
		".pypirc":                {"index-servers =\n    pypi\n    nora\n", "username = __token__", "[nora]\nrepository = https://nora.test:8443/base/simple/\nusername = nora\npassword = tok-1\n"},
		".config/pip/pip.conf":   {"[global]\nindex-url = https://nora:tok-1@nora.test:8443/base/simple/\n"},
		".m2/settings.xml":       {"<server><id>other</id></server>", "<password>tok-1</password>"},
		"cargo/credentials.toml": {"token = 'o'", "[registries.nora]\ntoken = 'tok-1'"},
		"docker/config.json":     {`"other.test"`, `"nora.test:8443": {`, base64.StdEncoding.EncodeToString([]byte("nora:tok-1"))},
	} {
		for _, w := range want {
			if !strings.Contains(first[rel], w) {
				t.Fatalf("%s lacks %q:\n%s", rel, w, first[rel])
			}
		}
	}
	_, second := login("tok-2")
	for rel, b := range second {
		want := strings.ReplaceAll(first[rel], "tok-1", "tok-2")
		want = strings.ReplaceAll(want, base64.StdEncoding.EncodeToString([]byte("nora:tok-1")), base64.StdEncoding.EncodeToString([]byte("nora:tok-2")))
		if b != want {
			t.Fatalf("%s after a second login:\n%s\nwant\n%s", rel, b, want)
		}
	}
	if left, _ := filepath.Glob(filepath.Join(home, ".*.nora-*")); len(left) > 0 {
		t.Fatalf("temp files left: %v", left)
	}
}

// TestWriteCredentialsFollowsSymlinks: a dotfile that is a link keeps
// being one; its target is updated.
func TestWriteCredentialsFollowsSymlinks(t *testing.T) {
	home, dots := t.TempDir(), t.TempDir()
	target := filepath.Join(dots, "npmrc")
	os.WriteFile(target, []byte("a=1\n"), 0o600)
	if err := os.Symlink(target, filepath.Join(home, ".npmrc")); err != nil {
		t.Fatal(err)
	}
	server, _ := url.Parse("http://nora.test")
	if err := writeCredentials(loginTarget{server: server, token: "tok", home: home}, []string{"npm"}, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Lstat(filepath.Join(home, ".npmrc")); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Fatalf("the link was replaced: %v", err)
	}
	if b, _ := os.ReadFile(target); string(b) != "a=1\n//nora.test/npm/:_authToken=tok\n" {
		t.Fatalf("target: %q", b)
	}
}

// TestWriteCargoLegacyFile: cargo reads ~/.cargo/credentials over
// credentials.toml when both exist, so the token goes where cargo looks.
func TestWriteCargoLegacyFile(t *testing.T) {
	home := t.TempDir()
	legacy := filepath.Join(home, ".cargo", "credentials")
	os.MkdirAll(filepath.Dir(legacy), 0o700)
	os.WriteFile(legacy, []byte("[registry]\ntoken = \"crates\"\n"), 0o600)
	server, _ := url.Parse("https://nora.test")
	if err := writeCredentials(loginTarget{server: server, token: "tok", home: home}, []string{"cargo"}, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(legacy); !strings.Contains(string(b), "crates") || !strings.Contains(string(b), "'tok'") {
		t.Fatalf("credentials: %s", b)
	}
	if _, err := os.Stat(filepath.Join(home, ".cargo", "credentials.toml")); err == nil {
		t.Fatal("credentials.toml written beside the legacy file")
	}
}
