package docker_test

import (
	"bytes"
	"crypto/rand"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"nora/auth"
	"nora/cache/s3/s3test"
	"nora/hosted/oci"
	"nora/internal/units"
	"nora/proxy"
	"nora/proxy/docker"
	"nora/proxy/proxytest"
)

// Two noras on one bucket behind a load balancer that sends each request
// to the other instance: a push through it completes, and each instance
// serves it at once.

// startInstance runs a nora on bucket with its own local path, with the
// test user and anonymous reads.
func startInstance(t *testing.T, srv *s3test.Server, bucket, htpasswd string) *noraUnderTest {
	t.Helper()
	cfg := proxy.AppConfig{Server: proxy.DefaultConfig(), Docker: docker.DefaultConfig(),
		Storage: proxytest.S3Storage(t, srv, bucket)}
	cfg.Server.StallTimeout = units.Duration(10 * time.Second)
	a := auth.DefaultConfig()
	a.AnonymousRead = true
	a.Htpasswd = htpasswd
	cfg.Auth = &a
	// A short idle time makes the janitor look every second: it removes
	// an instance's copy of a session that ended on the other one.
	cfg.HostedOCI = &oci.Config{UploadIdle: 2 * time.Second}
	return &noraUnderTest{proxytest.Start(t, cfg)}
}

// roundRobin is a reverse proxy that alternates requests between its
// backends: a request of an upload session goes to the other backend than
// the session's last one (crane uploads layers at once, so a plain
// alternation could keep a session on one instance by chance), any other
// request to the next backend in turn. It remembers which backends each
// session reached.
type roundRobin struct {
	addr    string
	targets []*url.URL
	next    atomic.Uint64

	mu       sync.Mutex
	last     map[string]int          // upload id -> backend of its last request
	sessions map[string]map[int]bool // upload id -> backends it reached
}

var uploadID = regexp.MustCompile(`/blobs/uploads/([0-9a-f]+)(\?.*)?$`)

func newRoundRobin(t *testing.T, backends ...*noraUnderTest) *roundRobin {
	t.Helper()
	rr := &roundRobin{last: map[string]int{}, sessions: map[string]map[int]bool{}}
	for _, b := range backends {
		u, err := url.Parse(b.URL)
		if err != nil {
			t.Fatal(err)
		}
		rr.targets = append(rr.targets, u)
	}
	p := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(rr.targets[rr.pick(pr.In.URL.Path)])
			pr.Out.Host = pr.In.Host
		},
		ModifyResponse: func(resp *http.Response) error {
			// A session's first backend is the one that answered its POST.
			if m := uploadID.FindStringSubmatch(resp.Header.Get("Location")); m != nil {
				rr.reached(m[1], rr.backend(resp.Request.URL.Host))
			}
			// Bearer challenges pass unchanged: the token the client
			// fetches through the balancer from one instance must pass
			// on the other (the shared signing key).
			return nil
		},
	}
	srv := httptest.NewServer(p)
	t.Cleanup(srv.Close)
	rr.addr = strings.TrimPrefix(srv.URL, "http://")
	return rr
}

// pick chooses the backend of a request for path.
func (rr *roundRobin) pick(path string) int {
	if m := uploadID.FindStringSubmatch(path); m != nil {
		rr.mu.Lock()
		last, ok := rr.last[m[1]]
		rr.mu.Unlock()
		if ok {
			i := (last + 1) % len(rr.targets)
			rr.reached(m[1], i)
			return i
		}
	}
	return int(rr.next.Add(1) % uint64(len(rr.targets)))
}

func (rr *roundRobin) reached(id string, i int) {
	rr.mu.Lock()
	defer rr.mu.Unlock()
	rr.last[id] = i
	if rr.sessions[id] == nil {
		rr.sessions[id] = map[int]bool{}
	}
	rr.sessions[id][i] = true
}

func (rr *roundRobin) backend(host string) int {
	for i, u := range rr.targets {
		if u.Host == host {
			return i
		}
	}
	return -1
}

// movedSessions counts the upload sessions whose requests reached more
// than one instance, and all sessions seen.
func (rr *roundRobin) movedSessions() (moved, all int) {
	rr.mu.Lock()
	defer rr.mu.Unlock()
	for _, bs := range rr.sessions {
		if len(bs) > 1 {
			moved++
		}
	}
	return moved, len(rr.sessions)
}

func TestS3TwoInstancesPush(t *testing.T) {
	srv := s3test.Start(t)
	bucket := srv.NewBucket(t)
	htpasswd := proxytest.Htpasswd(t, testUser, testPass)
	a := startInstance(t, srv, bucket, htpasswd)
	b := startInstance(t, srv, bucket, htpasswd)
	rr := newRoundRobin(t, a, b)

	img := randomImage(t, 512<<10, 3)
	want := digestOf(t, img)
	newCLI(t, rr.addr, testUser, testPass).mustCrane("push", imageTarball(t, img), rr.addr+"/team/app:v1")
	// Config and three layers: four sessions, each POST, PATCH and PUT on
	// alternating instances.
	if moved, all := rr.movedSessions(); all < 4 || moved != all {
		t.Fatalf("%d of %d upload sessions moved between the instances; want 4 or more, all", moved, all)
	}
	for _, n := range []*noraUnderTest{a, b} {
		c := newCLI(t, n.Addr, testUser, testPass)
		checkPulls(t, c, n.Addr+"/team/app", "v1", want)
		if got := digest.FromString(c.mustCrane("manifest", n.Addr+"/team/app:v1")).String(); got != want {
			t.Fatalf("crane manifest from %s hashes to %s, want %s", n.Addr, got, want)
		}
		if tags := c.mustCrane("ls", n.Addr+"/team/app"); tags != "v1" {
			t.Fatalf("tags on %s: %q", n.Addr, tags)
		}
	}

	// By hand: POST on a, PATCH on b, PATCH on a, PUT on b.
	data := make([]byte, 300<<10)
	rand.Read(data)
	d := digest.FromBytes(data)
	loc := openSession(t, a)
	patchChunk(t, b, loc, data[:100<<10], 0)
	patchChunk(t, a, loc, data[100<<10:], 100<<10)
	if resp := send(t, b, http.MethodPut, loc+"&digest="+string(d), nil, nil); resp.StatusCode != http.StatusCreated {
		t.Fatalf("final PUT: %d %s", resp.StatusCode, bodyOf(resp))
	}
	// team/chunked is new: an instance that found it not hosted a moment
	// ago believes so for a second at most.
	for _, n := range []*noraUnderTest{a, b} {
		for deadline := time.Now().Add(3 * time.Second); ; time.Sleep(100 * time.Millisecond) {
			resp := send(t, n, http.MethodGet, "/v2/team/chunked/blobs/"+string(d), nil, nil)
			got := bodyOf(resp)
			if resp.StatusCode == http.StatusOK && bytes.Equal([]byte(got), data) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("GET of the chunked blob from %s: %d, %d bytes", n.Addr, resp.StatusCode, len(got))
			}
		}
	}

	// A wrong digest on the final PUT is refused, and leaves nothing.
	loc = openSession(t, a)
	patchChunk(t, b, loc, data[:1000], 0)
	wrong := digest.FromBytes(data[:999])
	resp := send(t, a, http.MethodPut, loc+"&digest="+string(wrong), nil, nil)
	if msg := bodyOf(resp); resp.StatusCode != http.StatusBadRequest || !strings.Contains(msg, "DIGEST_INVALID") {
		t.Fatalf("PUT with a wrong digest: %d %s", resp.StatusCode, msg)
	}
	if resp := send(t, b, http.MethodGet, loc, nil, nil); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("the refused session on the other instance: %d %s", resp.StatusCode, bodyOf(resp))
	}
	s3n := &s3Nora{noraUnderTest: a, srv: srv, bucket: bucket}
	for _, k := range s3n.objects(t) {
		if strings.HasPrefix(k, "hosted/oci/uploads/") || strings.Contains(k, wrong.Encoded()) || strings.Contains(k, digest.FromBytes(data[:1000]).Encoded()) {
			t.Fatalf("the refused upload left %s in the bucket", k)
		}
	}
	for _, n := range []*noraUnderTest{a, b} {
		for deadline := time.Now().Add(10 * time.Second); len(n.TempFiles()) != 0; time.Sleep(50 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("temp files left on %s: %v", n.Addr, n.TempFiles())
			}
		}
	}
}

// send sends an authenticated request for path (or a session's Location) to
// n directly.
func send(t *testing.T, n *noraUnderTest, method, path string, b []byte, hdr map[string]string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, n.URL+path, bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth(testUser, testPass)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func bodyOf(resp *http.Response) string {
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// openSession opens an upload session of team/chunked on n and returns
// its Location with a query begun, so "&digest=" may follow.
func openSession(t *testing.T, n *noraUnderTest) string {
	t.Helper()
	resp := send(t, n, http.MethodPost, "/v2/team/chunked/blobs/uploads/", nil, nil)
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusAccepted || loc == "" {
		t.Fatalf("POST: %d %s", resp.StatusCode, bodyOf(resp))
	}
	if strings.Contains(loc, "?") {
		return loc
	}
	return loc + "?"
}

// patchChunk sends chunk, which starts at off, to the session at loc on n.
func patchChunk(t *testing.T, n *noraUnderTest, loc string, chunk []byte, off int) {
	t.Helper()
	rng := strconv.Itoa(off) + "-" + strconv.Itoa(off+len(chunk)-1)
	resp := send(t, n, http.MethodPatch, loc, chunk, map[string]string{"Content-Range": rng, "Content-Type": "application/octet-stream"})
	if resp.StatusCode != http.StatusAccepted || resp.Header.Get("Range") != "0-"+strconv.Itoa(off+len(chunk)-1) {
		t.Fatalf("PATCH %s on %s: %d Range %q %s", rng, n.Addr, resp.StatusCode, resp.Header.Get("Range"), bodyOf(resp))
	}
}
