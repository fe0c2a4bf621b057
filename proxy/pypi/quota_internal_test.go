package pypi

import (
	"errors"
	"io"
	"testing"

	"github.com/valyala/fasthttp"

	"nora/auth/tenant"
	"nora/internal/fault"
	"nora/proxy/httpx"
)

// untouched fails a test that reads it.
type untouched struct{ t *testing.T }

func (u untouched) Read([]byte) (int, error) {
	u.t.Error("the file part was read")
	return 0, io.EOF
}

// TestQuotaBeforeTheFile: a file part whose form declares more bytes left
// than the tenant's quota holds is refused before a byte of it is read;
// one that fits is let through.
func TestQuotaBeforeTheFile(t *testing.T) {
	set, err := tenant.New(tenant.Options{Tenants: []tenant.Config{{Name: "web", Prefixes: []string{"pypi:web-*"}, StorageQuota: 1000}}})
	if err != nil {
		t.Fatal(err)
	}
	closing := int64(len("\r\n--" + testBoundary + "--"))
	for _, c := range []struct {
		project       string
		length, ahead int64 // the declared form, the bytes read before the file
		refused       bool
	}{
		{"web-lib", 5000, 600, true},
		{"web-lib", 1600 + closing, 600, false}, // exactly the quota
		{"web-lib", 1601 + closing, 600, true},
		{"other", 5000, 600, false}, // the default tenant has no quota
	} {
		var ctx fasthttp.RequestCtx
		ctx.Request.Header.SetContentLength(int(c.length))
		httpx.AttachTenants(&ctx, set)
		u := &uploadRequest{ctx: &ctx, project: c.project, boundary: testBoundary, body: &countReader{n: c.ahead}}
		_, err := u.quotaContent(untouched{t})
		if refused := err != nil; refused != c.refused || (refused && !errors.Is(err, fault.Denied)) {
			t.Fatalf("%s, %d declared, %d read: %v", c.project, c.length, c.ahead, err)
		}
	}
}
