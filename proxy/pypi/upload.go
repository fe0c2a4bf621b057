package pypi

import (
	"errors"
	"fmt"
	"io"
	"mime"
	"time"

	"github.com/valyala/fasthttp"

	"nora/auth"
	"nora/cache"
	hosted "nora/hosted/pypi"
	"nora/proxy/httpx"
)

// uploadTimeout bounds committing an upload once its body is in: a rename
// on disk, but a copy of up to max_upload_size into a store that cannot
// adopt files.
const uploadTimeout = 10 * time.Minute

// errAnswered means the refusal was written already.
var errAnswered = errors.New("request answered")

// upload implements POST /simple/: the legacy upload API that twine (and
// flit, poetry, uv) publish with, as `twine upload --repository-url
// http://nora:4000/simple/ dist/*`. The body is a multipart form: metadata
// fields (":action=file_upload", name, version, filetype, sha256_digest,
// ...), then the file as the "content" part. It streams to a temp file,
// capped at max_upload_size; the declared digests are verified, the file
// name must be a wheel or sdist of name and version, and only then is it
// committed (hosted.Registry.Publish). Any failure stores nothing.
//
// Uploading makes the project hosted (DESIGN 2.4): from then on its pages
// and files come from hosted state only, even if it was proxied before.
//
// Answers as PyPI's: 200 when stored (also for the same bytes uploaded
// again), 400 "File already exists" for a file name taken by other bytes
// (twine --skip-existing skips on it), 400 with the reason for anything
// inconsistent, 401/403 for credentials and permissions.
func (h *Handler) upload(ctx *fasthttp.RequestCtx) {
	httpx.SetLogInfo(ctx, "", "")
	boundary, ok := h.admitUpload(ctx)
	if !ok {
		return
	}
	u := &uploadRequest{h: h, ctx: ctx}
	defer u.discard()
	form, ok := u.receive(boundary)
	if !ok {
		return
	}
	rel, ok := u.release(form)
	if !ok || !u.reserveFile() {
		return
	}
	wctx, cancel := h.deps.Detached(uploadTimeout)
	defer cancel()
	up := u.up
	u.up = nil // Publish consumes it
	f, created, err := h.hosted.Publish(wctx, up, rel)
	if err != nil {
		h.hostedError(ctx, u.project, err)
		return
	}
	h.deps.Log.Info("pypi upload", "project", u.project, "file", f.Filename, "size", f.Size, "user", rel.Uploader, "created", created)
	httpx.SetEvent(ctx, httpx.EventPublish, f.Filename, string(f.Digest()), f.Size)
	ctx.SetContentType("text/plain; charset=utf-8")
	ctx.SetBodyString("OK\n")
}

// admitUpload answers the refusals that need no form, before reading it
// (the body is drained), and returns the form's multipart boundary.
func (h *Handler) admitUpload(ctx *fasthttp.RequestCtx) (boundary string, ok bool) {
	refuse := func(d httpx.Decision) (string, bool) {
		httpx.Drain(ctx)
		h.refuse(ctx, d, auth.Push, "")
		return "", false
	}
	if !h.auth.WritesEnabled() {
		return refuse(httpx.NoWrites)
	}
	if _, d := httpx.Login(ctx, h.auth); d != httpx.Allowed {
		return refuse(d)
	}
	mt, params, err := mime.ParseMediaType(string(ctx.Request.Header.ContentType()))
	if err != nil || mt != "multipart/form-data" || params["boundary"] == "" {
		httpx.Drain(ctx)
		reasonError(ctx, fasthttp.StatusBadRequest, "an upload is a multipart/form-data POST of the legacy upload API (twine upload --repository-url <nora>/simple/)")
		return "", false
	}
	if cl := ctx.Request.Header.ContentLength(); cl > 0 && int64(cl) > int64(h.cfg.MaxUploadSize) {
		httpx.Drain(ctx)
		h.tooLarge(ctx)
		return "", false
	}
	return params["boundary"], true
}

func (h *Handler) tooLarge(ctx *fasthttp.RequestCtx) {
	reasonError(ctx, fasthttp.StatusRequestEntityTooLarge, fmt.Sprintf("the upload is larger than max_upload_size (%d bytes)", int64(h.cfg.MaxUploadSize)))
}

// uploadRequest is one upload on its way in: what the form has told so far.
type uploadRequest struct {
	h          *Handler
	ctx        *fasthttp.RequestCtx
	up         *hosted.Upload // the file, once its part began
	id         *auth.Identity
	project    string // normalized, once the name field was read
	authorized bool
	boundary   string
	body       *countReader // the body as the form reads it
}

// discard drops the file of an upload that was not published.
func (u *uploadRequest) discard() {
	if u.up != nil {
		u.up.Discard()
	}
}

// authorize checks the push permission on the project as soon as its name
// is known: before the file's bytes when the form sends it first.
func (u *uploadRequest) authorize(name string) bool {
	if !hosted.ValidName(name) {
		reasonError(u.ctx, fasthttp.StatusBadRequest, fmt.Sprintf("%q is not a valid project name", name))
		return false
	}
	u.project = hosted.NormalizeName(name)
	httpx.SetLogInfo(u.ctx, u.project, "")
	var d httpx.Decision
	if u.id, d = httpx.Authorize(u.ctx, u.h.auth, auth.Push, "pypi", u.project); d != httpx.Allowed {
		u.h.refuse(u.ctx, d, auth.Push, u.project)
		return false
	}
	u.authorized = true
	return true
}

// receive reads the form, streaming the file to a temp file, and answers
// a body that cannot be taken.
func (u *uploadRequest) receive(boundary string) (*uploadForm, bool) {
	u.boundary, u.body = boundary, &countReader{r: httpx.BodyReader(u.ctx)}
	body := &capReader{r: u.body, n: int64(u.h.cfg.MaxUploadSize)}
	form, err := readForm(body, boundary, u.content)
	if err == nil {
		return form, true
	}
	httpx.Drain(u.ctx)
	switch {
	case errors.Is(err, errAnswered):
	case isOverQuota(err):
		overQuota(u.ctx, err)
	case cache.IsNoSpace(err), httpx.LocalFault(err):
		// The temp file could not be written: ours, not the client's.
		u.h.hostedError(u.ctx, u.project, err)
	case errors.Is(err, errTooLarge):
		u.h.tooLarge(u.ctx)
	case errors.Is(err, errForm):
		reasonError(u.ctx, fasthttp.StatusBadRequest, "cannot read the upload: "+err.Error())
	default:
		u.h.deps.Log.Error("cannot receive pypi upload", "err", err)
		reasonError(u.ctx, fasthttp.StatusInternalServerError, "cannot receive the upload")
	}
	return nil, false
}

// content takes the form's file part, once the caller may push to the
// project the fields before it name.
func (u *uploadRequest) content(_ string, fields map[string]string, r io.Reader) error {
	if name, ok := fields["name"]; ok && !u.authorize(name) {
		return errAnswered
	}
	if u.authorized {
		q, err := u.quotaContent(r)
		if err != nil {
			return err
		}
		r = q
	}
	var err error
	if u.up, err = u.h.hosted.NewUpload(); err != nil {
		return err
	}
	_, err = io.CopyBuffer(u.up, r, make([]byte, 128<<10))
	return err
}

// release checks the form's action and file and returns what the upload
// declares, answering a refusal itself.
func (u *uploadRequest) release(form *uploadForm) (hosted.Release, bool) {
	fields := form.fields
	switch action := fields[":action"]; action {
	case "file_upload":
	case "submit":
		// "twine register": PyPI dropped it too; files create projects.
		reasonError(u.ctx, fasthttp.StatusGone, "registering a project is not needed: upload its files")
		return hosted.Release{}, false
	default:
		reasonError(u.ctx, fasthttp.StatusBadRequest, fmt.Sprintf("unsupported :action %q (only file_upload)", action))
		return hosted.Release{}, false
	}
	if u.up == nil {
		reasonError(u.ctx, fasthttp.StatusBadRequest, "the upload has no content part (the file)")
		return hosted.Release{}, false
	}
	if !u.authorized && !u.authorize(fields["name"]) {
		return hosted.Release{}, false
	}
	rel := hosted.Release{
		Name: fields["name"], Version: fields["version"], Filetype: fields["filetype"], PyVersion: fields["pyversion"],
		Filename: form.filename, SHA256: fields["sha256_digest"], MD5: fields["md5_digest"], Blake2b256: fields["blake2_256_digest"],
		RequiresPython: fields["requires_python"],
	}
	if u.id != nil {
		rel.Uploader = u.id.Name
	}
	return rel, true
}
