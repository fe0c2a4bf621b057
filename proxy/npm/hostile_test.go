package npm_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"nora/auth"
	"nora/internal/units"
	"nora/proxy"
	"nora/proxy/npm"
	"nora/proxy/npm/npmtest"
	"nora/proxy/proxytest"
)

// rawRequest opens a connection to addr and sends head (request line and
// headers) and body; answerOn reads the response, waiting at most 20 s.
func rawRequest(t *testing.T, addr, head string, body []byte) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := c.Write(append([]byte(head), body...)); err != nil {
		t.Fatal(err)
	}
	return c
}

func answerOn(t *testing.T, c net.Conn) (*http.Response, string) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(20 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("no answer: %v", err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}

const quickAudit = "/-/npm/v1/security/audits/quick"

// An audit body that breaks off is a 400 and never reaches the upstream;
// one that trickles is cut by the minimum body rate; a whole one is
// forwarded byte for byte.
func TestAuditBodyLimits(t *testing.T) {
	up := npmtest.NewRegistry(t)
	scfg := proxy.DefaultConfig()
	scfg.BodyMinRate = 1 << 10
	scfg.BodyGrace = units.Duration(500 * time.Millisecond)
	n := proxytest.Start(t, proxy.AppConfig{Server: scfg, Npm: npm.Config{Upstream: up.URL}})
	head := func(size int) string {
		return fmt.Sprintf("POST /npm%s HTTP/1.1\r\nHost: nora.test\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", quickAudit, size)
	}
	const size = 256 << 10
	body := []byte(`{"x":"` + strings.Repeat("a", size-8) + `"}`)

	// The client goes away one byte short (it half-closes, to read the answer).
	c := rawRequest(t, n.Addr, head(size), body[:size-1])
	c.(*net.TCPConn).CloseWrite()
	if resp, msg := answerOn(t, c); resp.StatusCode != http.StatusBadRequest || !strings.Contains(msg, `"error"`) {
		t.Fatalf("truncated audit: %d %s", resp.StatusCode, msg)
	}

	// A byte every 50 ms after the first 16 KiB.
	c = rawRequest(t, n.Addr, head(size), body[:16<<10])
	stop := make(chan struct{})
	go func() {
		for i := 16 << 10; i < size; i++ {
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
			if _, err := c.Write(body[i : i+1]); err != nil {
				return
			}
		}
	}()
	resp, msg := answerOn(t, c)
	close(stop)
	if resp.StatusCode != http.StatusRequestTimeout || !strings.Contains(msg, "slower than") {
		t.Fatalf("trickled audit: %d %s", resp.StatusCode, msg)
	}
	if hits := up.Hits(quickAudit); hits != 0 {
		t.Fatalf("the upstream got %d audit requests from bodies that never arrived whole", hits)
	}

	resp, msg = answerOn(t, rawRequest(t, n.Addr, head(size), body))
	if resp.StatusCode != 200 || !strings.Contains(msg, fmt.Sprintf(`"bytes":%d`, size)) || up.Hits(quickAudit) != 1 {
		t.Fatalf("whole audit: %d %s, %d upstream hits", resp.StatusCode, msg, up.Hits(quickAudit))
	}
}

// With no public_url, the Host becomes the base of tarball links and of
// the token realm: one that is not host[:port] is refused before it can.
func TestHostileHost(t *testing.T) {
	up := npmtest.NewRegistry(t)
	up.Publish(t, "lib", "1.0.0", 100)
	ac := auth.DefaultConfig()
	ac.Htpasswd = proxytest.Htpasswd(t, testUser, testPass)
	n := proxytest.Start(t, proxy.AppConfig{Npm: npm.Config{Upstream: up.URL}, Auth: &ac})
	f := func(path, host string) (*http.Response, string) {
		t.Helper()
		return answerOn(t, rawRequest(t, n.Addr, "GET "+path+" HTTP/1.1\r\nHost: "+host+"\r\nConnection: close\r\n\r\n", nil))
	}
	for _, evil := range []string{`evil.example",service="x`, "evil.example/x", "evil example", `evil.example"`} {
		for _, path := range []string{"/v2/", "/npm/lib"} {
			resp, msg := f(path, evil)
			if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("WWW-Authenticate") != "" || strings.Contains(msg, "evil") {
				t.Fatalf("GET %s Host %q: %d %v %s", path, evil, resp.StatusCode, resp.Header, msg)
			}
		}
	}
	resp, _ := f("/v2/", "nora.test:4000")
	if ch := resp.Header.Get("WWW-Authenticate"); resp.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(ch, `Bearer realm="http://nora.test:4000/auth/token",`) {
		t.Fatalf("GET /v2/ with a good Host: %d %q", resp.StatusCode, ch)
	}
	resp, msg := f("/npm/lib", "nora.test:4000")
	if resp.StatusCode != 200 || !strings.Contains(msg, `"http://nora.test:4000/npm/lib/-/lib-1.0.0.tgz"`) {
		t.Fatalf("packument with a good Host: %d %s", resp.StatusCode, msg)
	}
}
