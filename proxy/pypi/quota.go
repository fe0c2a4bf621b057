package pypi

import (
	"io"

	"github.com/valyala/fasthttp"

	"nora/internal/fault"
	"nora/proxy/httpx"
)

// An upload counts against the storage quota of its project's tenant
// (DESIGN 3.2 [[tenants]]) with the distribution file's bytes. When the
// file part begins, the form's declared length still unread (less its
// closing boundary: twine sends the file last) is reserved before a byte
// of it is written; then the part streams through the quota and is cut
// off as soon as it passes, its temp file removed. A file whose project
// the form names only after it is checked whole before it is committed.
// A refusal is 403 with the message (tenant and quota) as the reason
// phrase, which twine prints, and as the plain-text body.

// countReader counts the bytes read through it.
type countReader struct {
	r io.Reader
	n int64
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// declaredLeft is the form's declared length not read yet, less its
// closing boundary; 0 when the body's length is not declared.
func (u *uploadRequest) declaredLeft() int64 {
	cl := int64(u.ctx.Request.Header.ContentLength())
	if cl <= 0 || u.body == nil {
		return 0
	}
	return max(cl-u.body.n-int64(len("\r\n--"+u.boundary+"--")), 0)
}

// quotaContent refuses the file part whose declared length passes the
// project's quota and returns it cut off at the quota.
func (u *uploadRequest) quotaContent(r io.Reader) (io.Reader, error) {
	if left := u.declaredLeft(); left > 0 {
		if err := httpx.ReserveQuota(u.ctx, "pypi", u.project, 0, left); err != nil {
			return nil, err
		}
	}
	return httpx.LimitQuota(u.ctx, "pypi", u.project, 0, r), nil
}

// overQuota answers an upload the tenant's quota refuses.
func overQuota(ctx *fasthttp.RequestCtx, err error) {
	reasonError(ctx, fasthttp.StatusForbidden, fault.Message(err))
}

// isOverQuota reports whether err is the quota's refusal.
func isOverQuota(err error) bool { return fault.KindOf(err) == fault.Denied }

// reserveFile refuses a received file that passes the project's quota (its
// project was named after it, or the file ran past a quota that grew
// meanwhile), answering the refusal itself.
func (u *uploadRequest) reserveFile() bool {
	if err := httpx.ReserveQuota(u.ctx, "pypi", u.project, 0, u.up.Size()); err != nil {
		overQuota(u.ctx, err)
		return false
	}
	return true
}
