package cargo_test

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"nora/auth"
	"nora/proxy/cargo"
	"nora/proxy/cargo/cargotest"
	"nora/proxy/httpx"
	"nora/proxy/proxytest"
)

// The hosted tests publish with the real cargo (`cargo publish --registry
// nora`, a token of "Basic <base64 user:password>") and install what they
// published through nora standing in for crates-io.

const testUser, testPass = "ci", "s3cret"

// users is an [auth] section with testUser in an htpasswd file.
func users(t *testing.T) *auth.Config {
	t.Helper()
	return &auth.Config{AnonymousRead: true, Htpasswd: proxytest.Htpasswd(t, testUser, testPass)}
}

func basicToken(user, pass string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
}

// cargoUser is a HOME and CARGO_HOME whose cargo knows nora twice: as the
// registry "nora" (publish, yank, with token) and as the replacement of
// crates-io (installs).
type cargoUser struct {
	home, cargoHome string
	env             []string
}

func newCargoUser(t *testing.T, addr, token string) *cargoUser {
	t.Helper()
	home := t.TempDir()
	u := &cargoUser{home: home, cargoHome: filepath.Join(home, "cargo-home")}
	writeFiles(t, home, map[string]string{
		"cargo-home/config.toml": "[registries.nora]\nindex = \"sparse+http://" + addr + "/cargo/index/\"\n" +
			"credential-provider = [\"cargo:token\"]\n\n[source.crates-io]\nreplace-with = \"nora\"\n",
	})
	var extra []string
	if token != "" {
		extra = append(extra, "CARGO_REGISTRIES_NORA_TOKEN="+token)
	}
	u.env = cargoEnv(home, extra...)
	return u
}

func (u *cargoUser) run(t *testing.T, dir string, args ...string) (string, error) {
	t.Helper()
	return runCargo(t, dir, u.env, args...)
}

// crate writes package name vers with the given [dependencies] and
// [features] lines, publishable to nora only; it returns its directory.
func (u *cargoUser) crate(t *testing.T, name, vers, deps, features string) string {
	t.Helper()
	dir := filepath.Join(u.home, "src", name+"-"+vers)
	writeFiles(t, dir, map[string]string{
		"Cargo.toml": "[package]\nname = \"" + name + "\"\nversion = \"" + vers + "\"\nedition = \"2021\"\n" +
			"description = \"nora hosted test crate\"\nlicense = \"MIT\"\npublish = [\"nora\"]\n\n" +
			"[dependencies]\n" + deps + "\n[features]\n" + features + "\n",
		"src/lib.rs": "pub fn version() -> &'static str { \"" + vers + "\" }\n",
	})
	return dir
}

func (u *cargoUser) publish(t *testing.T, dir string) (string, error) {
	t.Helper()
	return u.run(t, dir, "publish", "--registry", "nora", "--no-verify", "--allow-dirty")
}

// packaged is the .crate cargo built in dir for name vers (cargo publish
// leaves it in tmp-crate/, cargo package one level up).
func packaged(t *testing.T, dir, name, vers string) []byte {
	t.Helper()
	file := name + "-" + vers + ".crate"
	b, err := os.ReadFile(filepath.Join(dir, "target", "package", "tmp-crate", file))
	if os.IsNotExist(err) {
		b, err = os.ReadFile(filepath.Join(dir, "target", "package", file))
	}
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// app writes a binary project with the given [dependencies] lines.
func (u *cargoUser) app(t *testing.T, deps string) string {
	t.Helper()
	dir := filepath.Join(u.home, "app")
	writeFiles(t, dir, map[string]string{
		"Cargo.toml":  "[package]\nname = \"app\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[dependencies]\n" + deps + "\n",
		"src/main.rs": "fn main() {}\n",
	})
	return dir
}

// install runs `cargo generate-lockfile` and `cargo fetch` in dir and
// returns the lock file.
func (u *cargoUser) install(t *testing.T, dir string) (string, error) {
	t.Helper()
	for _, args := range [][]string{{"generate-lockfile"}, {"fetch"}} {
		if out, err := u.run(t, dir, args...); err != nil {
			return out, err
		}
	}
	b, err := os.ReadFile(filepath.Join(dir, "Cargo.lock"))
	return string(b), err
}

// cachedCrate is what cargo stored for a downloaded .crate.
func (u *cargoUser) cachedCrate(t *testing.T, file string) []byte {
	t.Helper()
	return (&client{cargoHome: u.cargoHome}).cachedCrate(t, file)
}

// locked reports whether lock pins name at vers.
func locked(lock, name, vers string) bool {
	return strings.Contains(lock, "name = \""+name+"\"\nversion = \""+vers+"\"")
}

// indexLines fetches and decodes an index file through nora.
func indexLines(t *testing.T, addr, path string) []map[string]any {
	t.Helper()
	resp, body := get(t, "http://"+addr+"/cargo/index/"+path)
	if resp.StatusCode != 200 {
		t.Fatalf("GET index %s: %d %s", path, resp.StatusCode, body)
	}
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(string(body)), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("index line %q: %v", line, err)
		}
		out = append(out, m)
	}
	return out
}

// publishBody is a publish request body in cargo's wire format.
func publishBody(meta any, crate []byte) []byte {
	m, err := json.Marshal(meta)
	if err != nil {
		panic(err)
	}
	var b []byte
	b = binary.LittleEndian.AppendUint32(b, uint32(len(m)))
	b = append(b, m...)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(crate)))
	return append(b, crate...)
}

// metadata is publish metadata for a crate without dependencies, as cargo
// sends it.
func metadata(name, vers string) map[string]any {
	return map[string]any{"name": name, "vers": vers, "deps": []any{}, "features": map[string]any{},
		"authors": []string{}, "description": "x", "documentation": nil, "homepage": nil, "readme": nil,
		"readme_file": nil, "keywords": []string{}, "categories": []string{}, "license": "MIT",
		"license_file": nil, "repository": nil, "badges": map[string]any{}, "links": nil, "rust_version": nil}
}

// rawRequest sends one request over a fresh connection: declared is the
// Content-Length (which may exceed len(body), for a body cut off by the
// client); the client then closes its sending side.
func rawRequest(t *testing.T, addr, method, path, authz string, declared int, body []byte) (int, string, http.Header) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	hdr := method + " " + path + " HTTP/1.1\r\nHost: " + addr + "\r\nConnection: close\r\n" +
		"Content-Length: " + fmt.Sprint(declared) + "\r\n"
	if authz != "" {
		hdr += "Authorization: " + authz + "\r\n"
	}
	if _, err := conn.Write(append([]byte(hdr+"\r\n"), body...)); err != nil {
		t.Fatal(err)
	}
	conn.(*net.TCPConn).CloseWrite()
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

// cargoErrorBody is cargo's error shape with one detail.
func cargoErrorBody(detail string) string {
	b, _ := json.Marshal(map[string]any{"errors": []map[string]string{{"detail": detail}}})
	return string(b)
}

// hostedState lists what hosted state and the cache's temp dir hold:
// nothing, after refused publishes. The temp dir is the disk store's "tmp"
// (a store that cannot adopt files would spool to "spool"); the check
// fails if it is neither, so it cannot pass by looking in the wrong place.
func (n *noraUnderTest) hostedState(t *testing.T) []string {
	t.Helper()
	tmp, spool := filepath.Join(n.DataDir, "tmp"), filepath.Join(n.DataDir, "spool")
	if !isDir(tmp) && !isDir(spool) {
		t.Fatalf("no temp dir in %s", n.DataDir)
	}
	var out []string
	for _, dir := range []string{filepath.Join(n.DataDir, "objects", "hosted"), tmp, spool} {
		filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
			if err == nil && !fi.IsDir() {
				out = append(out, p)
			}
			return nil
		})
	}
	return out
}

func isDir(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}

func TestCargoPublishInstallYank(t *testing.T) {
	up := cargotest.New(t, cargotest.Options{})
	publishAcme(t, up) // acme-dep 0.1.0 upstream, reached through nora
	n := startNoraAuth(t, alwaysRevalidate(up), users(t))
	ci := newCargoUser(t, n.Addr, basicToken(testUser, testPass))

	// An optional, renamed dependency on a crates-io crate, enabled by a
	// feature in the dep: syntax: rename, registry and features2 all
	// reach the index line.
	dir := ci.crate(t, "acme-hosted", "0.1.0", `dep = { package = "acme-dep", version = "0.1.0", optional = true }`,
		"default = [\"with-dep\"]\nwith-dep = [\"dep:dep\"]")
	if out, err := ci.publish(t, dir); err != nil || !strings.Contains(out, "Published acme-hosted v0.1.0") {
		t.Fatalf("cargo publish: %v\n%s", err, out)
	}
	crate := packaged(t, dir, "acme-hosted", "0.1.0")
	sum := sha256.Sum256(crate)
	lines := indexLines(t, n.Addr, "ac/me/acme-hosted")
	if len(lines) != 1 {
		t.Fatalf("index has %d lines", len(lines))
	}
	got, _ := json.Marshal(lines[0]["deps"])
	want := `[{"default_features":true,"features":[],"kind":"normal","name":"dep","optional":true,"package":"acme-dep","registry":"https://github.com/rust-lang/crates.io-index","req":"^0.1.0","target":null}]`
	l := lines[0]
	if l["name"] != "acme-hosted" || l["vers"] != "0.1.0" || l["cksum"] != hex.EncodeToString(sum[:]) || l["yanked"] != false ||
		l["v"] != 2.0 || fmt.Sprint(l["features"]) != "map[default:[with-dep]]" || fmt.Sprint(l["features2"]) != "map[with-dep:[dep:dep]]" ||
		string(got) != want {
		t.Fatalf("index line %v\ndeps %s\nwant %s", l, got, want)
	}
	resp, _ := get(t, "http://"+n.Addr+"/cargo/index/ac/me/acme-hosted")
	if resp, _ := get(t, "http://"+n.Addr+"/cargo/index/ac/me/acme-hosted", "If-None-Match", resp.Header.Get("ETag")); resp.StatusCode != 304 {
		t.Fatalf("hosted index revalidation: %d, want 304", resp.StatusCode)
	}

	// Installed through nora as crates-io: the hosted crate, and its
	// dependency from the upstream.
	dev := newCargoUser(t, n.Addr, "")
	app := dev.app(t, `acme-hosted = "0.1.0"`)
	lock, err := dev.install(t, app)
	if err != nil || !locked(lock, "acme-hosted", "0.1.0") || !locked(lock, "acme-dep", "0.1.0") {
		t.Fatalf("install: %v\n%s", err, lock)
	}
	if !bytes.Equal(dev.cachedCrate(t, "acme-hosted-0.1.0.crate"), crate) {
		t.Fatal("the installed .crate differs from the published one")
	}
	if up.IndexGets("acme-hosted") != 1 { // cargo publish's own check, before it was hosted
		t.Errorf("the upstream was asked %d times for acme-hosted", up.IndexGets("acme-hosted"))
	}

	// Publishing the version again: cargo refuses it from the index, and
	// nora refuses the upload itself in cargo's words.
	if out, err := ci.publish(t, dir); err == nil || !strings.Contains(out, "already exists") {
		t.Fatalf("second cargo publish: %v\n%s", err, out)
	}
	status, body, _ := rawRequest(t, n.Addr, "PUT", "/cargo/api/v1/crates/new", basicToken(testUser, testPass), len(publishBody(metadata("acme-hosted", "0.1.0"), crate)), publishBody(metadata("acme-hosted", "0.1.0"), crate))
	if status != 409 || body != cargoErrorBody("crate version `0.1.0` is already uploaded") {
		t.Fatalf("duplicate publish: %d %s", status, body)
	}

	// Yanked: a new resolution refuses it, a lock file that pins it still
	// installs.
	if out, err := ci.run(t, dir, "yank", "--registry", "nora", "--version", "0.1.0", "acme-hosted"); err != nil {
		t.Fatalf("cargo yank: %v\n%s", err, out)
	}
	if lines := indexLines(t, n.Addr, "ac/me/acme-hosted"); lines[0]["yanked"] != true {
		t.Fatalf("index after yank: %v", lines[0])
	}
	fresh := newCargoUser(t, n.Addr, "")
	if out, err := fresh.install(t, fresh.app(t, `acme-hosted = "0.1.0"`)); err == nil || !strings.Contains(out, "version 0.1.0 is yanked") {
		t.Fatalf("a new resolution accepted the yanked version: %v\n%s", err, out)
	}
	pinned := newCargoUser(t, n.Addr, "")
	app = pinned.app(t, `acme-hosted = "0.1.0"`)
	writeFiles(t, app, map[string]string{"Cargo.lock": lock})
	if out, err := pinned.run(t, app, "fetch", "--locked"); err != nil {
		t.Fatalf("fetch of a pinned yanked version: %v\n%s", err, out)
	}

	if out, err := ci.run(t, dir, "yank", "--undo", "--registry", "nora", "--version", "0.1.0", "acme-hosted"); err != nil {
		t.Fatalf("cargo yank --undo: %v\n%s", err, out)
	}
	fresh = newCargoUser(t, n.Addr, "")
	if lock, err := fresh.install(t, fresh.app(t, `acme-hosted = "0.1.0"`)); err != nil || !locked(lock, "acme-hosted", "0.1.0") {
		t.Fatalf("install after unyank: %v\n%s", err, lock)
	}
}

func TestCargoHostedShadowsUpstream(t *testing.T) {
	up := cargotest.New(t, cargotest.Options{})
	up.Publish("acme-lib", "9.9.9", []byte("the public acme-lib"))
	up.Publish("acme_lib", "9.9.9", []byte("a look-alike"))
	n := startNoraAuth(t, alwaysRevalidate(up), users(t))
	base := "http://" + n.Addr

	// Proxied so far: its 9.9.9 is in nora's cache.
	if resp, body := get(t, base+"/cargo/api/v1/crates/acme-lib/9.9.9/download"); resp.StatusCode != 200 || string(body) != "the public acme-lib" {
		t.Fatalf("proxied download: %d %s", resp.StatusCode, body)
	}
	ci := newCargoUser(t, n.Addr, basicToken(testUser, testPass))
	dir := ci.crate(t, "acme-lib", "0.1.0", "", "")
	if out, err := ci.publish(t, dir); err != nil {
		t.Fatalf("cargo publish: %v\n%s", err, out)
	}
	// cargo publish looked the name up (then still proxied); from here on
	// the upstream must never be asked about it again.
	indexGets, crateGets := up.IndexGets("acme-lib"), up.CrateGets("acme-lib", "9.9.9")

	dev := newCargoUser(t, n.Addr, "")
	lock, err := dev.install(t, dev.app(t, `acme-lib = ">=0.1.0"`))
	if err != nil || !locked(lock, "acme-lib", "0.1.0") || strings.Contains(lock, "9.9.9") {
		t.Fatalf("install: %v\n%s", err, lock)
	}
	if !bytes.Equal(dev.cachedCrate(t, "acme-lib-0.1.0.crate"), packaged(t, dir, "acme-lib", "0.1.0")) {
		t.Fatal("the installed acme-lib is not the hosted one")
	}
	if lines := indexLines(t, n.Addr, "ac/me/acme-lib"); len(lines) != 1 || lines[0]["vers"] != "0.1.0" {
		t.Fatalf("hosted index mixes in other versions: %v", lines)
	}
	// The cached public .crate is not served any more, nor the look-alike
	// spelling looked up.
	for _, path := range []string{"/cargo/api/v1/crates/acme-lib/9.9.9/download", "/cargo/index/ac/me/acme_lib", "/cargo/api/v1/crates/acme_lib/9.9.9/download"} {
		if resp, body := get(t, base+path); resp.StatusCode != 404 {
			t.Fatalf("GET %s: %d %s, want 404", path, resp.StatusCode, body)
		}
	}
	if up.IndexGets("acme-lib") != indexGets || up.CrateGets("acme-lib", "9.9.9") != crateGets ||
		up.IndexGets("acme_lib") != 0 || up.CrateGets("acme_lib", "9.9.9") != 0 {
		t.Fatalf("the upstream was asked about a hosted name: index %d -> %d, look-alike %d",
			indexGets, up.IndexGets("acme-lib"), up.IndexGets("acme_lib"))
	}
	// The look-alike cannot be published either.
	other := ci.crate(t, "acme_lib", "1.0.0", "", "")
	if out, err := ci.publish(t, other); err == nil || !strings.Contains(out, "(status 409 Conflict): crate name `acme_lib` is taken by hosted crate `acme-lib`") {
		t.Fatalf("publish of a look-alike: %v\n%s", err, out)
	}
}

func TestCargoPublishAuth(t *testing.T) {
	up := cargotest.New(t, cargotest.Options{})
	n := startNoraAuth(t, alwaysRevalidate(up), users(t))
	dir := newCargoUser(t, n.Addr, "").crate(t, "acme-hosted", "0.1.0", "", "")
	body := publishBody(metadata("acme-hosted", "0.1.0"), []byte("never read"))
	f := func(method, path, authz string, status int, detail string) {
		t.Helper()
		got, b, hdr := rawRequest(t, n.Addr, method, path, authz, len(body), body)
		if got != status || b != cargoErrorBody(detail) {
			t.Fatalf("%s %s with %q: %d %s; want %d %q", method, path, authz, got, b, status, detail)
		}
		if status == 401 && hdr.Get("WWW-Authenticate") != `Basic realm="nora"` {
			t.Fatalf("%s %s: WWW-Authenticate %q", method, path, hdr.Get("WWW-Authenticate"))
		}
	}
	const publish, yank, unyank = "/cargo/api/v1/crates/new", "/cargo/api/v1/crates/acme-hosted/0.1.0/yank", "/cargo/api/v1/crates/acme-hosted/0.1.0/unyank"
	f("PUT", publish, "", 401, "authentication required to push crates")
	f("PUT", publish, basicToken(testUser, "wrong"), 401, "invalid user name or password")
	f("PUT", publish, basicToken("nobody", testPass), 401, "invalid user name or password")
	f("PUT", publish, "Bearer "+testPass, 401, "invalid user name or password")
	f("PUT", publish, testPass, 401, "invalid user name or password")
	f("DELETE", yank, "", 401, "authentication required to delete acme-hosted")
	f("PUT", unyank, basicToken(testUser, "wrong"), 401, "invalid user name or password")
	f("DELETE", yank, basicToken(testUser, testPass), 404, "crate `acme-hosted` is not hosted here")

	// The real cargo with a wrong password: nora's 401 and its detail.
	// Without a token cargo does not even try.
	for token, want := range map[string]string{
		basicToken(testUser, "wrong"): "(status 401 Unauthorized): invalid user name or password",
		"":                            "no token found for `nora`",
	} {
		u := newCargoUser(t, n.Addr, token)
		if out, err := u.publish(t, dir); err == nil || !strings.Contains(out, want) {
			t.Fatalf("cargo publish with token %q: %v\n%s", token, err, out)
		}
		if out, err := u.run(t, dir, "yank", "--registry", "nora", "--version", "0.1.0", "acme-hosted"); err == nil || !strings.Contains(out, want) {
			t.Fatalf("cargo yank with token %q: %v\n%s", token, err, out)
		}
	}
	if s := n.hostedState(t); len(s) != 0 {
		t.Fatalf("refused publishes left %v", s)
	}

	// No htpasswd: nobody may write, and the answer says what to set.
	n2 := startNoraAuth(t, alwaysRevalidate(up), &auth.Config{AnonymousRead: true})
	for _, authz := range []string{"", basicToken(testUser, testPass)} {
		for _, req := range [][2]string{{"PUT", publish}, {"DELETE", yank}, {"PUT", unyank}} {
			got, b, _ := rawRequest(t, n2.Addr, req[0], req[1], authz, len(body), body)
			if got != 403 || b != cargoErrorBody(httpx.NoWritesMessage) {
				t.Fatalf("%s %s without htpasswd: %d %s", req[0], req[1], got, b)
			}
		}
	}
	u := newCargoUser(t, n2.Addr, basicToken(testUser, testPass))
	if out, err := u.publish(t, dir); err == nil || !strings.Contains(out, "(status 403 Forbidden): "+httpx.NoWritesMessage) {
		t.Fatalf("cargo publish without htpasswd: %v\n%s", err, out)
	}
	if s := n2.hostedState(t); len(s) != 0 {
		t.Fatalf("refused publishes left %v", s)
	}
}

func TestCargoBadPublishRefused(t *testing.T) {
	up := cargotest.New(t, cargotest.Options{})
	n := startNoraAuth(t, alwaysRevalidate(up), users(t))
	ci := newCargoUser(t, n.Addr, basicToken(testUser, testPass))
	dir := ci.crate(t, "acme-hosted", "0.1.0", "", "")
	if out, err := ci.run(t, dir, "package", "--no-verify", "--allow-dirty", "--offline"); err != nil {
		t.Fatalf("cargo package: %v\n%s", err, out)
	}
	crate := packaged(t, dir, "acme-hosted", "0.1.0")
	good := publishBody(metadata("acme-hosted", "0.1.0"), crate)
	corrupt := bytes.Clone(crate)
	corrupt[len(corrupt)-6] ^= 0xff // the gzip CRC-32
	token := basicToken(testUser, testPass)
	f := func(what string, declared int, body []byte, status int, detail string) {
		t.Helper()
		got, b, _ := rawRequest(t, n.Addr, "PUT", "/cargo/api/v1/crates/new", token, declared, body)
		var e struct{ Errors []struct{ Detail string } }
		if got != status || json.Unmarshal([]byte(b), &e) != nil || len(e.Errors) != 1 || !strings.Contains(e.Errors[0].Detail, detail) {
			t.Fatalf("%s: %d %s; want %d with %q", what, got, b, status, detail)
		}
	}
	// The server reads the first 8 KiB of a body before nora's handler
	// runs: a smaller body cut short is refused by the HTTP parser.
	if got, b, _ := rawRequest(t, n.Addr, "PUT", "/cargo/api/v1/crates/new", token, len(good), good[:len(good)-100]); got != 400 {
		t.Fatalf("truncated small body: %d %s", got, b)
	}
	// Larger ones stream to the handler, which meets the cut.
	readme := metadata("acme-hosted", "0.1.0")
	readme["readme"] = strings.Repeat("a README line\n", 6<<20/14)
	long := publishBody(readme, crate)
	f("truncated body", len(long), long[:len(long)-100], 400, "the publish body ends before the .crate does")
	f("truncated in the metadata", len(long), long[:1<<20], 400, "the publish body ends before the metadata does")
	f("corrupted .crate", len(good), publishBody(metadata("acme-hosted", "0.1.0"), corrupt), 400, "the .crate is corrupt")
	f("cut .crate, lengths adjusted", len(good)-100, publishBody(metadata("acme-hosted", "0.1.0"), crate[:len(crate)-100]), 400, "the .crate")
	f("another version's .crate", len(good), publishBody(metadata("acme-hosted", "0.2.0"), crate), 400, "outside acme-hosted-0.2.0/")
	f("crate length past the body", len(good)-1, good[:len(good)-1], 400, "does not match")
	f("trailing bytes", len(good)+1, append(bytes.Clone(good), 0), 400, "does not match")
	notJSON := []byte{1, 0, 0, 0, '{', 0, 0, 0, 0}
	f("not JSON", len(notJSON), notJSON, 400, "publish metadata: the JSON ends early")
	f("bad metadata", 0, nil, 400, "the publish body ends before the length of metadata does")
	meta := metadata("acme-hosted", "0.1.0")
	meta["vers"] = "latest"
	f("bad version", len(publishBody(meta, crate)), publishBody(meta, crate), 400, `invalid version "latest"`)
	// Over max_upload_size: refused from its Content-Length, unread.
	f("too large", cargo.DefaultMaxUploadSize+1, make([]byte, 16<<10), 413, fmt.Sprintf("more than the %d this registry accepts", cargo.DefaultMaxUploadSize))
	if s := n.hostedState(t); len(s) != 0 {
		t.Fatalf("refused publishes left %v", s)
	}
	if n.Stored(blobKey(corrupt)) || n.Stored(blobKey(crate)) {
		t.Fatal("a refused .crate was stored")
	}
	if resp, _ := get(t, "http://"+n.Addr+"/cargo/index/ac/me/acme-hosted"); resp.StatusCode != 404 {
		t.Fatalf("index after refused publishes: %d", resp.StatusCode)
	}

	// The same body, whole, is published.
	if got, b, _ := rawRequest(t, n.Addr, "PUT", "/cargo/api/v1/crates/new", token, len(good), good); got != 200 ||
		b != `{"warnings":{"invalid_categories":[],"invalid_badges":[],"other":[]}}` {
		t.Fatalf("publish: %d %s", got, b)
	}
	if !n.Stored(blobKey(crate)) {
		t.Fatal("the published .crate is not stored by its sha256")
	}
	if resp, body := get(t, "http://"+n.Addr+"/cargo/api/v1/crates/acme-hosted/0.1.0/download"); resp.StatusCode != 200 || !bytes.Equal(body, crate) {
		t.Fatalf("download: %d", resp.StatusCode)
	}
}

func blobKey(b []byte) string {
	sum := sha256.Sum256(b)
	h := hex.EncodeToString(sum[:])
	return "blobs/sha256/" + h[:2] + "/" + h
}

func TestCargoConcurrentPublishes(t *testing.T) {
	up := cargotest.New(t, cargotest.Options{})
	n := startNoraAuth(t, alwaysRevalidate(up), users(t))
	ci := newCargoUser(t, n.Addr, basicToken(testUser, testPass))
	vers := []string{"0.1.0", "0.2.0", "0.3.0", "0.3.0"} // the last two race
	dirs := make([]string, len(vers))
	for i, v := range vers {
		dirs[i] = ci.crate(t, "acme-multi", v, "", "")
		if i == 3 {
			// Same version, another copy of the sources.
			dirs[i] = filepath.Join(t.TempDir(), "copy")
			writeFiles(t, dirs[i], map[string]string{
				"Cargo.toml": mustRead(t, filepath.Join(dirs[2], "Cargo.toml")),
				"src/lib.rs": mustRead(t, filepath.Join(dirs[2], "src", "lib.rs")),
			})
		}
	}
	var wg sync.WaitGroup
	outs := make([]string, len(vers))
	errs := make([]error, len(vers))
	for i := range vers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			outs[i], errs[i] = ci.publish(t, dirs[i])
		}()
	}
	wg.Wait()
	for i := range 2 {
		if errs[i] != nil {
			t.Fatalf("publish %s: %v\n%s", vers[i], errs[i], outs[i])
		}
	}
	// Of the racing pair exactly one wins; the other is refused by cargo
	// (it saw the version in the index) or by nora.
	if (errs[2] == nil) == (errs[3] == nil) {
		t.Fatalf("racing publishes of 0.3.0: %v / %v\n%s\n%s", errs[2], errs[3], outs[2], outs[3])
	}
	loser := outs[2] + outs[3]
	if !strings.Contains(loser, "already uploaded") && !strings.Contains(loser, "already exists") {
		t.Fatalf("the losing publish says:\n%s", loser)
	}
	lines := indexLines(t, n.Addr, "ac/me/acme-multi")
	var got []string
	for _, l := range lines {
		got = append(got, l["vers"].(string))
	}
	if len(got) != 3 {
		t.Fatalf("index lists %v", got)
	}
	dev := newCargoUser(t, n.Addr, "")
	if lock, err := dev.install(t, dev.app(t, `acme-multi = "0.3"`)); err != nil || !locked(lock, "acme-multi", "0.3.0") {
		t.Fatalf("install: %v\n%s", err, lock)
	}
}

func mustRead(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestCargoPrivateReads(t *testing.T) {
	up := cargotest.New(t, cargotest.Options{})
	up.Publish("acme-dep", "0.1.0", []byte("crate bytes"))
	cfg := users(t)
	cfg.AnonymousRead = false
	n := startNoraAuth(t, alwaysRevalidate(up), cfg)
	base := "http://" + n.Addr
	token := basicToken(testUser, testPass)
	if resp, body := get(t, base+"/cargo/index/config.json"); resp.StatusCode != 200 || !strings.Contains(string(body), `"auth-required":true`) {
		t.Fatalf("config.json: %d %s", resp.StatusCode, body)
	}
	for _, path := range []string{"/cargo/index/ac/me/acme-dep", "/cargo/api/v1/crates/acme-dep/0.1.0/download"} {
		resp, body := get(t, base+path)
		if resp.StatusCode != 401 || resp.Header.Get("WWW-Authenticate") != `Basic realm="nora"` || string(body) != cargoErrorBody("authentication required to pull acme-dep") {
			t.Fatalf("anonymous GET %s: %d %s", path, resp.StatusCode, body)
		}
		if resp, body := get(t, base+path, "Authorization", token); resp.StatusCode != 200 {
			t.Fatalf("GET %s with credentials: %d %s", path, resp.StatusCode, body)
		}
	}

	// The real cargo: publish, then install with the registry's token
	// (auth-required makes cargo send it on every request).
	ci := newCargoUser(t, n.Addr, token)
	if out, err := ci.publish(t, ci.crate(t, "acme-private", "0.1.0", "", "")); err != nil {
		t.Fatalf("cargo publish: %v\n%s", err, out)
	}
	app := ci.app(t, `acme-private = { version = "0.1.0", registry = "nora" }`)
	if lock, err := ci.install(t, app); err != nil || !locked(lock, "acme-private", "0.1.0") {
		t.Fatalf("install with a token: %v\n%s", err, lock)
	}
	anon := newCargoUser(t, n.Addr, "")
	if out, err := anon.install(t, anon.app(t, `acme-private = { version = "0.1.0", registry = "nora" }`)); err == nil {
		t.Fatalf("anonymous install succeeded:\n%s", out)
	}
}
