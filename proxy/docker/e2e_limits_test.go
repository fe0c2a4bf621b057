package docker_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"nora/auth"
	"nora/hosted/oci"
	"nora/internal/units"
	"nora/proxy"
	"nora/proxy/docker"
	"nora/proxy/proxytest"
	"nora/upstream/upstreamtest"
)

// pushRaw uploads b monolithically into repo.
func pushRaw(t *testing.T, n *noraUnderTest, repo string, b []byte) digest.Digest {
	t.Helper()
	d := digest.FromBytes(b)
	resp, body := do(t, "POST", n.url("/v2/"+repo+"/blobs/uploads/?digest="+d.String()), testUser, testPass, nil, bytes.NewReader(b))
	if resp.StatusCode != 201 {
		t.Fatalf("monolithic upload: %d %s", resp.StatusCode, body)
	}
	return d
}

// A manifest whose descriptors lie about the size of what they reference
// is refused whole: a client bounds its read by the descriptor's size.
func TestManifestDescriptorSizeChecked(t *testing.T) {
	n := startNora(t, options{})
	config := []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}`)
	cd := pushRaw(t, n, "app", config)
	image := func(size int) string {
		return fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",`+
			`"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":%d},"layers":[]}`, cd, size)
	}
	ct := map[string]string{"Content-Type": "application/vnd.oci.image.manifest.v1+json"}
	refused := func(what, tag, m string, hdr map[string]string) {
		t.Helper()
		resp, body := do(t, "PUT", n.url("/v2/app/manifests/"+tag), testUser, testPass, hdr, strings.NewReader(m))
		wantError(t, what, 400, "MANIFEST_INVALID", resp.StatusCode, body)
		if !strings.Contains(string(body), "9999") && !strings.Contains(string(body), fmt.Sprint(len(config))) {
			t.Fatalf("%s: the message names no size: %s", what, body)
		}
		if n.stored(digest.FromString(m).String()) {
			t.Fatalf("%s: the refused manifest was stored", what)
		}
		resp, body = do(t, "GET", n.url("/v2/app/manifests/"+tag), "", "", nil, nil)
		wantError(t, what+": its tag", 404, "MANIFEST_UNKNOWN", resp.StatusCode, body)
	}
	refused("config size 9999", "v1", image(9999), ct)
	refused("config size one short", "v1", image(len(config)-1), ct)

	good := image(len(config))
	resp, body := do(t, "PUT", n.url("/v2/app/manifests/v1"), testUser, testPass, ct, strings.NewReader(good))
	if resp.StatusCode != 201 {
		t.Fatalf("manifest with the right size: %d %s", resp.StatusCode, body)
	}
	index := func(size int) string {
		return fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[`+
			`{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"%s","size":%d}]}`, digest.FromString(good), size)
	}
	ict := map[string]string{"Content-Type": "application/vnd.oci.image.index.v1+json"}
	refused("child manifest size 9999", "list", index(9999), ict)
	resp, body = do(t, "PUT", n.url("/v2/app/manifests/list"), testUser, testPass, ict, strings.NewReader(index(len(good))))
	if resp.StatusCode != 201 {
		t.Fatalf("index with the right size: %d %s", resp.StatusCode, body)
	}
}

// Bad paging parameters are the client's mistake (400, not the 405 of
// UNSUPPORTED); a valid n over the page size is served capped, with a Link.
func TestPagingParameters(t *testing.T) {
	up := upstreamtest.New(t, upstreamtest.Options{})
	up.PushRandomImage(t, "library/proxied", "a", 1, 1024)
	n := startNora(t, options{upstreams: []docker.UpstreamConfig{{Name: "docker.io", URL: up.URL}}})
	cd := pushRaw(t, n, "big", []byte(`{}`))
	m := fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",`+
		`"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":2},"layers":[]}`, cd)
	// 1001 tags in one push by digest with ?tag= (distribution-spec 1.1+dev).
	q := url.Values{}
	for i := range 1001 {
		q.Add("tag", fmt.Sprintf("t%04d", i))
	}
	resp, body := do(t, "PUT", n.url("/v2/big/manifests/"+digest.FromString(m).String()+"?"+q.Encode()), testUser, testPass,
		map[string]string{"Content-Type": "application/vnd.oci.image.manifest.v1+json"}, strings.NewReader(m))
	if resp.StatusCode != 201 {
		t.Fatalf("manifest with 1001 tags: %d %s", resp.StatusCode, body)
	}

	bad := func(path string, code string) {
		t.Helper()
		resp, body := do(t, "GET", n.url(path), "", "", nil, nil)
		wantError(t, path, 400, code, resp.StatusCode, body)
	}
	for _, path := range []string{"/v2/_catalog", "/v2/big/tags/list", "/v2/proxied/tags/list"} {
		for _, v := range []string{"-5", "99999999999999999999", "abc", "1.5", "+5", "0x10", "%20"} {
			bad(path+"?n="+v, "PAGINATION_NUMBER_INVALID")
		}
	}
	bad("/v2/_catalog?last=Not/A..Name", "NAME_INVALID")
	bad("/v2/big/tags/list?last=-bad", "TAG_INVALID")
	bad("/v2/big/tags/list?n=5&last="+strings.Repeat("x", 200), "TAG_INVALID")
	bad("/v2/proxied/tags/list?last=bad%2Ftag", "TAG_INVALID")

	type list struct {
		Name         string   `json:"name"`
		Tags         []string `json:"tags"`
		Repositories []string `json:"repositories"`
	}
	get := func(path string) (list, string) {
		t.Helper()
		resp, body := do(t, "GET", n.url(path), "", "", nil, nil)
		var l list
		if resp.StatusCode != 200 || json.Unmarshal(body, &l) != nil {
			t.Fatalf("GET %s: %d %s", path, resp.StatusCode, body)
		}
		return l, resp.Header.Get("Link")
	}
	// n=0: an empty list and no Link (distribution-spec, listing tags).
	if l, link := get("/v2/_catalog?n=0"); l.Repositories == nil || len(l.Repositories) != 0 || link != "" {
		t.Fatalf("catalog n=0: %+v Link %q", l, link)
	}
	if l, link := get("/v2/big/tags/list?n=0"); l.Tags == nil || len(l.Tags) != 0 || link != "" {
		t.Fatalf("hosted tags n=0: %+v Link %q", l, link)
	}
	if l, link := get("/v2/proxied/tags/list?n=0"); l.Tags == nil || len(l.Tags) != 0 || l.Name != "library/proxied" || link != "" {
		t.Fatalf("proxied tags n=0: %+v Link %q", l, link)
	}
	// A page holds at most 1000 entries; the Link leads to the rest.
	for _, path := range []string{"/v2/big/tags/list?n=5000", "/v2/big/tags/list?n=1001", "/v2/big/tags/list"} {
		l, link := get(path)
		if len(l.Tags) != 1000 || l.Tags[999] != "t0999" || link != `</v2/big/tags/list?last=t0999&n=1000>; rel="next"` {
			t.Fatalf("GET %s: %d tags, last %q, Link %q", path, len(l.Tags), l.Tags[len(l.Tags)-1], link)
		}
	}
	if l, link := get("/v2/big/tags/list?last=t0999&n=1000"); len(l.Tags) != 1 || l.Tags[0] != "t1000" || link != "" {
		t.Fatalf("second page: %+v Link %q", l, link)
	}
	if l, _ := get("/v2/_catalog?n=99999"); len(l.Repositories) != 1 || l.Repositories[0] != "big" {
		t.Fatalf("catalog n=99999: %+v", l)
	}

	// Proxied: the upstream is asked for at most a page, and a full page
	// gets a Link even when the upstream sends none.
	var asked []string
	var mu sync.Mutex
	up.SetHook(func(w http.ResponseWriter, r *http.Request) bool {
		if !strings.HasSuffix(r.URL.Path, "/many/tags/list") {
			return false
		}
		mu.Lock()
		asked = append(asked, r.URL.Query().Get("n"))
		mu.Unlock()
		count, _ := strconv.Atoi(r.URL.Query().Get("n"))
		tags := []string{}
		for i := range min(count, 1000) {
			tags = append(tags, fmt.Sprintf("t%04d", i))
		}
		json.NewEncoder(w).Encode(map[string]any{"name": "library/many", "tags": tags})
		return true
	})
	if l, link := get("/v2/many/tags/list?n=99999"); len(l.Tags) != 1000 || link != `</v2/many/tags/list?last=t0999&n=1000>; rel="next"` {
		t.Fatalf("proxied n=99999: %d tags, Link %q", len(l.Tags), link)
	}
	if l, link := get("/v2/many/tags/list?n=3"); len(l.Tags) != 3 || link != "" {
		t.Fatalf("proxied n=3: %d tags, Link %q", len(l.Tags), link)
	}
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(asked, []string{"1000", "3"}) {
		t.Fatalf("the upstream was asked for n=%v, want [1000 3]", asked)
	}
}

// startCapped runs a test nora whose [docker] max_upload_size is max and
// whose idle upload sessions expire after 2 s.
func startCapped(t *testing.T, max int64) *noraUnderTest {
	t.Helper()
	cfg := proxy.AppConfig{Server: proxy.DefaultConfig(), Docker: docker.DefaultConfig(), HostedOCI: &oci.Config{UploadIdle: 2 * time.Second}}
	cfg.Server.StallTimeout = units.Duration(10 * time.Second)
	cfg.Docker.MaxUploadSize = units.Size(max)
	a := auth.DefaultConfig()
	a.Htpasswd = proxytest.Htpasswd(t, testUser, testPass)
	cfg.Auth = &a
	return &noraUnderTest{proxytest.Start(t, cfg)}
}

// rawExchange sends a request whose head is written as given (hdr lines
// after Host and Authorization) followed by body, and reads the answer
// within 5 seconds: a server that waits for a body it was promised fails
// the test instead of hanging it. The body is written while the answer is
// read, so a server that answers early is heard.
func rawExchange(t *testing.T, addr, method, path string, hdr []string, body []byte) (int, string) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	head := fmt.Sprintf("%s %s HTTP/1.1\r\nHost: %s\r\nAuthorization: %s\r\n%s\r\n", method, path, addr, basicAuth, strings.Join(hdr, ""))
	go func() {
		c.Write([]byte(head))
		c.Write(body)
	}()
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("%s %s: no answer: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// bodyStart is how much of a body fasthttp reads before it calls the
// handler (readBodyWithStreaming): a client that declares a length sends
// at least that much at once.
const bodyStart = 8 << 10

// chunked encodes b as a chunked body, in chunks of 64 KiB.
func chunked(b []byte) []byte {
	var out bytes.Buffer
	for len(b) > 0 {
		n := min(len(b), 64<<10)
		fmt.Fprintf(&out, "%x\r\n%s\r\n", n, b[:n])
		b = b[n:]
	}
	out.WriteString("0\r\n\r\n")
	return out.Bytes()
}

// [docker] max_upload_size caps each pushed blob: the session's total, by
// declared length at once, by the bytes of a chunked body when they pass
// it. A refused blob leaves no session, no temp file, no blob.
func TestUploadSizeCap(t *testing.T) {
	const limit = 1 << 20
	n := startCapped(t, limit)
	noSession := func(what, loc string) {
		t.Helper()
		resp, body := do(t, "GET", n.url(loc), testUser, testPass, nil, nil)
		wantError(t, what+": its session", 404, "BLOB_UPLOAD_UNKNOWN", resp.StatusCode, body)
		n.WaitNoTempFiles(t, 5*time.Second)
	}
	tooLarge := func(what string, status int, body string) {
		t.Helper()
		wantError(t, what, 413, "SIZE_INVALID", status, []byte(body))
		if !strings.Contains(body, "max_upload_size") {
			t.Fatalf("%s: the message does not name the key: %s", what, body)
		}
	}
	octets := "Content-Type: application/octet-stream\r\n"
	blob := randomBytes(limit + 1)
	d := digest.FromBytes(blob)

	// A chunked upload of exactly the cap is a blob like any other.
	at := digest.FromBytes(blob[:limit])
	loc := startSession(t, n, "app")
	for _, r := range [][2]int{{0, limit / 2}, {limit / 2, limit}} {
		resp, body := do(t, "PATCH", n.url(loc), testUser, testPass,
			map[string]string{"Content-Range": fmt.Sprintf("%d-%d", r[0], r[1]-1)}, bytes.NewReader(blob[r[0]:r[1]]))
		if resp.StatusCode != 202 {
			t.Fatalf("PATCH %v: %d %s", r, resp.StatusCode, body)
		}
		loc = resp.Header.Get("Location")
	}
	if resp, body := do(t, "PUT", n.url(loc+"?digest="+at.String()), testUser, testPass, nil, nil); resp.StatusCode != 201 {
		t.Fatalf("PUT at the cap: %d %s", resp.StatusCode, body)
	}

	// A PATCH series whose total passes the cap: the chunk that would
	// pass it is refused by its Content-Length, at once. The client sends
	// only the start of its body (what the server reads before the
	// handler runs): a server that waited for the rest would time out.
	for _, cl := range []int64{limit/2 + 1, 1<<63 - 1} {
		loc = startSession(t, n, "app")
		resp, body := do(t, "PATCH", n.url(loc), testUser, testPass, map[string]string{"Content-Range": fmt.Sprintf("0-%d", limit/2-1)}, bytes.NewReader(blob[:limit/2]))
		if resp.StatusCode != 202 {
			t.Fatalf("first PATCH: %d %s", resp.StatusCode, body)
		}
		status, text := rawExchange(t, n.Addr, "PATCH", loc, []string{octets, fmt.Sprintf("Content-Length: %d\r\n", cl)}, blob[limit/2:limit/2+bodyStart])
		tooLarge(fmt.Sprintf("PATCH of %d bytes past the cap", cl), status, text)
		noSession("PATCH past the cap", loc)
	}

	// The same, chunked: the body is cut where it passes the cap.
	loc = startSession(t, n, "app")
	resp, body := do(t, "PATCH", n.url(loc), testUser, testPass, map[string]string{"Content-Range": fmt.Sprintf("0-%d", limit/2-1)}, bytes.NewReader(blob[:limit/2]))
	if resp.StatusCode != 202 {
		t.Fatalf("first PATCH: %d %s", resp.StatusCode, body)
	}
	status, text := rawExchange(t, n.Addr, "PATCH", loc, []string{octets, "Transfer-Encoding: chunked\r\n"}, chunked(blob[limit/2:]))
	tooLarge("chunked PATCH past the cap", status, text)
	noSession("chunked PATCH past the cap", loc)

	// A final PUT that carries the last, chunked bytes.
	loc = startSession(t, n, "app")
	status, text = rawExchange(t, n.Addr, "PUT", loc+"?digest="+d.String(), []string{octets, "Transfer-Encoding: chunked\r\n"}, chunked(blob))
	tooLarge("chunked PUT past the cap", status, text)
	noSession("chunked PUT past the cap", loc)

	// Monolithic: a declared length over the cap is answered at once.
	for _, cl := range []string{"9223372036854775807", fmt.Sprint(limit + 1)} {
		status, text = rawExchange(t, n.Addr, "POST", "/v2/app/blobs/uploads/?digest="+d.String(), []string{octets, "Content-Length: " + cl + "\r\n"}, blob[:bodyStart])
		tooLarge("monolithic POST of "+cl+" bytes", status, text)
	}
	status, text = rawExchange(t, n.Addr, "POST", "/v2/app/blobs/uploads/?digest="+d.String(), []string{octets, "Transfer-Encoding: chunked\r\n"}, chunked(blob))
	tooLarge("chunked monolithic POST", status, text)
	n.WaitNoTempFiles(t, 5*time.Second)
	if n.stored(d.String()) {
		t.Fatal("a blob over the cap was stored")
	}

	// crane: an image under the cap goes through; one with a layer over
	// it fails and leaves neither the layer nor the tag.
	c := newCLI(t, n.Addr, testUser, testPass)
	small := randomImage(t, 256<<10, 2)
	c.mustCrane("push", imageTarball(t, small), n.Addr+"/team/app:small")
	if got := c.mustCrane("digest", n.Addr+"/team/app:small"); got != digestOf(t, small) {
		t.Fatalf("digest of the small image: %s", got)
	}
	big := randomImage(t, limit+(1<<20), 1)
	if out, err := c.crane("push", imageTarball(t, big), n.Addr+"/team/app:big"); err == nil {
		t.Fatalf("crane pushed a layer over the cap: %s", out)
	} else if !strings.Contains(out, "SIZE_INVALID") {
		t.Fatalf("crane did not hear the 413: %s", out)
	}
	layers, err := big.Layers()
	if err != nil {
		t.Fatal(err)
	}
	ld, err := layers[0].Digest()
	if err != nil {
		t.Fatal(err)
	}
	if n.stored(ld.String()) {
		t.Fatal("the layer over the cap was stored")
	}
	// crane quits on the 413, perhaps with the config's session just
	// opened: the janitor removes such an abandoned session once idle.
	n.WaitNoTempFiles(t, 10*time.Second)
	resp, body = do(t, "GET", n.url("/v2/team/app/manifests/big"), "", "", nil, nil)
	wantError(t, "tag of the refused image", 404, "MANIFEST_UNKNOWN", resp.StatusCode, body)
}
