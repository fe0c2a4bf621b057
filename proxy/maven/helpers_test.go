package maven_test

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"nora/auth"
	"nora/proxy"
	"nora/proxy/maven"
	"nora/proxy/proxytest"
)

// noraUnderTest is a test nora with the helpers the maven tests add.
type noraUnderTest struct{ *proxytest.Nora }

// base is nora's repository URL.
func (n *noraUnderTest) base() string { return n.URL + "/maven2/" }

// cached reports whether nora holds the artifact at path.
func (n *noraUnderTest) cached(path string) bool {
	return n.Stored("refs/maven/files/" + path + "/@")
}

// startNora runs an in-process nora whose maven upstreams are urls, in order.
func startNora(t testing.TB, mc maven.Config, urls ...string) *noraUnderTest {
	t.Helper()
	return startNoraAuth(t, mc, nil, urls...)
}

// startNoraAuth is startNora with an [auth] section (nil: the default,
// anonymous reads and no writes).
func startNoraAuth(t testing.TB, mc maven.Config, ac *auth.Config, urls ...string) *noraUnderTest {
	t.Helper()
	for _, u := range urls {
		mc.Upstreams = append(mc.Upstreams, maven.UpstreamConfig{URL: u})
	}
	up := proxytest.Upstream()
	up.Retries = 1
	return &noraUnderTest{proxytest.Start(t, proxy.AppConfig{Maven: mc, Auth: ac, Upstream: &up})}
}

// fetch sends method to url and returns the response with its body read.
func fetch(t testing.TB, method, url string) (*http.Response, []byte) {
	t.Helper()
	resp, b := send(t, method, url, "", "", "")
	return resp, []byte(b)
}

// rawStatus sends a request line as written (no client-side cleaning of
// the path) and returns the status code.
func rawStatus(t *testing.T, addr, target string) int {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, "GET "+target+" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("GET %s: %v", target, err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func mustRead(t testing.TB, file string) []byte {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// copyTree copies the files under src into dst.
func copyTree(t testing.TB, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		out := filepath.Join(dst, rel)
		if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(out, b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// lastLines is the tail of a long client output, for failure messages.
func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
