package docker

import (
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/opencontainers/go-digest"
	"github.com/valyala/fasthttp"

	"nora/auth"
	"nora/hosted/oci"
	"nora/internal/fault"
	"nora/proxy/httpx"
	"nora/proxy/pull"
)

// upload implements /v2/<name>/blobs/uploads/[<id>]: POST starts a session
// (or uploads monolithically with ?digest=, or mounts with ?mount=), PATCH
// appends a chunk, PUT ?digest= finishes, GET reports progress, DELETE
// cancels. Sessions belong to the user who started them.
func (h *Handler) upload(ctx *fasthttp.RequestCtx, req request, owner string, id *auth.Identity) {
	if ctx.IsPost() {
		if req.ref != "" {
			ociError(ctx, codeUnsupported, "POST starts a session: /v2/<name>/blobs/uploads/")
			return
		}
		h.startUpload(ctx, req.name, owner, id)
		return
	}
	u, err := h.hosted.OpenUpload(req.name, owner, req.ref)
	if err != nil {
		h.hostedError(ctx, err)
		return
	}
	defer h.hosted.Release(u)
	switch {
	case ctx.IsGet(), ctx.IsHead():
		setUploadHeaders(ctx, req.name, u)
		ctx.SetStatusCode(fasthttp.StatusNoContent)
	case ctx.IsPatch():
		if h.writeChunk(ctx, req.name, u) {
			setUploadHeaders(ctx, req.name, u)
			ctx.SetStatusCode(fasthttp.StatusAccepted)
		}
	case ctx.IsPut():
		h.finishUpload(ctx, req.name, u)
	case ctx.IsDelete():
		h.hosted.Cancel(u)
		ctx.SetStatusCode(fasthttp.StatusNoContent)
	default:
		ociError(ctx, codeUnsupported, "method not supported for an upload session")
	}
}

func (h *Handler) startUpload(ctx *fasthttp.RequestCtx, name, owner string, id *auth.Identity) {
	q := ctx.QueryArgs()
	if m := q.Peek("mount"); len(m) > 0 {
		if done := h.mount(ctx, name, string(m), string(q.Peek("from")), id); done {
			return
		}
	}
	var want digest.Digest
	if v := q.Peek("digest"); len(v) > 0 {
		d, err := parseDigest(string(v))
		if err != nil {
			ociError(ctx, codeDigestInvalid, "invalid digest")
			return
		}
		want = d
	}
	declared := int64(ctx.Request.Header.ContentLength())
	if want != "" && declared > h.maxUpload() {
		h.tooLarge(ctx)
		return
	}
	if want != "" && declared >= 0 && !h.reserve(ctx, name, nil, 0, declared) {
		return
	}
	u, err := h.hosted.StartUpload(name, owner)
	if err != nil {
		h.hostedError(ctx, err)
		return
	}
	defer h.hosted.Release(u)
	if want == "" {
		setUploadHeaders(ctx, name, u)
		ctx.SetStatusCode(fasthttp.StatusAccepted)
		return
	}
	// Monolithic: the whole blob is this request's body.
	if _, err := u.Write(h.uploadBody(ctx, name, u, declared), -1, declared); err != nil {
		h.hosted.Cancel(u)
		if errors.Is(err, errTooLarge) {
			h.tooLarge(ctx)
			return
		}
		if errors.Is(err, fault.Denied) {
			h.overQuota(ctx, err)
			return
		}
		if httpx.LocalFault(err) {
			httpx.Drain(ctx)
		}
		h.hostedError(ctx, err)
		return
	}
	h.commit(ctx, name, u, want)
}

// mount links an existing blob into name (201) and reports true, or
// reports false when the client must upload it (a new session follows).
func (h *Handler) mount(ctx *fasthttp.RequestCtx, name, mount, from string, id *auth.Identity) bool {
	d, err := parseDigest(mount)
	if err != nil {
		ociError(ctx, codeDigestInvalid, "invalid mount digest")
		return true
	}
	if from != "" && (!validName(from) || !h.auth.Allowed(id, auth.Pull, "docker", from)) {
		return false
	}
	if !h.reserveMount(ctx, name, d, from) {
		return true
	}
	wctx, cancel := pull.Detached(h.base, metaTimeout)
	defer cancel()
	ok, err := h.hosted.Mount(wctx, name, d, from)
	if err != nil {
		h.hostedError(ctx, err)
		return true
	}
	if !ok {
		return false
	}
	blobCreated(ctx, name, d)
	return true
}

// writeChunk streams the request body into the session, honouring an
// optional Content-Range. It reports false when the answer was written.
func (h *Handler) writeChunk(ctx *fasthttp.RequestCtx, name string, u *oci.Upload) bool {
	start, length := int64(-1), int64(ctx.Request.Header.ContentLength())
	if cr := ctx.Request.Header.Peek(fasthttp.HeaderContentRange); len(cr) > 0 {
		s, e, ok := parseContentRange(string(cr))
		if !ok {
			ociError(ctx, codeBlobUploadInvalid, "malformed Content-Range; want <start>-<end>")
			return false
		}
		if length >= 0 && length != e-s+1 {
			ociError(ctx, codeBlobUploadInvalid, "Content-Length does not match Content-Range")
			ctx.SetConnectionClose()
			return false
		}
		start, length = s, e-s+1
	}
	// The session's total counts, not the chunk's: a blob that cannot fit
	// ends its session, whose bytes could never be committed.
	end := max(start, u.Size())
	if length >= 0 && length > h.maxUpload()-end {
		h.hosted.Cancel(u)
		h.tooLarge(ctx)
		return false
	}
	// Over the tenant's quota the session ends as well: what it holds
	// could never be committed.
	if length >= 0 && !h.reserve(ctx, name, u, end, length) {
		return false
	}
	if _, err := u.Write(h.uploadBody(ctx, name, u, length), start, length); err != nil {
		if errors.Is(err, errTooLarge) {
			h.hosted.Cancel(u)
			h.tooLarge(ctx)
			return false
		}
		if errors.Is(err, fault.Denied) {
			h.hosted.Cancel(u)
			h.overQuota(ctx, err)
			return false
		}
		if httpx.LocalFault(err) {
			// The store failed, not the client: the session cannot go on,
			// and its temp file must not hold the space.
			h.hosted.Cancel(u)
			httpx.Drain(ctx)
			h.hostedError(ctx, err)
			return false
		}
		h.hostedError(ctx, err)
		if errors.Is(err, oci.ErrRangeInvalid) {
			setUploadHeaders(ctx, name, u)
		}
		if errors.Is(err, oci.ErrTruncated) {
			ctx.SetConnectionClose()
		}
		return false
	}
	return true
}

func (h *Handler) finishUpload(ctx *fasthttp.RequestCtx, name string, u *oci.Upload) {
	d, err := parseDigest(string(ctx.QueryArgs().Peek("digest")))
	if err != nil {
		ociError(ctx, codeDigestInvalid, "PUT needs ?digest= with a valid digest")
		return
	}
	if ctx.Request.Header.ContentLength() != 0 || len(ctx.Request.Header.Peek(fasthttp.HeaderContentRange)) > 0 {
		if !h.writeChunk(ctx, name, u) {
			return
		}
	}
	h.commit(ctx, name, u, d)
}

// commit verifies and commits the session as blob d of name: 201.
func (h *Handler) commit(ctx *fasthttp.RequestCtx, name string, u *oci.Upload, d digest.Digest) {
	wctx, cancel := pull.Detached(h.base, metaTimeout)
	defer cancel()
	if err := h.hosted.Commit(wctx, u, d); err != nil {
		h.hostedError(ctx, err)
		return
	}
	blobCreated(ctx, name, d)
}

// blobCreated answers 201 for blob d, now in repository name.
func blobCreated(ctx *fasthttp.RequestCtx, name string, d digest.Digest) {
	ctx.Response.Header.Set("Location", "/v2/"+name+"/blobs/"+string(d))
	ctx.Response.Header.Set("Docker-Content-Digest", string(d))
	ctx.SetStatusCode(fasthttp.StatusCreated)
}

// maxUpload is [docker] max_upload_size; a Config built in code without
// it gets the default.
func (h *Handler) maxUpload() int64 {
	if h.cfg.MaxUploadSize > 0 {
		return int64(h.cfg.MaxUploadSize)
	}
	return DefaultMaxUploadSize
}

// errTooLarge is a blob past max_upload_size.
var errTooLarge = fault.New(fault.TooLarge, "blob is larger than max_upload_size")

// capped is the request body, failing with errTooLarge once session u
// would pass max_upload_size: a body of undeclared length (chunked) is
// cut there.
func (h *Handler) capped(ctx *fasthttp.RequestCtx, u *oci.Upload) io.Reader {
	return &capReader{r: httpx.BodyReader(ctx), left: h.maxUpload() - u.Size()}
}

type capReader struct {
	r    io.Reader
	left int64
}

func (c *capReader) Read(p []byte) (int, error) {
	if int64(len(p)) > c.left {
		p = p[:max(c.left, 0)+1] // one byte more tells a body over the cap
	}
	n, err := c.r.Read(p)
	if int64(n) > c.left {
		n, c.left = int(max(c.left, 0)), -1
		return n, errTooLarge
	}
	c.left -= int64(n)
	return n, err
}

// tooLarge answers a blob past max_upload_size: 413 with SIZE_INVALID,
// which go-containerregistry does not retry as it does
// BLOB_UPLOAD_INVALID. The rest of the body is not read: the connection
// closes.
func (h *Handler) tooLarge(ctx *fasthttp.RequestCtx) {
	ociErrorStatus(ctx, fasthttp.StatusRequestEntityTooLarge, codeSizeInvalid,
		fmt.Sprintf("the blob is larger than this registry accepts ([docker] max_upload_size, %d bytes)", h.maxUpload()))
	ctx.SetConnectionClose()
}

func setUploadHeaders(ctx *fasthttp.RequestCtx, name string, u *oci.Upload) {
	end := max(u.Size()-1, 0)
	ctx.Response.Header.Set("Location", "/v2/"+name+"/blobs/uploads/"+u.ID())
	ctx.Response.Header.Set("Docker-Upload-UUID", u.ID())
	ctx.Response.Header.Set("Range", "0-"+strconv.FormatInt(end, 10))
}

// parseContentRange parses a chunk's Content-Range: the spec's
// "<start>-<end>" (inclusive), also with a "bytes " or "bytes=" unit and a
// "/<total>" or "/*" suffix, as some clients send.
func parseContentRange(s string) (start, end int64, ok bool) {
	s = strings.TrimSpace(s)
	if len(s) >= 6 && strings.EqualFold(s[:5], "bytes") && (s[5] == ' ' || s[5] == '=') {
		s = strings.TrimSpace(s[6:])
	}
	if i := strings.IndexByte(s, '/'); i >= 0 {
		total := s[i+1:]
		if total != "*" && !allDigits(total) {
			return 0, 0, false
		}
		s = s[:i]
	}
	a, b, found := strings.Cut(s, "-")
	if !found || !allDigits(a) || !allDigits(b) {
		return 0, 0, false
	}
	var err error
	if start, err = strconv.ParseInt(a, 10, 64); err != nil {
		return 0, 0, false
	}
	if end, err = strconv.ParseInt(b, 10, 64); err != nil || end < start {
		return 0, 0, false
	}
	return start, end, true
}

func allDigits(s string) bool {
	if s == "" || len(s) > 19 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
