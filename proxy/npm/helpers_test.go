package npm_test

import (
	"io"
	"net/http"
	"testing"

	"nora/auth"
	"nora/proxy"
	"nora/proxy/npm"
	"nora/proxy/proxytest"
)

// The user every test nora with an htpasswd file knows.
const (
	testUser = "ci"
	testPass = "s3cret-publish"
)

// authOptions say who may write and read.
type authOptions struct {
	htpasswd    bool // testUser may write; otherwise nobody may
	privateRead bool // anonymous_read = false
}

// startNora runs an in-process nora whose [npm] section is cfg, with the
// default [auth] (anonymous reads, no writes).
func startNora(t testing.TB, cfg npm.Config) *proxytest.Nora {
	t.Helper()
	return startNoraAuth(t, cfg, authOptions{})
}

// startNoraAuth is startNora with an [auth] section built from o.
func startNoraAuth(t testing.TB, cfg npm.Config, o authOptions) *proxytest.Nora {
	t.Helper()
	ac := auth.DefaultConfig()
	ac.AnonymousRead = !o.privateRead
	if o.htpasswd {
		ac.Htpasswd = proxytest.Htpasswd(t, testUser, testPass)
	}
	return proxytest.Start(t, proxy.AppConfig{Npm: cfg, Auth: &ac})
}

// get sends a GET with the given header pairs and reads the whole body.
func get(t testing.TB, url string, hdr ...string) (*http.Response, []byte) {
	t.Helper()
	return do(t, http.MethodGet, url, nil, hdr...)
}

func do(t testing.TB, method, url string, body io.Reader, hdr ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		if hdr[i] == "Host" {
			req.Host = hdr[i+1]
		}
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: body: %v", method, url, err)
	}
	return resp, b
}

const abbreviated = "application/vnd.npm.install-v1+json; q=1.0, application/json; q=0.8, */*"
