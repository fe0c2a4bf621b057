package maven

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"path"
	"strings"

	"github.com/valyala/fasthttp"

	"nora/auth"
	"nora/cache"
	hosted "nora/hosted/maven"
	"nora/internal/fault"
	"nora/proxy/httpx"
)

// authorize decides whether the request may do action on the artifact
// name ("com.acme:lib"), answering a refusal itself: 401 with a Basic
// challenge for missing or wrong credentials, 403 for a user without the
// permission or when nobody may write.
func (h *Handler) authorize(ctx *fasthttp.RequestCtx, action auth.Action, name string) (*auth.Identity, bool) {
	return httpx.Gate(ctx, h.auth, action, "maven", name, name, refusalError)
}

// refusalError is plainError; a rate limit's message (tenant, limit) is
// the reason phrase too, since mvn prints the status line, not the body.
func refusalError(ctx *fasthttp.RequestCtx, status int, msg string) {
	plainError(ctx, status, msg)
	if status == fasthttp.StatusTooManyRequests {
		ctx.Response.Header.SetStatusMessage([]byte(reasonPhrase(msg)))
	}
}

// isMetadata reports whether r is a maven-metadata.xml (or its checksum).
func (r request) isMetadata() bool { return path.Base(r.file) == metadataName }

// coordinate is the artifact r belongs to, as permissions name it:
// "com.acme:lib" (a SNAPSHOT's metadata belongs to its artifact; other
// metadata to the directory read as an artifact).
func (r request) coordinate() string {
	if !r.isMetadata() {
		return r.name
	}
	dir := path.Dir(r.file)
	if hosted.IsSnapshot(path.Base(dir)) && strings.Contains(dir, "/") {
		dir = path.Dir(dir)
	}
	return hosted.DirName(dir)
}

// coord is the hosted coordinate of an artifact file request.
func (r request) coord() hosted.Coord {
	segs := strings.Split(r.file, "/")
	n := len(segs)
	return hosted.Coord{Group: strings.Join(segs[:n-3], "/"), Artifact: segs[n-3], Version: segs[n-2], File: segs[n-1]}
}

// serveHosted answers GET and HEAD of a path under a hosted directory and
// reports true; false when the path is not hosted and belongs upstream.
func (h *Handler) serveHosted(ctx *fasthttp.RequestCtx, c context.Context, req request) bool {
	if req.isMetadata() {
		dir := path.Dir(req.file)
		if _, ok := h.hosted.MetadataOwner(c, dir); !ok {
			return false
		}
		b, err := h.hosted.Metadata(c, dir)
		if err != nil {
			h.hostedFail(ctx, req, err)
			return true
		}
		sum := sha256.Sum256(b)
		body, tag := b, hex.EncodeToString(sum[:])
		if req.sum != "" {
			hh := newHash(req.sum)
			hh.Write(b)
			tag = hex.EncodeToString(hh.Sum(nil))
			body = []byte(tag)
		}
		sendText(ctx, req, body, tag, "hosted", false)
		return true
	}
	co := req.coord()
	if !h.hosted.Hosted(co.Dir()) {
		return false
	}
	f, _, err := h.hosted.File(c, co)
	if err != nil {
		h.hostedFail(ctx, req, err)
		return true
	}
	if req.sum != "" {
		var sum string
		switch req.sum {
		case "sha1":
			sum = f.SHA1
		case "md5":
			sum = f.MD5
		default:
			if sum, err = h.localSum(c, f.Digest, req.sum); err != nil {
				h.hostedFail(ctx, req, fault.Wrap(fault.Internal, err, "cannot compute a hosted file's checksum"))
				return true
			}
		}
		sendText(ctx, req, []byte(sum), sum, "hosted", false)
		return true
	}
	obj, err := h.cache.Open(c, cache.BlobKey(f.Digest))
	if err != nil {
		// The state names it, so it must be there: not the client's 404.
		h.hostedFail(ctx, req, fault.Wrap(fault.Internal, err, "cannot open hosted file"))
		return true
	}
	httpx.SetLogInfo(ctx, req.name, "hosted")
	ctx.Response.Header.Set(fasthttp.HeaderETag, `"`+f.Digest.Encoded()+`"`)
	httpx.ServeContent(ctx, obj.Body, obj.Size, contentType(req.file))
	return true
}

// hostedFail answers a hosted-state error in plain text: the kinds hosted
// state refuses with reach the client with their message; anything else is
// nora's failure, told to the log.
func (h *Handler) hostedFail(ctx *fasthttp.RequestCtx, req request, err error) {
	switch {
	case cache.IsNoSpace(err):
		// Before the kinds: a body cut short by a full disk is not the
		// client's fault, and the error's text names paths of the store.
		h.deps.Log.Error("hosted maven: storage is full", "path", req.path(), "err", err)
		plainError(ctx, fasthttp.StatusInsufficientStorage, httpx.NoSpaceMessage)
		return
	case httpx.LocalFault(err):
		h.deps.Log.Error("hosted maven: storage failed", "path", req.path(), "err", err)
		plainError(ctx, fasthttp.StatusInternalServerError, "cannot serve "+req.path()+" from hosted state")
		return
	}
	msg := fault.Message(err)
	switch fault.KindOf(err) {
	case fault.NotFound, fault.Invalid, fault.NoSpace:
	case fault.Conflict:
		msg = req.path() + " is already deployed with other content; a release is immutable, deploy a new version"
	case fault.TooLarge:
		ctx.SetConnectionClose() // do not read the rest
	default:
		h.deps.Log.Warn("hosted maven request failed", "path", req.path(), "err", err)
		plainError(ctx, fasthttp.StatusInternalServerError, "cannot serve "+req.path()+" from hosted state")
		return
	}
	plainError(ctx, httpx.Status(err), msg)
}
