package docker

import (
	"encoding/base64"
	"log/slog"
	"strings"
	"testing"

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
