package proxy_test

import (
	"bufio"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"nora/auth"
	"nora/internal/units"
	"nora/proxy"
	"nora/proxy/cargo"
	"nora/proxy/docker"
	"nora/proxy/maven"
	"nora/proxy/npm"
	"nora/proxy/proxytest"
	"nora/proxy/pypi"
)

const (
	hostileUser, hostilePass = "ci", "hostile-s3cret"
	hostileCap               = 1 << 20 // every configurable upload cap in these tests
)

// startHostileBodies runs a nora hosting every format, with each upload
// cap at hostileCap and a user who may push anything and use the admin API.
func startHostileBodies(t *testing.T) *proxytest.Nora {
	t.Helper()
	cfg := proxy.AppConfig{Server: proxy.DefaultConfig(), Docker: docker.DefaultConfig(),
		Npm: npm.DefaultConfig(), PyPI: pypi.DefaultConfig(), Maven: maven.DefaultConfig(), Cargo: cargo.DefaultConfig()}
	cfg.Server.StallTimeout = units.Duration(10 * time.Second)
	cfg.Docker.MaxUploadSize = hostileCap
	cfg.Npm.MaxPublishSize = hostileCap
	cfg.Npm.HostedNames = []string{"@acme/*"}
	cfg.PyPI.MaxUploadSize = hostileCap
	cfg.Maven.MaxUploadSize = hostileCap
	cfg.Cargo.MaxUploadSize = hostileCap
	cfg.Auth = &auth.Config{AnonymousRead: true, Htpasswd: proxytest.Htpasswd(t, hostileUser, hostilePass),
		Rules: []auth.Rule{{Subject: hostileUser, Permissions: []string{"admin:**", "push:**"}}}}
	return proxytest.Start(t, cfg)
}

// hostileExchange sends a request with the head as given and body, and
// reads the answer while the body is still being written: a server that
// waits for all of a body it refuses fails the test (the deadline) rather
// than hanging it.
func hostileExchange(t *testing.T, addr, method, target string, hdr []string, body io.Reader) (int, http.Header, string) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	head := fmt.Sprintf("%s %s HTTP/1.1\r\nHost: %s\r\nAuthorization: Basic %s\r\n%s\r\n", method, target, addr,
		basicOf(hostileUser, hostilePass), strings.Join(hdr, ""))
	go func() {
		c.Write([]byte(head))
		io.Copy(c, body) // fails once nora closes: the point
	}()
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("%s %s: no answer: %v", method, target, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	return resp.StatusCode, resp.Header, string(b)
}

func basicOf(user, pass string) string {
	return base64.StdEncoding.EncodeToString([]byte(user + ":" + pass))
}

// chunked encodes r as a chunked body, as it is read.
type chunked struct {
	r    io.Reader
	buf  []byte // encoded, not yet read
	done bool
}

func (c *chunked) Read(p []byte) (int, error) {
	for len(c.buf) == 0 {
		if c.done {
			return 0, io.EOF
		}
		data := make([]byte, 32<<10)
		n, err := io.ReadFull(c.r, data)
		if n > 0 {
			c.buf = fmt.Appendf(nil, "%x\r\n%s\r\n", n, data[:n])
		}
		if err != nil {
			c.buf, c.done = append(c.buf, "0\r\n\r\n"...), true
		}
	}
	n := copy(p, c.buf)
	c.buf = c.buf[n:]
	return n, nil
}

// filler reads one byte for ever.
type filler byte

func (f filler) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(f)
	}
	return len(p), nil
}

// storedFiles lists the files under nora's storage path but its temp dir
// and the web UI's counters, which are saved as time passes.
func storedFiles(t *testing.T, n *proxytest.Nora) map[string]bool {
	t.Helper()
	files := map[string]bool{}
	filepath.WalkDir(n.DataDir, func(p string, d fs.DirEntry, err error) error {
		rel, _ := filepath.Rel(n.DataDir, p)
		if err == nil && !d.IsDir() && !strings.HasPrefix(rel, "tmp"+string(filepath.Separator)) && rel != "ui-stats.json" {
			files[rel] = true
		}
		return nil
	})
	return files
}

// hostileBody is one upload route and what its refusal looks like.
type hostileBody struct {
	name, method, target string
	hdr                  []string
	// The body is prefix, then fill: what the parser accepts until the
	// cap (a JSON string, a form part's content).
	prefix string
	fill   byte
	limit  int64 // the cap: limit+1 bytes are too many
	status int
	shape  string // in the answer's body: the format's error form
	// session, if set, opens what target needs (an upload session) and
	// returns the target to use.
	session func(t *testing.T, n *proxytest.Nora) string
}

// A body over a cap is refused in every format, with the format's error:
// by its declared length before it is read, or cut as it passes the cap
// when chunked. Nothing is stored, no temp file stays, and nora goes on
// serving.
func TestHostileBodies(t *testing.T) {
	n := startHostileBodies(t)
	before := storedFiles(t, n)
	octets := "Content-Type: application/octet-stream\r\n"
	digest := "sha256:" + strings.Repeat("ab", 32)
	uploadSession := func(t *testing.T, n *proxytest.Nora) string {
		status, hdr, body := hostileExchange(t, n.Addr, "POST", "/v2/acme/app/blobs/uploads/", []string{"Content-Length: 0\r\n"}, strings.NewReader(""))
		if status != 202 {
			t.Fatalf("open an upload session: %d %s", status, body)
		}
		return hdr.Get("Location")
	}
	multipart := "Content-Type: multipart/form-data; boundary=xyz\r\n"
	formFile := "--xyz\r\nContent-Disposition: form-data; name=\":action\"\r\n\r\nfile_upload\r\n" +
		"--xyz\r\nContent-Disposition: form-data; name=\"name\"\r\n\r\nbig\r\n" +
		"--xyz\r\nContent-Disposition: form-data; name=\"version\"\r\n\r\n1.0\r\n" +
		"--xyz\r\nContent-Disposition: form-data; name=\"content\"; filename=\"big-1.0.tar.gz\"\r\n" +
		"Content-Type: application/octet-stream\r\n\r\n"
	// cargo publish: the metadata's length and JSON, then the .crate's
	// length (over the cap) and its bytes.
	meta := `{"name":"big","vers":"1.0.0","deps":[],"features":{}}`
	crate := binary.LittleEndian.AppendUint32(nil, uint32(len(meta)))
	crate = binary.LittleEndian.AppendUint32(append(crate, meta...), hostileCap+1)
	cases := []hostileBody{
		{name: "oci monolithic POST", method: "POST", target: "/v2/acme/app/blobs/uploads/?digest=" + digest, hdr: []string{octets},
			limit: hostileCap, status: 413, shape: `"SIZE_INVALID"`},
		{name: "oci PATCH", method: "PATCH", hdr: []string{octets}, limit: hostileCap, status: 413, shape: `"SIZE_INVALID"`, session: uploadSession},
		{name: "oci PUT with body", method: "PUT", hdr: []string{octets}, limit: hostileCap, status: 413, shape: `"SIZE_INVALID"`,
			session: func(t *testing.T, n *proxytest.Nora) string {
				loc := uploadSession(t, n)
				if strings.Contains(loc, "?") {
					return loc + "&digest=" + digest
				}
				return loc + "?digest=" + digest
			}},
		{name: "oci manifest PUT", method: "PUT", target: "/v2/acme/app/manifests/v1",
			hdr: []string{"Content-Type: application/vnd.oci.image.manifest.v1+json\r\n"}, prefix: `{"x":"`, fill: 'a',
			limit: 4 << 20, status: 413, shape: `"errors"`},
		{name: "npm publish", method: "PUT", target: "/npm/@acme%2fbig", hdr: []string{"Content-Type: application/json\r\n"},
			prefix: `{"name":"@acme/big","_attachments":{"big-1.0.0.tgz":{"data":"`, fill: 'A', limit: hostileCap, status: 413, shape: `"error"`},
		{name: "pypi upload", method: "POST", target: "/simple/", hdr: []string{multipart}, prefix: formFile,
			limit: hostileCap, status: 413, shape: "max_upload_size"},
		{name: "maven deploy", method: "PUT", target: "/maven2/com/acme/big/1.0/big-1.0.jar", hdr: []string{octets},
			limit: hostileCap, status: 413, shape: "max_upload_size"},
		{name: "maven metadata", method: "PUT", target: "/maven2/com/acme/big/maven-metadata.xml", hdr: []string{"Content-Type: application/xml\r\n"},
			prefix: "<metadata>", fill: ' ', limit: 1 << 20, status: 413, shape: "larger than"},
		{name: "maven checksum", method: "PUT", target: "/maven2/com/acme/big/1.0/big-1.0.jar.sha1", hdr: []string{octets},
			fill: 'a', limit: 4 << 10, status: 413, shape: "larger than"},
		{name: "cargo publish", method: "PUT", target: "/cargo/api/v1/crates/new", hdr: []string{octets},
			prefix: string(crate), limit: hostileCap, status: 413, shape: `"errors"`},
		// The token endpoint takes no form: a body is never read.
		{name: "token endpoint form", method: "POST", target: "/auth/token", hdr: []string{"Content-Type: application/x-www-form-urlencoded\r\n"},
			prefix: "grant_type=password&password=", fill: 'a', limit: 0, status: 405, shape: `"UNSUPPORTED"`},
		{name: "admin API JSON", method: "POST", target: "/api/v1/tokens", hdr: []string{"Content-Type: application/json\r\n"},
			prefix: `{"name":"`, fill: 'a', limit: 1 << 20, status: 413, shape: `"error"`},
	}
	for _, c := range cases {
		for _, mode := range []string{"declared", "declared-huge", "chunked"} {
			t.Run(c.name+"/"+mode, func(t *testing.T) {
				target := c.target
				if c.session != nil {
					target = c.session(t, n)
				}
				hdr := c.hdr
				body := io.MultiReader(strings.NewReader(c.prefix), filler(c.fill))
				switch mode {
				case "declared":
					hdr = append(hdr, fmt.Sprintf("Content-Length: %d\r\n", c.limit+1))
					body = io.LimitReader(body, c.limit+1)
				case "declared-huge":
					// Only the start is sent: the refusal must not wait for
					// (or read) the rest.
					hdr = append(hdr, "Content-Length: 1099511627776\r\n")
					body = io.LimitReader(body, 64<<10)
				default:
					hdr = append(hdr, "Transfer-Encoding: chunked\r\n")
					body = &chunked{r: io.LimitReader(body, c.limit+1<<20)}
				}
				status, _, msg := hostileExchange(t, n.Addr, c.method, target, hdr, body)
				if status != c.status || !strings.Contains(msg, c.shape) {
					t.Fatalf("%d %q; want %d with %s", status, msg, c.status, c.shape)
				}
			})
		}
	}
	n.WaitNoTempFiles(t, 10*time.Second)
	for f := range storedFiles(t, n) {
		if !before[f] {
			t.Errorf("stored after refused bodies: %s", f)
		}
	}
	// A deploy under the cap still goes through, is served, and is seen
	// by the check above.
	jar := "/maven2/com/acme/small/1.0/small-1.0.jar"
	if status, _, msg := hostileExchange(t, n.Addr, "PUT", jar, []string{octets, "Content-Length: 5\r\n"}, strings.NewReader("small")); status != 201 && status != 200 {
		t.Fatalf("deploy under the cap: %d %s", status, msg)
	}
	resp, err := http.Get(n.URL + jar)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET of what was deployed after hostile bodies: %v %v", resp, err)
	}
	resp.Body.Close()
	if len(storedFiles(t, n)) == len(before) {
		t.Fatal("the stored-files check does not see a deploy")
	}
}
