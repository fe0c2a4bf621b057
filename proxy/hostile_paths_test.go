package proxy

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"nora/auth"
	"nora/cache"
	"nora/proxy/cargo"
	"nora/proxy/docker"
	"nora/proxy/maven"
	"nora/proxy/npm"
	"nora/proxy/pypi"
	"nora/upstream"
)

// sentinel is the content of a file beside the data dir that no request
// may read, however its path is spelled.
const sentinel = "SENTINEL-OUTSIDE-THE-STORE"

// hiSHA256 is the digest of "hi", the body of every upload.
const hiSHA256 = "8f434346648f6b96df89dda901c5176b10a6d83961dd3c1ac88b59b2dc327aa4"

// tricks are the spellings of a path element that try to leave it or to
// smuggle a separator: dot segments plain, encoded, double-encoded and
// overlong, Windows separators, NUL, an absolute path, a very long name.
func tricks(outside string) []string {
	return []string{
		"..", "../../../../../../etc/passwd", "../outside/secret.txt", ".." + outside,
		"..%2F..%2F..%2Fetc%2Fpasswd", "..%2f..%2foutside%2fsecret.txt", "%2e%2e%2f%2e%2e%2foutside%2fsecret.txt",
		"%2E%2E/%2E%2E/etc/passwd", "%2E%2E", ".%2E", "%2e.",
		"foo%00bar", "%00", "foo%00/../../etc/passwd",
		"%C0%AE%C0%AE/%C0%AE%C0%AE/etc/passwd", "%C0%AE%C0%AE%C0%AF", "%E0%80%AE%E0%80%AE/etc/passwd", "%C0%2E%C0%2E",
		`..\..\outside\secret.txt`, `..%5C..%5Coutside%5Csecret.txt`, `%5C%5Cserver%5Cshare`, `C:%5Cwindows`,
		"%252E%252E%252Foutside%252Fsecret.txt", "..%252F..%252Fetc%252Fpasswd", "%25%32%65%25%32%65",
		"%2Fetc%2Fpasswd", "/etc/passwd", "//etc/passwd",
		strings.Repeat("a", 4096), strings.Repeat("a/", 300) + "b",
	}
}

// wireShape checks that an error body is in a format's own shape.
type wireShape func(body string) bool

func ociShape(body string) bool {
	var e struct {
		Errors []struct{ Code string } `json:"errors"`
	}
	return json.Unmarshal([]byte(body), &e) == nil && len(e.Errors) > 0 && e.Errors[0].Code != ""
}

func npmShape(body string) bool {
	var e struct {
		Error string `json:"error"`
	}
	return json.Unmarshal([]byte(body), &e) == nil && e.Error != ""
}

func cargoShape(body string) bool {
	var e struct {
		Errors []struct{ Detail string } `json:"errors"`
	}
	return json.Unmarshal([]byte(body), &e) == nil && len(e.Errors) > 0 && e.Errors[0].Detail != ""
}

// textShape is PyPI's and Maven's: plain text, not an HTML page or JSON.
func textShape(body string) bool {
	b := strings.TrimSpace(body)
	return !strings.HasPrefix(b, "{") && !strings.HasPrefix(b, "<")
}

// anyShape is for routes with no wire format of their own (the UI, the
// start page, the admin API).
func anyShape(string) bool { return true }

// pathCase is one request template: X is replaced by each trick.
type pathCase struct {
	method, path string
	body         func(x string) (contentType, body string)
	shape        wireShape
}

// npmBody is a publish of x whose tarball is "hi": a plain name passes.
func npmBody(x string) (string, string) {
	return "application/json", fmt.Sprintf(`{"name":%q,"versions":{"1.0.0":{"name":%q,"version":"1.0.0",`+
		`"dist":{"tarball":"x","shasum":"c22b5f9178342609428d6f51b2c5af4c0bde6a42"}}},`+
		`"_attachments":{%q:{"data":"aGk=","length":2}}}`, x, x, x+"-1.0.0.tgz")
}

func jarBody(string) (string, string) { return "application/java-archive", "PK" }

func hostilePathCases() []pathCase {
	manifest := func(string) (string, string) {
		return "application/vnd.oci.image.manifest.v1+json", `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{},"layers":[]}`
	}
	upload := func(x string) (string, string) {
		b := "--B\r\nContent-Disposition: form-data; name=\":action\"\r\n\r\nfile_upload\r\n" +
			"--B\r\nContent-Disposition: form-data; name=\"name\"\r\n\r\ndemo\r\n" +
			"--B\r\nContent-Disposition: form-data; name=\"version\"\r\n\r\n1.0\r\n" +
			"--B\r\nContent-Disposition: form-data; name=\"sha256_digest\"\r\n\r\n" + hiSHA256 + "\r\n" +
			"--B\r\nContent-Disposition: form-data; name=\"content\"; filename=\"" + x + "\"\r\n\r\nhi\r\n--B--\r\n"
		return "multipart/form-data; boundary=B", b
	}
	crate := func(x string) (string, string) {
		meta, _ := json.Marshal(map[string]any{"name": x, "vers": "0.1.0", "deps": []any{}, "features": map[string]any{}})
		b := make([]byte, 0, len(meta)+10)
		b = append(b, byte(len(meta)), byte(len(meta)>>8), byte(len(meta)>>16), byte(len(meta)>>24))
		b = append(b, meta...)
		b = append(b, 2, 0, 0, 0, 'h', 'i')
		return "application/octet-stream", string(b)
	}
	return []pathCase{
		{"GET", "/v2/X/manifests/latest", nil, ociShape},
		{"GET", "/v2/library/X/blobs/sha256:" + strings.Repeat("a", 64), nil, ociShape},
		{"GET", "/v2/app/manifests/X", nil, ociShape},
		{"GET", "/v2/app/blobs/X", nil, ociShape},
		{"GET", "/v2/app/tags/list?n=X", nil, ociShape},
		{"PATCH", "/v2/app/blobs/uploads/X", func(string) (string, string) { return "application/octet-stream", "hi" }, ociShape},
		{"POST", "/v2/X/blobs/uploads/", nil, ociShape},
		{"PUT", "/v2/X/manifests/v1", manifest, ociShape},
		{"PUT", "/v2/app/manifests/X", manifest, ociShape},
		{"GET", "/npm/X", nil, npmShape},
		{"GET", "/npm/left-pad/-/X", nil, npmShape},
		{"GET", "/npm/@scope%2fX", nil, npmShape},
		{"GET", "/npm/X/-/left-pad-1.0.0.tgz", nil, npmShape},
		{"PUT", "/npm/X", npmBody, npmShape},
		{"GET", "/simple/X/", nil, textShape},
		{"GET", "/simple/demo/X", nil, textShape},
		{"GET", "/simple/X/demo-1.0.tar.gz", nil, textShape},
		{"POST", "/simple/", upload, textShape},
		{"GET", "/maven2/X", nil, textShape},
		{"GET", "/maven2/com/acme/X/1.0/lib-1.0.jar", nil, textShape},
		{"PUT", "/maven2/com/acme/X/1.0/lib-1.0.jar", jarBody, textShape},
		{"PUT", "/maven2/com/X/lib/1.0/lib-1.0.jar", jarBody, textShape},
		{"PUT", "/maven2/com/acme/lib/1.0/X", jarBody, textShape},
		{"GET", "/cargo/index/X", nil, cargoShape},
		{"GET", "/cargo/api/v1/crates/X/0.1.0/download", nil, cargoShape},
		{"GET", "/cargo/api/v1/crates/foo/X/download", nil, cargoShape},
		{"PUT", "/cargo/api/v1/crates/new", crate, cargoShape},
		{"GET", "/ui/X", nil, anyShape},
		{"GET", "/api/v1/X", nil, anyShape},
		{"GET", "/X", nil, anyShape},
	}
}

// hostileApp serves every format, hosted, with upstreams nobody answers
// (127.0.0.1:1), under root/data, beside root/outside/secret.txt.
func hostileApp(t *testing.T) (base, root, authz string) {
	t.Helper()
	root = t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "outside"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "outside", "secret.txt"), []byte(sentinel), 0o644); err != nil {
		t.Fatal(err)
	}
	htpasswd := filepath.Join(root, "htpasswd")
	writeUsers(t, htpasswd, "alice", "wonderland")
	server := DefaultConfig()
	server.Listen = "127.0.0.1:0"
	const nowhere = "http://127.0.0.1:1"
	npmCfg, pypiCfg, mavenCfg, cargoCfg := npm.DefaultConfig(), pypi.DefaultConfig(), maven.DefaultConfig(), cargo.DefaultConfig()
	npmCfg.Upstream, pypiCfg.Upstream, cargoCfg.Index = nowhere+"/", nowhere+"/simple/", nowhere+"/cargo/"
	mavenCfg.Upstreams = []maven.UpstreamConfig{{URL: nowhere + "/maven2"}}
	dockerCfg := docker.DefaultConfig()
	dockerCfg.Upstreams = []docker.UpstreamConfig{{Name: "docker.io", URL: nowhere}}
	storage := cache.DefaultConfig()
	storage.Path = filepath.Join(root, "data")
	up := upstream.DefaultConfig()
	up.Retries = 0
	app := runApp(t, AppConfig{Server: server, Storage: storage, Npm: npmCfg, PyPI: pypiCfg, Maven: mavenCfg,
		Cargo: cargoCfg, Docker: dockerCfg, Upstream: &up, Auth: &auth.Config{AnonymousRead: true, Htpasswd: htpasswd}}, nil)
	return app.Addr().String(), root, "Basic " + base64.StdEncoding.EncodeToString([]byte("alice:wonderland"))
}

// rawRequest sends one request line as given, so that no client library
// cleans the path first, and returns the status and body.
func rawRequest(t *testing.T, addr, method, target, authz, contentType, body string) (int, string) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: %s\r\nAuthorization: %s\r\nConnection: close\r\n", method, target, addr, authz)
	if contentType != "" {
		fmt.Fprintf(&b, "Content-Type: %s\r\n", contentType)
	}
	fmt.Fprintf(&b, "Content-Length: %d\r\n\r\n%s", len(body), body)
	if _, err := io.WriteString(conn, b.String()); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("%s %s: %v", method, target, err)
	}
	defer resp.Body.Close()
	got, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, string(got)
}

// treeFiles lists every file below root, relative to it.
func treeFiles(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if os.IsNotExist(err) {
				return nil // a temp file gone while we walked
			}
			return err
		}
		if !d.IsDir() {
			rel, _ := filepath.Rel(root, p)
			out = append(out, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(out)
	return out
}

// TestHostilePaths sends every trick in every position of every format
// over raw TCP: the answer is an error in the format's own shape (or, where
// the server cleaned the path into another route, any non-5xx answer),
// never a 5xx; no answer holds a file from outside the store; nothing is
// stored; no file appears outside the data dir.
func TestHostilePaths(t *testing.T) {
	addr, root, authz := hostileApp(t)
	outside := filepath.Join(root, "outside", "secret.txt")
	before := treeFiles(t, root)
	for _, c := range hostilePathCases() {
		for _, x := range tricks(outside) {
			target := strings.Replace(c.path, "X", x, 1)
			ct, body := "", ""
			if c.body != nil {
				ct, body = c.body(x)
			}
			status, got := rawRequest(t, addr, c.method, target, authz, ct, body)
			checkHostile(t, c, x, target, status, got)
		}
	}
	// Dot segments that move a request from one format's prefix to
	// another's: the server routes the cleaned path; the handlers that
	// parse the path as sent (npm, Maven) refuse what does not parse, the
	// others (OCI, PyPI, cargo) parse the cleaned one.
	for _, c := range []pathCase{
		{"GET", "/v2/../npm/left-pad", nil, npmShape},
		{"PUT", "/simple/../maven2/com/acme/lib/1.0/lib-1.0.jar", jarBody, textShape},
		{"PUT", "/maven2/%2E%2E/npm/left-pad", npmBody, npmShape},
		{"PUT", "/npm/../maven2/com/acme/lib/1.0/lib-1.0.jar", jarBody, textShape},
		{"POST", "/npm/../v2/app/blobs/uploads/", nil, ociShape},
	} {
		ct, body := "", ""
		if c.body != nil {
			ct, body = c.body("left-pad")
		}
		status, got := rawRequest(t, addr, c.method, c.path, authz, ct, body)
		// Written, it is under the cleaned path, whose names are plain.
		checkHostile(t, c, cleaned(c.path), c.path, status, got)
	}
	after := treeFiles(t, root)
	outsideData := func(files []string) (out []string) {
		for _, f := range files {
			if !strings.HasPrefix(f, "data"+string(filepath.Separator)) {
				out = append(out, f)
			}
		}
		return out
	}
	if a, b := outsideData(before), outsideData(after); !slices.Equal(a, b) {
		t.Errorf("files outside the data dir: before %v, after %v", a, b)
	}
	for _, f := range after {
		if strings.Contains(f, "objects") && !slices.Contains(before, f) {
			t.Errorf("stored %s", f)
		}
	}
}

func checkHostile(t *testing.T, c pathCase, x, target string, status int, body string) {
	t.Helper()
	if strings.Contains(body, sentinel) || strings.Contains(body, "root:x:0:0") {
		t.Errorf("%s %s: %d served a file from outside the store", c.method, target, status)
	}
	if status >= 500 && status != http.StatusServiceUnavailable && status != http.StatusBadGateway {
		t.Errorf("%s %s: %d %.300s", c.method, target, status, body)
	}
	if status < 400 && c.method != "GET" && !benign(x) {
		t.Errorf("%s %s: %d: a write under a tricky name was accepted", c.method, target, status)
	}
	// The server cleans dot segments before routing (as HTTP says): a
	// path cleaned out of the format's prefix is another route's, and
	// answered in that route's way.
	prefix := "/" + strings.Split(c.path, "/")[1] + "/"
	if status >= 400 && strings.HasPrefix(cleaned(target)+"/", prefix) && !c.shape(body) {
		t.Errorf("%s %s: %d: not the format's error shape: %.300s", c.method, target, status, body)
	}
}

// cleaned is target's path as the server routes it: decoded once, dot
// segments and repeated slashes removed.
func cleaned(target string) string {
	p, _, _ := strings.Cut(target, "?")
	if d, err := url.PathUnescape(p); err == nil {
		p = d
	}
	return path.Clean(p)
}

// benign says whether a trick, decoded once, is only slashes and plain
// name characters: cleaned, it names an ordinary path.
func benign(x string) bool {
	d, err := url.PathUnescape(x)
	if err != nil || strings.Contains(d, "..") {
		return false
	}
	for i := 0; i < len(d); i++ {
		c := d[i]
		if !(c == '/' || c == '.' || c == '-' || c == '_' || isAlnum(c)) {
			return false
		}
	}
	return true
}

func isAlnum(c byte) bool { return c >= '0' && c <= '9' || c|0x20 >= 'a' && c|0x20 <= 'z' }
