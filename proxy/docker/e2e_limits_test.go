package docker_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/opencontainers/go-digest"

	"nora/proxy/docker"
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
