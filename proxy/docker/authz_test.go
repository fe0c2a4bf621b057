package docker

import (
	"encoding/base64"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"nora/auth"
)

// readOnlyUsers knows every user ("pw" is the password) and lets none push
// to "locked/*".
type readOnlyUsers struct{}

func (readOnlyUsers) Authenticate(user, pass string) (*auth.Identity, error) {
	if pass != "pw" {
		return nil, auth.ErrBadCredentials
	}
	return &auth.Identity{Name: user}, nil
}

func (readOnlyUsers) Allowed(id *auth.Identity, a auth.Action, format, name string) bool {
	return a == auth.Pull || (id != nil && format == "docker" && !strings.HasPrefix(name, "locked/"))
}

func (readOnlyUsers) WritesEnabled() bool { return true }

func TestAuthorize(t *testing.T) {
	h, err := New(DefaultConfig(), Deps{Auth: readOnlyUsers{}, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	f := func(method, path, user, pass string, status int, code string) {
		t.Helper()
		var ctx fasthttp.RequestCtx
		ctx.Request.Header.SetMethod(method)
		ctx.Request.SetRequestURI(path)
		if user != "" {
			ctx.Request.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(user+":"+pass)))
		}
		h.Serve(&ctx)
		if ctx.Response.StatusCode() != status || !strings.Contains(string(ctx.Response.Body()), code) {
			t.Fatalf("%s %s as %q: %d %s, want %d %s", method, path, user, ctx.Response.StatusCode(), ctx.Response.Body(), status, code)
		}
	}
	f("POST", "/v2/locked/app/blobs/uploads/", "dev", "pw", 403, "DENIED")
	f("DELETE", "/v2/locked/app/manifests/v1", "dev", "pw", 403, "DENIED")
	f("POST", "/v2/locked/app/blobs/uploads/", "dev", "bad", 401, "UNAUTHORIZED")
	f("POST", "/v2/locked/app/blobs/uploads/", "", "", 401, "UNAUTHORIZED")
	// Allowed, but this handler has no hosted registry.
	f("POST", "/v2/open/app/blobs/uploads/", "dev", "pw", 405, "UNSUPPORTED")
	f("OPTIONS", "/v2/open/app/blobs/uploads/", "dev", "pw", 405, "UNSUPPORTED")
}

func TestBearer(t *testing.T) {
	tokens, err := auth.NewTokens(time.Second)
	if err != nil {
		t.Fatal(err)
	}
	h, err := New(DefaultConfig(), Deps{Auth: readOnlyUsers{}, Tokens: tokens, PublicURL: "https://nora.example/",
		Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	issue := func(user string, scope string) string {
		t.Helper()
		want, err := auth.ParseScope(scope)
		if err != nil {
			t.Fatal(err)
		}
		var id *auth.Identity
		if user != "" {
			id = &auth.Identity{Name: user}
		}
		tok, _, err := tokens.Issue(id, auth.Grant(readOnlyUsers{}, id, "docker", want))
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	const realm = `Bearer realm="https://nora.example/auth/token",service="nora"`
	f := func(method, path, tok string, status int, challenge string) {
		t.Helper()
		var ctx fasthttp.RequestCtx
		ctx.Request.Header.SetMethod(method)
		ctx.Request.SetRequestURI(path)
		if tok != "" {
			ctx.Request.Header.Set("Authorization", "Bearer "+tok)
		}
		h.Serve(&ctx)
		got := string(ctx.Response.Header.Peek("WWW-Authenticate"))
		if ctx.Response.StatusCode() != status || got != challenge {
			t.Fatalf("%s %s: %d %q %s, want %d %q", method, path, ctx.Response.StatusCode(), got, ctx.Response.Body(), status, challenge)
		}
	}
	push := issue("dev", "repository:open/app:pull,push repository:locked/app:push")
	f("GET", "/v2/", "", 401, realm)
	f("GET", "/v2/", push, 200, "")
	f("GET", "/v2/", "garbage", 401, realm)
	// Allowed, but this handler has no hosted registry.
	f("POST", "/v2/open/app/blobs/uploads/", push, 405, "")
	f("POST", "/v2/open/other/blobs/uploads/", push, 401, realm+`,scope="repository:open/other:pull,push"`)
	// The token endpoint never grants what the user may not do; had it,
	// the user's permission still decides.
	f("POST", "/v2/locked/app/blobs/uploads/", push, 403, "")
	f("POST", "/v2/locked/app/blobs/uploads/", "", 401, realm+`,scope="repository:locked/app:pull,push"`)
	f("DELETE", "/v2/open/app/manifests/v1", push, 401, realm+`,scope="repository:open/app:delete"`)
	// What anonymous callers may do needs no grant in the token.
	f("GET", "/v2/_catalog", push, 200, "")
	f("GET", "/v2/locked/app/tags/list", push, 404, "")
	f("POST", "/v2/open/app/blobs/uploads/?mount=sha256:"+strings.Repeat("a", 64)+"&from=base/img", "", 401,
		realm+`,scope="repository:open/app:pull,push repository:base/img:pull"`)
	// An expired token is refused, even for what needs no token at all.
	tokens.SetClock(func() time.Time { return time.Now().Add(2 * time.Second) })
	if _, err := tokens.Verify(push); !errors.Is(err, auth.ErrTokenExpired) {
		t.Fatalf("token did not expire: %v", err)
	}
	f("GET", "/v2/", push, 401, realm)
	f("POST", "/v2/open/app/blobs/uploads/", push, 401, realm+`,scope="repository:open/app:pull,push"`)
	f("GET", "/v2/_catalog", push, 401, realm+`,scope="registry:catalog:*"`)
}
