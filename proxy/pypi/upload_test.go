package pypi_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"

	"nora/proxy/pypi"
	"nora/proxy/pypi/pypitest"
)

// The upload tests drive nora's legacy upload API with multipart forms
// built in Go, as twine builds them, and generated wheels (no Python).

func TestUploadAndServe(t *testing.T) {
	up := demoUpstream(t, pypitest.Options{})
	n := startNoraAuth(t, pypiConfig(up), authConfig(t, true, true))
	whlName, whl := makeWheel(t, "Acme_Lib", "1.0.0", ">=3.8", "")
	if resp, body := n.upload(t, twineForm("Acme_Lib", "1.0.0", "bdist_wheel", whlName, whl, ">=3.8")); resp.StatusCode != 200 {
		t.Fatalf("upload: %d %s", resp.StatusCode, body)
	}
	sdist := randomBytes(4<<10, 7)
	// PyPI's upload URL ends in /legacy/: configurations copied from it work.
	sdBody, sdType := twineForm("acme-lib", "1.0", "sdist", "acme-lib-1.0.0.tar.gz", sdist, "").set("pyversion", "source").encode(t)
	if resp, body := post(t, n.URL+"/simple/legacy/", testUser, testPass, sdType, sdBody); resp.StatusCode != 200 {
		t.Fatalf("upload sdist: %d %s", resp.StatusCode, body)
	}

	resp, body := httpGet(t, n.URL+"/simple/acme-lib/", "Accept", acceptPip)
	var js struct {
		simpleJSON
		Versions []string `json:"versions"`
	}
	if resp.StatusCode != 200 || json.Unmarshal(body, &js) != nil {
		t.Fatalf("hosted JSON page: %d %s", resp.StatusCode, body)
	}
	if js.Meta["api-version"] != "1.1" || js.Name != "acme-lib" || len(js.Files) != 2 || len(js.Versions) != 2 {
		t.Fatalf("hosted JSON page: %s", body)
	}
	w := js.Files[0]
	md, _ := w.CoreMetadata.(map[string]any)
	if w.Filename != whlName || w.URL != n.URL+"/simple/acme-lib/"+whlName || w.Hashes["sha256"] != hexSHA256(whl) ||
		w.RequiresPython == nil || *w.RequiresPython != ">=3.8" || md["sha256"] == nil || w.Yanked != nil {
		t.Fatalf("hosted wheel entry: %s", body)
	}
	if !bytes.Contains(body, []byte(`"size":`+fmt.Sprint(len(whl)))) || !bytes.Contains(body, []byte(`"upload-time":"`)) {
		t.Fatalf("no PEP 700 size or upload-time: %s", body)
	}
	resp, body = httpGet(t, n.URL+"/simple/acme-lib/")
	for _, want := range []string{
		`href="` + n.URL + `/simple/acme-lib/` + whlName + `#sha256=` + hexSHA256(whl) + `"`,
		`data-requires-python="&gt;=3.8"`, `data-core-metadata="sha256=`,
		`href="` + n.URL + `/simple/acme-lib/acme-lib-1.0.0.tar.gz#sha256=` + hexSHA256(sdist) + `"`,
	} {
		if resp.StatusCode != 200 || !bytes.Contains(body, []byte(want)) {
			t.Fatalf("hosted HTML page lacks %s:\n%s", want, body)
		}
	}
	etag := resp.Header.Get("ETag")
	if resp, _ := httpGet(t, n.URL+"/simple/acme-lib/", "If-None-Match", etag); resp.StatusCode != 304 {
		t.Fatalf("If-None-Match on a hosted page: %d", resp.StatusCode)
	}
	for path, want := range map[string][]byte{whlName: whl, "acme-lib-1.0.0.tar.gz": sdist} {
		if resp, body := httpGet(t, n.URL+"/simple/acme-lib/"+path); resp.StatusCode != 200 || !bytes.Equal(body, want) {
			t.Fatalf("GET %s: %d, %d bytes", path, resp.StatusCode, len(body))
		}
	}
	resp, body = httpGet(t, n.URL+"/simple/acme-lib/"+whlName+".metadata")
	if resp.StatusCode != 200 || !bytes.HasPrefix(body, []byte("Metadata-Version: 2.1\nName: Acme_Lib\n")) {
		t.Fatalf("PEP 658 metadata: %d %s", resp.StatusCode, body)
	}
	for _, path := range []string{"acme-lib-1.0.0.tar.gz.metadata", "acme_lib-2.0-py3-none-any.whl"} {
		if resp, _ := httpGet(t, n.URL+"/simple/acme-lib/"+path); resp.StatusCode != 404 {
			t.Fatalf("GET %s: %d, want 404", path, resp.StatusCode)
		}
	}
	resp, body = httpGet(t, n.URL+"/simple/", "Accept", acceptPip)
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"projects":[{"name":"acme-lib"}]`) {
		t.Fatalf("root: %d %s", resp.StatusCode, body)
	}
	if resp, body := httpGet(t, n.URL+"/simple/"); !strings.Contains(string(body), `<a href="`+n.URL+`/simple/acme-lib/">acme-lib</a>`) {
		t.Fatalf("root HTML: %d %s", resp.StatusCode, body)
	}

	// The same bytes again: 200, as PyPI answers. Other bytes under a
	// taken file name: 400 "File already exists", which twine
	// --skip-existing understands.
	if resp, body := n.upload(t, twineForm("acme-lib", "1.0.0", "bdist_wheel", whlName, whl, ">=3.8")); resp.StatusCode != 200 {
		t.Fatalf("identical re-upload: %d %s", resp.StatusCode, body)
	}
	_, other := makeWheel(t, "Acme_Lib", "1.0.0", ">=3.8", "CHANGED = True\n")
	resp, text := n.upload(t, twineForm("acme-lib", "1.0.0", "bdist_wheel", whlName, other, ">=3.8"))
	if resp.StatusCode != 400 || !strings.Contains(resp.Status, "File already exists") || !strings.Contains(text, "File already exists") {
		t.Fatalf("other bytes under a taken name: %s %s", resp.Status, text)
	}
	if n.blobStored(other) {
		t.Fatal("the refused bytes were stored")
	}
	if resp, _ := httpGet(t, n.URL+"/simple/acme-lib/"+whlName); resp.StatusCode != 200 {
		t.Fatal("the first wheel is gone")
	}
}

func TestUploadRefused(t *testing.T) {
	up := demoUpstream(t, pypitest.Options{})
	cfg := pypiConfig(up)
	cfg.MaxUploadSize = 256 << 10
	n := startNoraAuth(t, cfg, authConfig(t, true, true))
	whlName, whl := makeWheel(t, "acme-lib", "1.0", "", "")
	good := func() *form { return twineForm("acme-lib", "1.0", "bdist_wheel", whlName, whl, "") }
	f := func(what string, fm *form, user, pass string, wantStatus int, wantText string) {
		t.Helper()
		body, ct := fm.encode(t)
		resp, text := post(t, n.URL+"/simple/", user, pass, ct, body)
		if resp.StatusCode != wantStatus || !strings.Contains(text, wantText) || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
			t.Fatalf("%s: %s %q, want %d %q", what, resp.Status, text, wantStatus, wantText)
		}
		if wantStatus == 401 && resp.Header.Get("WWW-Authenticate") != `Basic realm="nora"` {
			t.Fatalf("%s: 401 without a Basic challenge", what)
		}
		if n.blobStored(fm.data) || n.Stored("hosted/pypi/acme-lib/project.json") {
			t.Fatalf("%s: something was stored", what)
		}
	}
	f("no credentials", good(), "", "", 401, "authentication required")
	f("wrong password", good(), testUser, "wrong", 401, "invalid user name or password")
	f("unknown user", good(), "nobody", testPass, 401, "invalid user name or password")
	f("wrong sha256", good().set("sha256_digest", hexSHA256([]byte("other"))), testUser, testPass, 400, "digest mismatch")
	f("wrong md5", good().set("md5_digest", strings.Repeat("0", 32)), testUser, testPass, 400, "digest mismatch")
	f("no digest", good().set("sha256_digest", ""), testUser, testPass, 400, "neither sha256_digest")
	f("another project's file", good().set("name", "acme-other"), testUser, testPass, 400, "is not a wheel of acme-other")
	f("another version", good().set("version", "1.1"), testUser, testPass, 400, "is not a wheel of acme-lib 1.1")
	f("bad version", good().set("version", "one"), testUser, testPass, 400, "not a PEP 440 version")
	f("bad name", good().set("name", "-x"), testUser, testPass, 400, "not a valid project name")
	f("filetype", good().set("filetype", "sdist"), testUser, testPass, 400, "filetype")
	f("an egg", twineForm("acme-lib", "1.0", "bdist_egg", "acme_lib-1.0-py3.11.egg", []byte("egg"), ""), testUser, testPass, 400, "neither a wheel")
	f("not a zip", twineForm("acme-lib", "1.0", "bdist_wheel", whlName, []byte("not a zip"), ""), testUser, testPass, 400, "not a zip")
	f("register", good().set(":action", "submit"), testUser, testPass, 410, "not needed")
	f("doc upload", good().set(":action", "doc_upload"), testUser, testPass, 400, "unsupported :action")
	f("no file", &form{fields: good().fields}, testUser, testPass, 400, "no content part")
	f("too large", twineForm("acme-lib", "1.0", "bdist_wheel", whlName, randomBytes(300<<10, 9), ""), testUser, testPass, 413, "max_upload_size")
	dup := good()
	dup.fields = append(dup.fields, [2]string{"version", "2.0"})
	f("field twice", dup, testUser, testPass, 400, "given twice")
	path := good()
	path.filename = "../" + whlName
	f("path in file name", path, testUser, testPass, 400, "invalid file name")

	resp, text := post(t, n.URL+"/simple/", testUser, testPass, "application/json", []byte("{}"))
	if resp.StatusCode != 400 || !strings.Contains(text, "multipart/form-data") {
		t.Fatalf("not a form: %d %s", resp.StatusCode, text)
	}
	resp, text = post(t, n.URL+"/simple/", testUser, testPass, "multipart/form-data; boundary=x", []byte("garbage"))
	if resp.StatusCode != 400 || !strings.Contains(text, "cannot read the upload") {
		t.Fatalf("garbage form: %d %s", resp.StatusCode, text)
	}
	// A body that stops half way: the client is gone, nothing is kept.
	body, ct := good().encode(t)
	conn, err := net.Dial("tcp", strings.TrimPrefix(n.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(conn, "POST /simple/ HTTP/1.1\r\nHost: nora\r\nContent-Type: %s\r\nContent-Length: %d\r\nAuthorization: Basic Y2k6czNjcmV0LXVwbG9hZA==\r\n\r\n", ct, len(body))
	conn.Write(body[:len(body)-len(whl)/2])
	conn.(*net.TCPConn).CloseWrite()
	if resp, err := http.ReadResponse(bufio.NewReader(conn), nil); err == nil && resp.StatusCode == 200 {
		t.Fatal("a truncated upload was accepted")
	}
	conn.Close()
	if n.Stored("hosted/pypi/acme-lib/project.json") || n.blobStored(whl) {
		t.Fatal("a truncated upload was stored")
	}
	if got := n.uploadTemps(t); got != 0 {
		t.Fatalf("%d upload temp files left behind", got)
	}
	if resp, _ := httpGet(t, n.URL+"/simple/acme-lib/"); resp.StatusCode != 404 {
		t.Fatalf("refused uploads made acme-lib hosted: %d", resp.StatusCode)
	}

	// The good upload still goes through afterwards.
	if resp, text := n.upload(t, good()); resp.StatusCode != 200 {
		t.Fatalf("upload: %d %s", resp.StatusCode, text)
	}
}

func TestUploadWithoutUsers(t *testing.T) {
	n := startNoraAuth(t, pypi.DefaultConfig(), authConfig(t, false, true))
	whlName, whl := makeWheel(t, "acme-lib", "1.0", "", "")
	for _, user := range []string{"", testUser} {
		resp, text := n.upload(t, twineForm("acme-lib", "1.0", "bdist_wheel", whlName, whl, ""))
		if user == "" {
			body, ct := twineForm("acme-lib", "1.0", "bdist_wheel", whlName, whl, "").encode(t)
			resp, text = post(t, n.URL+"/simple/", "", "", ct, body)
		}
		if resp.StatusCode != 403 || !strings.Contains(text, "set [auth] htpasswd") || !strings.Contains(resp.Status, "htpasswd") {
			t.Fatalf("upload without htpasswd (user %q): %s %s", user, resp.Status, text)
		}
	}
	if n.blobStored(whl) {
		t.Fatal("stored without htpasswd")
	}
}

// TestPrivateReads: with anonymous_read off, hosted and proxied pages alike
// need a login.
func TestPrivateReads(t *testing.T) {
	up := demoUpstream(t, pypitest.Options{})
	n := startNoraAuth(t, pypiConfig(up), authConfig(t, true, false))
	whlName, whl := makeWheel(t, "acme-lib", "1.0", "", "")
	if resp, text := n.upload(t, twineForm("acme-lib", "1.0", "bdist_wheel", whlName, whl, "")); resp.StatusCode != 200 {
		t.Fatalf("upload: %d %s", resp.StatusCode, text)
	}
	for _, path := range []string{"/simple/", "/simple/acme-lib/", "/simple/acme-lib/" + whlName, "/simple/demo-pkg/"} {
		resp, _ := httpGet(t, n.URL+path)
		if resp.StatusCode != 401 || resp.Header.Get("WWW-Authenticate") != `Basic realm="nora"` {
			t.Fatalf("anonymous GET %s: %d", path, resp.StatusCode)
		}
		req, _ := http.NewRequest(http.MethodGet, n.URL+path, nil)
		req.SetBasicAuth(testUser, testPass)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("GET %s as %s: %d", path, testUser, resp.StatusCode)
		}
	}
}

// TestHostedShadowsUpstream: once a name is hosted, the upstream is never
// asked about it again, and its public files, even cached ones, are gone
// from nora.
func TestHostedShadowsUpstream(t *testing.T) {
	up := demoUpstream(t, pypitest.Options{})
	cfg := pypiConfig(up)
	cfg.TTL = 0 // a proxied page would be revalidated on every request
	n := startNoraAuth(t, cfg, authConfig(t, true, true))
	if status, clean := cleanGet(n.URL + "/simple/demo-pkg/" + demoWheel); !clean {
		t.Fatalf("proxied wheel: %d", status)
	}
	pages := up.PageGets("demo-pkg")
	whlName, whl := makeWheel(t, "demo.pkg", "0.1", "", "")
	if resp, text := n.upload(t, twineForm("demo.pkg", "0.1", "bdist_wheel", whlName, whl, "")); resp.StatusCode != 200 {
		t.Fatalf("upload: %d %s", resp.StatusCode, text)
	}
	for range 3 {
		resp, body := httpGet(t, n.URL+"/simple/demo-pkg/", "Accept", acceptPip)
		if resp.StatusCode != 200 || bytes.Contains(body, []byte(demoWheel)) || !bytes.Contains(body, []byte(whlName)) {
			t.Fatalf("page of a hosted name: %d %s", resp.StatusCode, body)
		}
		if resp, _ := httpGet(t, n.URL+"/simple/demo-pkg/"+demoWheel); resp.StatusCode != 404 {
			t.Fatalf("a cached public file of a hosted name: %d", resp.StatusCode)
		}
		if resp, _ := httpGet(t, n.URL+"/simple/demo-pkg/"+demoSdist); resp.StatusCode != 404 {
			t.Fatalf("a public file of a hosted name: %d", resp.StatusCode)
		}
	}
	if got := up.PageGets("demo-pkg"); got != pages {
		t.Fatalf("the upstream was asked about a hosted name %d times", got-pages)
	}
	if got := up.Gets(demoSdist); got != 0 {
		t.Fatalf("the upstream was asked for a file of a hosted name %d times", got)
	}
}

// TestConcurrentUploads: uploads of one project at once lose no version.
func TestConcurrentUploads(t *testing.T) {
	n := startNoraAuth(t, pypi.DefaultConfig(), authConfig(t, true, true))
	var wg sync.WaitGroup
	errs := make(chan string, 16)
	for i := range 12 {
		wg.Go(func() {
			v := fmt.Sprintf("1.%d", i)
			name, whl := makeWheel(t, "acme-lib", v, "", "")
			body, ct := twineForm("acme-lib", v, "bdist_wheel", name, whl, "").encode(t)
			req, _ := http.NewRequest(http.MethodPost, n.URL+"/simple/", bytes.NewReader(body))
			req.Header.Set("Content-Type", ct)
			req.SetBasicAuth(testUser, testPass)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				errs <- err.Error()
				return
			}
			resp.Body.Close()
			if resp.StatusCode != 200 {
				errs <- resp.Status
			}
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Fatal(e)
	}
	_, body := httpGet(t, n.URL+"/simple/acme-lib/", "Accept", acceptPip)
	var js simpleJSON
	if err := json.Unmarshal(body, &js); err != nil || len(js.Files) != 12 {
		t.Fatalf("after 12 concurrent uploads: %d files (%v)", len(js.Files), err)
	}
}

// TestYankAPI drives POST /api/pypi/<project>/<version>/yank and unyank.
func TestYankAPI(t *testing.T) {
	n := startNoraAuth(t, pypi.DefaultConfig(), authConfig(t, true, true))
	for _, v := range []string{"1.0", "1.1"} {
		name, whl := makeWheel(t, "acme-lib", v, "", "")
		if resp, text := n.upload(t, twineForm("acme-lib", v, "bdist_wheel", name, whl, "")); resp.StatusCode != 200 {
			t.Fatalf("upload %s: %d %s", v, resp.StatusCode, text)
		}
	}
	f := func(path, user, body string, wantStatus int, wantText string) {
		t.Helper()
		resp, text := post(t, n.URL+path, user, testPass, "application/json", []byte(body))
		if resp.StatusCode != wantStatus || !strings.Contains(text, wantText) {
			t.Fatalf("POST %s %s: %d %s, want %d %q", path, body, resp.StatusCode, text, wantStatus, wantText)
		}
	}
	yanked := func() map[string]any {
		t.Helper()
		_, body := httpGet(t, n.URL+"/simple/acme-lib/", "Accept", acceptPip)
		var js simpleJSON
		json.Unmarshal(body, &js)
		out := map[string]any{}
		for _, f := range js.Files {
			if f.Yanked != nil {
				out[f.Filename] = f.Yanked
			}
		}
		return out
	}
	f("/api/pypi/acme-lib/1.1/yank", "", "", 401, "authentication required")
	f("/api/pypi/Acme_Lib/1.1.0/yank", testUser, `{"reason": "broken build"}`, 200,
		`{"project":"acme-lib","version":"1.1.0","yanked":true,"reason":"broken build","files":["acme_lib-1.1-py3-none-any.whl"]}`)
	if y := yanked(); len(y) != 1 || y["acme_lib-1.1-py3-none-any.whl"] != "broken build" {
		t.Fatalf("after yank: %v", y)
	}
	if _, body := httpGet(t, n.URL+"/simple/acme-lib/"); !bytes.Contains(body, []byte(`data-yanked="broken build"`)) {
		t.Fatalf("HTML after yank:\n%s", body)
	}
	f("/api/pypi/acme-lib/1.0/yank", testUser, `{"filename": "acme_lib-1.0-py3-none-any.whl"}`, 200, `"yanked":true`)
	if y := yanked(); len(y) != 2 || y["acme_lib-1.0-py3-none-any.whl"] != true {
		t.Fatalf("after a yank without reason: %v", y)
	}
	f("/api/pypi/acme-lib/1.0/unyank", testUser, "", 200, `"yanked":false`)
	f("/api/pypi/acme-lib/1.1/unyank", testUser, "", 200, `"yanked":false`)
	if y := yanked(); len(y) != 0 {
		t.Fatalf("after unyank: %v", y)
	}
	f("/api/pypi/acme-lib/9.9/yank", testUser, "", 404, "no such file or version")
	f("/api/pypi/acme-lib/1.0/yank", testUser, `{"filename": "acme_lib-1.1-py3-none-any.whl"}`, 404, "no such file")
	f("/api/pypi/acme-lib/x y/yank", testUser, "", 400, "not a PEP 440 version")
	f("/api/pypi/demo-pkg/1.0/yank", testUser, "", 404, "not hosted")
	f("/api/pypi/acme-lib/1.0/yank", testUser, `{"why": 1}`, 400, "must be JSON")
	f("/api/pypi/acme-lib/1.0/remove", testUser, "", 404, "not found")
	f("/api/pypi/acme-lib/yank", testUser, "", 404, "not found")
	if resp, _ := httpGet(t, n.URL+"/api/pypi/acme-lib/1.0/yank"); resp.StatusCode != 405 {
		t.Fatalf("GET of a yank: %d", resp.StatusCode)
	}
}

// chunked hides a body's length, so the client sends it chunked.
type chunked struct{ io.Reader }

// TestUploadLarge: a file larger than what the server reads ahead streams
// to disk, with or without Content-Length; past max_upload_size it is
// refused either way.
func TestUploadLarge(t *testing.T) {
	cfg := pypi.DefaultConfig()
	cfg.MaxUploadSize = 10 << 20
	n := startNoraAuth(t, cfg, authConfig(t, true, true))
	send := func(fm *form, withLength bool) (*http.Response, string) {
		t.Helper()
		body, ct := fm.encode(t)
		var r io.Reader = bytes.NewReader(body)
		if !withLength {
			r = chunked{r}
		}
		req, _ := http.NewRequest(http.MethodPost, n.URL+"/simple/", r)
		req.Header.Set("Content-Type", ct)
		req.SetBasicAuth(testUser, testPass)
		resp, err := http.DefaultTransport.RoundTrip(req)
		if err != nil {
			return &http.Response{StatusCode: 0, Status: err.Error()}, ""
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	for i, withLength := range []bool{true, false} {
		v := fmt.Sprintf("1.%d", i)
		name, whl := makeWheel(t, "acme-big", v, "", "DATA = '"+strings.Repeat("x", 6<<20)+"'\n")
		if len(whl) < 5<<20 || len(whl) > 9<<20 {
			t.Fatalf("the large wheel has %d bytes", len(whl))
		}
		if resp, text := send(twineForm("acme-big", v, "bdist_wheel", name, whl, ""), withLength); resp.StatusCode != 200 {
			t.Fatalf("%d-byte upload (Content-Length %v): %s %s", len(whl), withLength, resp.Status, text)
		}
		if resp, body := httpGet(t, n.URL+"/simple/acme-big/"+name); resp.StatusCode != 200 || !bytes.Equal(body, whl) {
			t.Fatalf("download of the large wheel: %d, %d bytes", resp.StatusCode, len(body))
		}
	}
	name, whl := makeWheel(t, "acme-big", "2.0", "", "DATA = '"+strings.Repeat("y", 11<<20)+"'\n")
	if len(whl) < 11<<20 {
		t.Fatalf("the too large wheel has %d bytes", len(whl))
	}
	resp, text := send(twineForm("acme-big", "2.0", "bdist_wheel", name, whl, ""), false)
	// nora reads the rest of the body before it answers 413, so the client
	// gets the answer rather than a reset.
	if resp.StatusCode != 413 || !strings.Contains(text, "max_upload_size") {
		t.Fatalf("chunked upload past max_upload_size: %s %s", resp.Status, text)
	}
	if n.blobStored(whl) || n.uploadTemps(t) != 0 {
		t.Fatal("an upload past max_upload_size left something behind")
	}
}
