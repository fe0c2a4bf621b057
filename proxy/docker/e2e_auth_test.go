package docker_test

import (
	"strings"
	"testing"
)

func TestWriteAuth(t *testing.T) {
	n := startNora(t, options{})
	img := randomImage(t, 16<<10, 1)
	tar := imageTarball(t, img)
	const challenge = `Basic realm="nora"`
	f := func(what, method, path, user, pass string, status int, code string) {
		t.Helper()
		resp, body := do(t, method, n.url(path), user, pass, nil, nil)
		wantError(t, what, status, code, resp.StatusCode, body)
		if status == 401 && resp.Header.Get("WWW-Authenticate") != challenge {
			t.Fatalf("%s: WWW-Authenticate %q", what, resp.Header.Get("WWW-Authenticate"))
		}
	}
	f("POST without credentials", "POST", "/v2/app/blobs/uploads/", "", "", 401, "UNAUTHORIZED")
	f("POST with a wrong password", "POST", "/v2/app/blobs/uploads/", testUser, "wrong", 401, "UNAUTHORIZED")
	f("POST by an unknown user", "POST", "/v2/app/blobs/uploads/", "nobody", testPass, 401, "UNAUTHORIZED")
	f("PUT manifest without credentials", "PUT", "/v2/app/manifests/v1", "", "", 401, "UNAUTHORIZED")
	f("DELETE without credentials", "DELETE", "/v2/app/manifests/v1", "", "", 401, "UNAUTHORIZED")
	f("reads with a wrong password", "GET", "/v2/app/tags/list", testUser, "wrong", 401, "UNAUTHORIZED")
	if out, err := newCLI(t, n.addr, "", "").crane("push", tar, n.addr+"/app:v1"); err == nil {
		t.Fatalf("anonymous crane push succeeded: %s", out)
	}
	if out, err := newCLI(t, n.addr, testUser, "wrong").crane("push", tar, n.addr+"/app:v1"); err == nil {
		t.Fatalf("crane push with a wrong password succeeded: %s", out)
	}
	if n.stored(digestOf(t, img)) || len(n.tempFiles()) != 0 {
		t.Fatal("refused pushes left something behind")
	}
	// The ping checks credentials when sent (docker login), and lets
	// anonymous clients in while anonymous reads are on.
	if resp, _ := do(t, "GET", n.url("/v2/"), "", "", nil, nil); resp.StatusCode != 200 {
		t.Fatalf("anonymous ping: %d", resp.StatusCode)
	}
	if resp, _ := do(t, "GET", n.url("/v2/"), testUser, testPass, nil, nil); resp.StatusCode != 200 {
		t.Fatalf("ping with credentials: %d", resp.StatusCode)
	}
	f("ping with a wrong password", "GET", "/v2/", testUser, "wrong", 401, "UNAUTHORIZED")
}

func TestWritesNeedHtpasswd(t *testing.T) {
	n := startNora(t, options{noHtpasswd: true})
	for _, user := range []string{"", testUser} {
		for _, req := range [][2]string{{"POST", "/v2/app/blobs/uploads/"}, {"PUT", "/v2/app/manifests/v1"}, {"DELETE", "/v2/app/blobs/sha256:" + strings.Repeat("0", 64)}} {
			resp, body := do(t, req[0], n.url(req[1]), user, testPass, nil, nil)
			wantError(t, req[0]+" without htpasswd", 403, "DENIED", resp.StatusCode, body)
			if !strings.Contains(string(body), "[auth] htpasswd") {
				t.Fatalf("403 does not say what to configure: %s", body)
			}
		}
	}
	if out, err := newCLI(t, n.addr, testUser, testPass).crane("push", imageTarball(t, randomImage(t, 1024, 1)), n.addr+"/app:v1"); err == nil {
		t.Fatalf("push without htpasswd succeeded: %s", out)
	}
}

func TestPrivateReads(t *testing.T) {
	n := startNora(t, options{privateRead: true})
	for _, path := range []string{"/v2/", "/v2/app/tags/list", "/v2/app/manifests/v1", "/v2/_catalog"} {
		resp, body := do(t, "GET", n.url(path), "", "", nil, nil)
		wantError(t, "anonymous GET "+path, 401, "UNAUTHORIZED", resp.StatusCode, body)
		if resp.Header.Get("WWW-Authenticate") != `Basic realm="nora"` {
			t.Fatalf("%s: no challenge", path)
		}
	}
	if resp, body := do(t, "GET", n.url("/v2/_catalog"), testUser, testPass, nil, nil); resp.StatusCode != 200 {
		t.Fatalf("catalog with credentials: %d %s", resp.StatusCode, body)
	}
}
