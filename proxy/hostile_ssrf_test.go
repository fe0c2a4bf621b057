package proxy

import (
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"nora/cache"
	"nora/proxy/cargo"
	"nora/proxy/docker"
	"nora/proxy/npm"
	"nora/proxy/pypi"
)

// loopbackServer serves h on addr (a loopback address other than
// 127.0.0.1 where the test needs one), skipping where the box cannot.
func loopbackServer(t *testing.T, addr string, h http.HandlerFunc) *httptest.Server {
	t.Helper()
	l, err := net.Listen("tcp4", addr)
	if err != nil {
		t.Skipf("cannot listen on %s: %v", addr, err)
	}
	srv := &httptest.Server{Listener: l, Config: &http.Server{Handler: h}}
	srv.Start()
	t.Cleanup(srv.Close)
	return srv
}

// hostileUpstream is one configured upstream (on 127.0.0.3) for every
// format whose answers point nora at target: npm tarball links, PyPI file
// links, cargo's dl, a docker token realm and a blob redirect.
func hostileUpstream(t *testing.T, target string) *httptest.Server {
	t.Helper()
	tgz := []byte("not really a tarball")
	sha := sha256.Sum256(tgz)
	sri := sha512.Sum512(tgz)
	return loopbackServer(t, "127.0.0.3:0", func(w http.ResponseWriter, r *http.Request) {
		switch p := r.URL.Path; {
		case strings.HasPrefix(p, "/npm/-/npm/v1/security/"):
			http.Redirect(w, r, target+p, http.StatusTemporaryRedirect)
		case p == "/npm/left-pad":
			fmt.Fprintf(w, `{"name":"left-pad","dist-tags":{"latest":"1.0.0"},"versions":{"1.0.0":{"name":"left-pad","version":"1.0.0",`+
				`"dist":{"tarball":%q,"integrity":"sha512-%s"}}}}`, target+"/left-pad/-/left-pad-1.0.0.tgz", base64.StdEncoding.EncodeToString(sri[:]))
		case p == "/simple/demo/":
			w.Header().Set("Content-Type", "text/html")
			fmt.Fprintf(w, `<html><body><a href="%s/files/demo-1.0.tar.gz#sha256=%s">demo-1.0.tar.gz</a></body></html>`, target, hex.EncodeToString(sha[:]))
		case p == "/cargo/config.json":
			fmt.Fprintf(w, `{"dl":%q,"api":%q}`, target+"/crates", target)
		case p == "/cargo/3/f/foo":
			fmt.Fprintf(w, `{"name":"foo","vers":"0.1.0","deps":[],"cksum":%q,"features":{},"yanked":false}`+"\n", hex.EncodeToString(sha[:]))
		case strings.HasPrefix(p, "/v2/lib/app/blobs/"):
			http.Redirect(w, r, target+p, http.StatusTemporaryRedirect)
		case strings.HasPrefix(p, "/v2/"):
			w.Header().Set("Www-Authenticate", `Bearer realm="`+target+`/token",service="x"`)
			w.WriteHeader(http.StatusUnauthorized)
		default:
			http.NotFound(w, r)
		}
	})
}

// TestSSRFLinksFromUpstreams: links a configured upstream gives (npm
// tarballs, PyPI files, cargo's dl, a token realm, a blob redirect) never
// make nora connect to a loopback or link-local host the configuration
// does not name, nor does anything a client sends (ns=, Host,
// X-Forwarded-Host). Each such request fails in its format's way, not
// with a 500, and nothing is stored.
func TestSSRFLinksFromUpstreams(t *testing.T) {
	var hits atomic.Int64
	hostile := loopbackServer(t, "127.0.0.2:0", func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		fmt.Fprint(w, `{"token":"x"}`)
	})
	for _, target := range []string{hostile.URL, "http://169.254.169.254", "http://[::1]:" + hostile.Listener.Addr().(*net.TCPAddr).AddrPort().String()[len("127.0.0.2:"):]} {
		t.Run(target, func(t *testing.T) {
			up := hostileUpstream(t, target)
			dataDir := t.TempDir()
			app := ssrfApp(t, dataDir, up.URL)
			base := "http://" + app.Addr().String()
			// A refused link is an unreachable upstream: 503 in the
			// format's shape; ns= names no configured upstream: 404.
			for _, c := range []struct {
				path, want string
				status     int
			}{
				{"/npm/left-pad/-/left-pad-1.0.0.tgz", `{"error":`, 503},
				{"/simple/demo/demo-1.0.tar.gz", "upstream unreachable", 503},
				{"/cargo/api/v1/crates/foo/0.1.0/download", `{"errors":[{"detail":`, 503},
				// A refused realm: no token (503), or the anonymous request's
				// 401 when the realm was refused before any dial (0: either).
				{"/v2/lib/app/manifests/v1", `{"errors":[{"code":`, 0},
				{"/v2/lib/app/blobs/sha256:" + strings.Repeat("a", 64), `"UNAVAILABLE"`, 503},
				{"/v2/lib/app/manifests/v1?ns=" + strings.TrimPrefix(hostile.URL, "http://"), `"NAME_UNKNOWN"`, 404},
			} {
				code, body := getURL(t, http.DefaultClient, "GET", base+c.path,
					"X-Forwarded-Host", strings.TrimPrefix(hostile.URL, "http://"))
				if (code != c.status && (c.status != 0 || code != 503 && code != 404)) || !strings.Contains(body, c.want) {
					t.Errorf("GET %s: %d %s", c.path, code, body)
				}
			}
			// An npm audit is a POST relayed to the upstream: its redirect
			// is not followed.
			code, body := getURL(t, http.DefaultClient, "POST", base+"/npm/-/npm/v1/security/advisories/bulk", "Content-Type", "application/json")
			if code != http.StatusBadGateway || !strings.Contains(body, "error") {
				t.Errorf("audit redirected by the upstream: %d %s", code, body)
			}
			// The Host header names where links point, never where nora fetches.
			req, _ := http.NewRequest("GET", base+"/npm/left-pad", nil)
			req.Host = strings.TrimPrefix(hostile.URL, "http://")
			if resp, err := http.DefaultClient.Do(req); err == nil {
				resp.Body.Close()
			}
			// Nor does an absolute-form request target name one.
			for _, p := range []string{"/npm/left-pad", "/v2/lib/app/manifests/v1", "/simple/demo/"} {
				if code, body := rawRequest(t, app.Addr().String(), "GET", hostile.URL+p, "", "", ""); code >= 500 && code != 503 {
					t.Errorf("GET %s%s: %d %s", hostile.URL, p, code, body)
				}
			}
			if n := hits.Load(); n != 0 {
				t.Fatalf("the hostile host got %d requests", n)
			}
			// The upstream's documents (packument, page, index) are its
			// own answers and may be kept; no artifact may.
			// Documents are stored after they are answered (blob, then
			// ref): count once their writes have landed.
			var refs, blobs int
			var others []string
			for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
				refs, blobs, others = 0, 0, nil
				for _, o := range storedObjects(t, dataDir) {
					switch {
					case strings.HasPrefix(o, "objects/blobs/"):
						blobs++
					case strings.HasSuffix(o, "/_packument"), strings.HasSuffix(o, "/_abbreviated"), strings.HasSuffix(o, "/_page"),
						strings.HasPrefix(o, "objects/refs/cargo/_upstream/"), strings.HasPrefix(o, "objects/refs/cargo/index/"):
						refs++
					default:
						others = append(others, o)
					}
				}
				if blobs <= refs || time.Now().After(deadline) {
					break
				}
			}
			for _, o := range others {
				t.Errorf("stored %s", o)
			}
			if blobs > refs {
				t.Errorf("%d blobs stored for %d documents", blobs, refs)
			}
		})
	}
}

// ssrfApp serves every format with upstream as its configured upstream.
func ssrfApp(t *testing.T, dataDir, upstream string) *App {
	t.Helper()
	server := DefaultConfig()
	server.Listen = "127.0.0.1:0"
	npmCfg, pypiCfg, cargoCfg := npm.DefaultConfig(), pypi.DefaultConfig(), cargo.DefaultConfig()
	npmCfg.Upstream, pypiCfg.Upstream, cargoCfg.Index = upstream+"/npm/", upstream+"/simple/", upstream+"/cargo/"
	dockerCfg := docker.DefaultConfig()
	dockerCfg.Upstreams = []docker.UpstreamConfig{{Name: "up", URL: upstream}}
	storage := cache.DefaultConfig()
	storage.Path = dataDir
	return runApp(t, AppConfig{Server: server, Storage: storage, Npm: npmCfg, PyPI: pypiCfg, Cargo: cargoCfg, Docker: dockerCfg}, nil)
}

// storedObjects lists the files below dir's objects/ (what the store
// holds), as paths relative to dir, but for the registry token key that
// every nora keeps from its start.
func storedObjects(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	root := filepath.Join(dir, "objects")
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if rel, _ := filepath.Rel(dir, p); !d.IsDir() && rel != filepath.FromSlash("objects/state/registry-token-key") {
			out = append(out, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}
