package pypi

import (
	"context"
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
// committed (hosted.Repo.Publish). Any failure stores nothing.
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
	// Refusals that need no form are answered before reading it.
	if !h.auth.WritesEnabled() {
		httpx.Drain(ctx)
		h.refuse(ctx, httpx.NoWrites, auth.Push, "")
		return
	}
	if id, present := httpx.Credentials(ctx, h.auth); present && id == nil {
		httpx.Drain(ctx)
		h.refuse(ctx, httpx.BadCredentials, auth.Push, "")
		return
	}
	mt, params, err := mime.ParseMediaType(string(ctx.Request.Header.ContentType()))
	if err != nil || mt != "multipart/form-data" || params["boundary"] == "" {
		httpx.Drain(ctx)
		reasonError(ctx, fasthttp.StatusBadRequest, "an upload is a multipart/form-data POST of the legacy upload API (twine upload --repository-url <nora>/simple/)")
		return
	}
	max := int64(h.cfg.MaxUploadSize)
	if cl := ctx.Request.Header.ContentLength(); cl > 0 && int64(cl) > max {
		httpx.Drain(ctx)
		reasonError(ctx, fasthttp.StatusRequestEntityTooLarge, fmt.Sprintf("the upload is larger than max_upload_size (%d bytes)", max))
		return
	}

	var (
		up         *hosted.Upload
		id         *auth.Identity
		project    string
		authorized bool
	)
	defer func() {
		if up != nil {
			up.Discard()
		}
	}()
	// authorize checks the push permission on the project as soon as its
	// name is known: before the file's bytes when the form sends it first.
	authorize := func(name string) bool {
		if !hosted.ValidName(name) {
			reasonError(ctx, fasthttp.StatusBadRequest, fmt.Sprintf("%q is not a valid project name", name))
			return false
		}
		project = hosted.NormalizeName(name)
		httpx.SetLogInfo(ctx, project, "")
		var d httpx.Decision
		if id, d = httpx.Authorize(ctx, h.auth, auth.Push, "pypi", project); d != httpx.Allowed {
			h.refuse(ctx, d, auth.Push, project)
			return false
		}
		authorized = true
		return true
	}
	body := &capReader{r: httpx.BodyReader(ctx), n: max}
	form, err := readForm(body, params["boundary"], func(filename string, fields map[string]string, r io.Reader) error {
		if name, ok := fields["name"]; ok && !authorize(name) {
			return errAnswered
		}
		var err error
		if up, err = h.hosted.NewUpload(); err != nil {
			return err
		}
		_, err = io.CopyBuffer(up, r, make([]byte, 128<<10))
		return err
	})
	if err != nil {
		httpx.Drain(ctx)
	}
	switch {
	case errors.Is(err, errAnswered):
		return
	case cache.IsNoSpace(err), httpx.LocalFault(err):
		// The temp file could not be written: ours, not the client's.
		h.hostedError(ctx, project, err)
		return
	case errors.Is(err, errTooLarge):
		reasonError(ctx, fasthttp.StatusRequestEntityTooLarge, fmt.Sprintf("the upload is larger than max_upload_size (%d bytes)", max))
		return
	case errors.Is(err, errForm):
		reasonError(ctx, fasthttp.StatusBadRequest, "cannot read the upload: "+err.Error())
		return
	case err != nil:
		h.deps.Log.Error("cannot receive pypi upload", "err", err)
		reasonError(ctx, fasthttp.StatusInternalServerError, "cannot receive the upload")
		return
	}
	fields := form.fields
	switch action := fields[":action"]; action {
	case "file_upload":
	case "submit":
		// "twine register": PyPI dropped it too; files create projects.
		reasonError(ctx, fasthttp.StatusGone, "registering a project is not needed: upload its files")
		return
	default:
		reasonError(ctx, fasthttp.StatusBadRequest, fmt.Sprintf("unsupported :action %q (only file_upload)", action))
		return
	}
	if up == nil {
		reasonError(ctx, fasthttp.StatusBadRequest, "the upload has no content part (the file)")
		return
	}
	if !authorized && !authorize(fields["name"]) {
		return
	}
	rel := hosted.Release{
		Name: fields["name"], Version: fields["version"], Filetype: fields["filetype"], PyVersion: fields["pyversion"],
		Filename: form.filename, SHA256: fields["sha256_digest"], MD5: fields["md5_digest"], Blake2b256: fields["blake2_256_digest"],
		RequiresPython: fields["requires_python"],
	}
	if id != nil {
		rel.Uploader = id.Name
	}
	wctx, cancel := context.WithTimeout(context.Background(), uploadTimeout)
	defer cancel()
	u := up
	up = nil // Publish consumes it
	f, created, err := h.hosted.Publish(wctx, u, rel)
	if err != nil {
		h.hostedError(ctx, project, err)
		return
	}
	h.deps.Log.Info("pypi upload", "project", project, "file", f.Filename, "size", f.Size, "user", rel.Uploader, "created", created)
	ctx.SetContentType("text/plain; charset=utf-8")
	ctx.SetBodyString("OK\n")
}
