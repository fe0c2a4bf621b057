package maven

import (
	"io"
	"strings"

	"github.com/valyala/fasthttp"

	"nora/internal/fault"
	"nora/proxy/httpx"
)

// A deployed file counts against the storage quota of its artifact's
// tenant (DESIGN 3.2 [[tenants]]), under the name permissions use
// ("com.acme:lib"). A declared Content-Length that passes it is refused
// before a byte is read; a body without one streams through the quota and
// is cut off as soon as it passes, its temp file removed. The refusal is
// 403 in plain text with the message (tenant and quota) as the reason
// phrase too: mvn prints the status and the reason, not the body.

// quotaBody is a deploy's body cut off at its tenant's quota; err is the
// quota's refusal once it cut the body.
type quotaBody struct {
	r   io.Reader
	err error
}

func (q *quotaBody) Read(p []byte) (int, error) {
	n, err := q.r.Read(p)
	if err != nil && fault.KindOf(err) == fault.Denied {
		q.err = err
	}
	return n, err
}

// deployFile stores the body of a PUT of an artifact file.
func (h *Handler) deployFile(ctx *fasthttp.RequestCtx, req request, user string) {
	length := int64(max(ctx.Request.Header.ContentLength(), -1))
	name := req.coordinate()
	if length > 0 {
		if err := httpx.ReserveQuota(ctx, "maven", name, 0, length); err != nil {
			httpx.Drain(ctx)
			overQuota(ctx, err)
			return
		}
	}
	body := &quotaBody{r: httpx.LimitQuota(ctx, "maven", name, 0, httpx.BodyReader(ctx))}
	created, err := h.hosted.Upload(h.life(), req.coord(), body, length, int64(h.cfg.MaxUploadSize), user)
	switch {
	case body.err != nil:
		httpx.Drain(ctx)
		overQuota(ctx, body.err)
		return
	case err != nil:
		if httpx.LocalFault(err) {
			httpx.Drain(ctx) // the store stopped reading it
		}
		h.hostedFail(ctx, req, err)
		return
	case created:
		h.deps.Log.Info("maven file deployed", "path", req.file, "user", user)
		if strings.HasSuffix(req.file, ".pom") { // one event per version deployed, not per file
			httpx.SetEvent(ctx, httpx.EventPublish, req.coord().Version, "", max(length, 0))
		}
		plainText(ctx, fasthttp.StatusCreated, "created")
		return
	}
	plainText(ctx, fasthttp.StatusOK, "already deployed with the same content")
}

// overQuota answers a deploy its tenant's quota refuses.
func overQuota(ctx *fasthttp.RequestCtx, err error) {
	msg := fault.Message(err)
	plainError(ctx, fasthttp.StatusForbidden, msg)
	ctx.Response.Header.SetStatusMessage([]byte(reasonPhrase(msg)))
}

// reasonPhrase is msg fit for a status line: printable ASCII, bounded.
func reasonPhrase(msg string) string {
	msg = strings.Map(func(r rune) rune {
		if r < ' ' || r > '~' {
			return ' '
		}
		return r
	}, msg)
	if len(msg) > 200 {
		msg = msg[:200]
	}
	return msg
}
