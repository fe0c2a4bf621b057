package docker_test

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
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
