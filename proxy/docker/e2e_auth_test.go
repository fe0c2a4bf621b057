package docker_test

import (
	"strings"
	"testing"
)

func TestWriteAuth(t *testing.T) {
	n := startNora(t, options{})
	img := randomImage(t, 16<<10, 1)
	tar := imageTarball(t, img)
	realm := `Bearer realm="` + n.url("/auth/token") + `",service="nora"`
	f := func(what, method, path, user, pass string, status int, code, scope string) {
		t.Helper()
		resp, body := do(t, method, n.url(path), user, pass, nil, nil)
		wantError(t, what, status, code, resp.StatusCode, body)
		if want := realm + `,scope="` + scope + `"`; status == 401 && resp.Header.Get("WWW-Authenticate") != want {
			t.Fatalf("%s: WWW-Authenticate %q, want %q", what, resp.Header.Get("WWW-Authenticate"), want)
		}
	}
	push, pull := "repository:app:pull,push", "repository:app:pull"
	f("POST without credentials", "POST", "/v2/app/blobs/uploads/", "", "", 401, "UNAUTHORIZED", push)
	f("POST with a wrong password", "POST", "/v2/app/blobs/uploads/", testUser, "wrong", 401, "UNAUTHORIZED", push)
	f("POST by an unknown user", "POST", "/v2/app/blobs/uploads/", "nobody", testPass, 401, "UNAUTHORIZED", push)
	f("mount without credentials", "POST", "/v2/app/blobs/uploads/?mount="+digestOf(t, img)+"&from=other", "", "", 401, "UNAUTHORIZED",
		push+" repository:other:pull")
	f("PUT manifest without credentials", "PUT", "/v2/app/manifests/v1", "", "", 401, "UNAUTHORIZED", push)
	f("DELETE without credentials", "DELETE", "/v2/app/manifests/v1", "", "", 401, "UNAUTHORIZED", "repository:app:delete")
	f("reads with a wrong password", "GET", "/v2/app/tags/list", testUser, "wrong", 401, "UNAUTHORIZED", pull)
	if out, err := newCLI(t, n.Addr, "", "").crane("push", tar, n.Addr+"/app:v1"); err == nil {
		t.Fatalf("anonymous crane push succeeded: %s", out)
	}
	if out, err := newCLI(t, n.Addr, testUser, "wrong").crane("push", tar, n.Addr+"/app:v1"); err == nil {
		t.Fatalf("crane push with a wrong password succeeded: %s", out)
	}
	if n.stored(digestOf(t, img)) || len(n.TempFiles()) != 0 {
		t.Fatal("refused pushes left something behind")
	}
	// The ping checks credentials when sent (docker login), and challenges
	// anonymous clients even while anonymous reads are on: docker and
	// containers/image send credentials only after a challenge of the ping.
	resp, body := do(t, "GET", n.url("/v2/"), "", "", nil, nil)
	wantError(t, "anonymous ping", 401, "UNAUTHORIZED", resp.StatusCode, body)
	if resp.Header.Get("WWW-Authenticate") != realm {
		t.Fatalf("anonymous ping: WWW-Authenticate %q, want %q", resp.Header.Get("WWW-Authenticate"), realm)
	}
	if resp, _ := do(t, "GET", n.url("/v2/"), testUser, testPass, nil, nil); resp.StatusCode != 200 {
		t.Fatalf("ping with credentials: %d", resp.StatusCode)
	}
	resp, body = do(t, "GET", n.url("/v2/"), testUser, "wrong", nil, nil)
	wantError(t, "ping with a wrong password", 401, "UNAUTHORIZED", resp.StatusCode, body)
}

// TestWritesNeedHtpasswd: without users nothing changes for readers
// (no token flow, the ping lets everyone in) and writes are refused.
func TestWritesNeedHtpasswd(t *testing.T) {
	n := startNora(t, options{noHtpasswd: true})
	if resp, _ := do(t, "GET", n.url("/v2/"), "", "", nil, nil); resp.StatusCode != 200 {
		t.Fatalf("anonymous ping without htpasswd: %d", resp.StatusCode)
	}
	// A stale client login is ignored, not refused: the read is answered
	// as an anonymous one (here: no upstream has the name).
	resp, body := do(t, "GET", n.url("/v2/app/tags/list"), testUser, testPass, nil, nil)
	wantError(t, "credentials without htpasswd", 404, "NAME_UNKNOWN", resp.StatusCode, body)
	for _, user := range []string{"", testUser} {
		for _, req := range [][2]string{{"POST", "/v2/app/blobs/uploads/"}, {"PUT", "/v2/app/manifests/v1"}, {"DELETE", "/v2/app/blobs/sha256:" + strings.Repeat("0", 64)}} {
			resp, body := do(t, req[0], n.url(req[1]), user, testPass, nil, nil)
			wantError(t, req[0]+" without htpasswd", 403, "DENIED", resp.StatusCode, body)
			if !strings.Contains(string(body), "[auth] htpasswd") {
				t.Fatalf("403 does not say what to configure: %s", body)
			}
		}
	}
	if out, err := newCLI(t, n.Addr, testUser, testPass).crane("push", imageTarball(t, randomImage(t, 1024, 1)), n.Addr+"/app:v1"); err == nil {
		t.Fatalf("push without htpasswd succeeded: %s", out)
	}
}

func TestPrivateReads(t *testing.T) {
	n := startNora(t, options{privateRead: true})
	for _, path := range []string{"/v2/", "/v2/app/tags/list", "/v2/app/manifests/v1", "/v2/_catalog"} {
		resp, body := do(t, "GET", n.url(path), "", "", nil, nil)
		wantError(t, "anonymous GET "+path, 401, "UNAUTHORIZED", resp.StatusCode, body)
		if !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), `Bearer realm="`+n.url("/auth/token")+`",service="nora"`) {
			t.Fatalf("%s: challenge %q", path, resp.Header.Get("WWW-Authenticate"))
		}
	}
	// An anonymous token grants nothing; a user's token lets it read.
	anon := token(t, n, "", "", "repository:app:pull")
	resp, body := do(t, "GET", n.url("/v2/app/tags/list"), "", "", bearer(anon), nil)
	wantError(t, "anonymous token", 401, "UNAUTHORIZED", resp.StatusCode, body)
	img := randomImage(t, 1024, 1)
	push(t, n, "app", img, "v1")
	tok := token(t, n, testUser, testPass, "repository:app:pull")
	if resp, body := do(t, "GET", n.url("/v2/app/tags/list"), "", "", bearer(tok), nil); resp.StatusCode != 200 {
		t.Fatalf("tags with a token: %d %s", resp.StatusCode, body)
	}
	resp, body = do(t, "GET", n.url("/v2/other/tags/list"), "", "", bearer(tok), nil)
	wantError(t, "token of another repository", 401, "UNAUTHORIZED", resp.StatusCode, body)
	c := newCLI(t, n.Addr, testUser, testPass)
	checkPulls(t, c, n.Addr+"/app", "v1", digestOf(t, img))
	if got := c.mustCrane("catalog", n.Addr); got != "app" {
		t.Fatalf("catalog: %q", got)
	}
	if out, err := newCLI(t, n.Addr, "", "").crane("digest", n.Addr+"/app:v1"); err == nil {
		t.Fatalf("anonymous crane with anonymous_read off: %s", out)
	}
	if resp, body := do(t, "GET", n.url("/v2/_catalog"), testUser, testPass, nil, nil); resp.StatusCode != 200 {
		t.Fatalf("catalog with credentials: %d %s", resp.StatusCode, body)
	}
}
