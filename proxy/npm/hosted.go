package npm

import (
	"bytes"
	"encoding/json"
	"errors"
	"hash/fnv"
	"strconv"
	"time"

	"github.com/valyala/fasthttp"

	"nora/auth"
	"nora/cache"
	hosted "nora/hosted/npm"
	"nora/internal/fault"
	"nora/proxy/httpx"
	"nora/proxy/pull"
)

// writeTimeout bounds the writes of a publish or unpublish once its body
// is in: a commit of up to max_publish_size into a store that cannot adopt
// files, and two small objects.
const writeTimeout = 10 * time.Minute

// loginMessage answers npm login: API tokens are not there yet.
const loginMessage = "npm login is not supported by this registry yet: put //<host>/npm/:_auth=<base64 of user:password> in .npmrc"

// authorize decides whether the request may do action on name, answering
// a refusal itself: 401 with a challenge for missing or wrong credentials,
// 403 for a user without the permission or when no one may write.
func (h *Handler) authorize(ctx *fasthttp.RequestCtx, action auth.Action, name string) bool {
	_, ok := h.authorizeID(ctx, action, name)
	return ok
}

func (h *Handler) authorizeID(ctx *fasthttp.RequestCtx, action auth.Action, name string) (*auth.Identity, bool) {
	id, d := httpx.Authorize(ctx, h.auth, action, "npm", name)
	if d == httpx.Allowed {
		return id, true
	}
	httpx.Refuse(ctx, d, action, name, npmError)
	if action != auth.Pull {
		ctx.SetConnectionClose() // the body is not read
	}
	return nil, false
}

// hostedError answers a failure of hosted state in npm's wire shape. Only
// the kinds hosted state classifies for the client show their message: the
// others name paths of the store.
func (h *Handler) hostedError(ctx *fasthttp.RequestCtx, err error, name string) {
	if cache.IsNoSpace(err) {
		h.deps.Log.Error("npm hosted state: storage is full", "package", name, "err", err)
		npmError(ctx, fasthttp.StatusInsufficientStorage, httpx.NoSpaceMessage)
		return
	}
	switch fault.KindOf(err) {
	case fault.Invalid, fault.NotFound, fault.Denied, fault.Conflict, fault.TooLarge:
	default:
		h.deps.Log.Error("npm hosted state failed", "package", name, "err", err)
		npmError(ctx, fasthttp.StatusInternalServerError, "internal error: the registry could not complete the request")
		return
	}
	status := httpx.Status(err)
	if errors.Is(err, hosted.ErrPublished) {
		status = fasthttp.StatusForbidden // the public registry's answer, which npm expects
	}
	npmError(ctx, status, fault.Message(err))
	if status == fasthttp.StatusRequestEntityTooLarge {
		ctx.SetConnectionClose() // do not read the rest
	}
}

// writeOK answers a write with CouchDB's shape, which npm ignores but
// scripts may read.
func writeOK(ctx *fasthttp.RequestCtx, status int, name string, p *hosted.Package) {
	ctx.SetStatusCode(status)
	ctx.SetContentType("application/json")
	out := map[string]any{"ok": true, "id": name}
	if p != nil {
		out["rev"] = p.RevString()
	}
	b, _ := json.Marshal(out)
	ctx.SetBody(b)
}

// put implements PUT /npm/<name> (npm publish, npm deprecate) and PUT
// /npm/<name>/-rev/<rev> (npm unpublish <name>@<version>: the packument
// without that version). The body is read only once the caller may write.
func (h *Handler) put(ctx *fasthttp.RequestCtx, name, rev string, remove bool) {
	httpx.SetLogInfo(ctx, name, "hosted")
	action := auth.Push
	if remove {
		action = auth.Delete
	}
	id, ok := h.authorizeID(ctx, action, name)
	if !ok {
		return
	}
	doc, ok := h.readPut(ctx, name)
	if !ok {
		return
	}
	// Writes finish even if the client goes away: each is atomic, but a
	// publish is several. Shutdown still ends them.
	wctx, cancel := h.deps.Detached(writeTimeout)
	defer cancel()
	user := ""
	if id != nil {
		user = id.Name
	}
	var p *hosted.Package
	var err error
	status := fasthttp.StatusOK
	switch {
	case doc.Attachment != nil && remove:
		doc.Attachment.Discard()
		npmError(ctx, fasthttp.StatusBadRequest, "a new version is published with PUT /npm/<name>")
		return
	case doc.Attachment != nil:
		if err = reserveTarball(ctx, name, doc.Attachment); err == nil {
			p, err = h.hosted.Publish(wctx, name, doc, user)
		}
		status = fasthttp.StatusCreated
	default:
		p, err = h.hosted.Update(wctx, name, doc, rev, remove)
	}
	if err != nil {
		h.hostedError(ctx, err, name)
		return
	}
	h.deps.Log.Info("npm package changed", "package", name, "user", user, "rev", p.RevString(), "publish", doc.Attachment != nil, "unpublish", remove)
	if a := doc.Attachment; a != nil { // a version unpublish is the DELETE of its tarball that follows
		httpx.SetEvent(ctx, httpx.EventPublish, a.Name, string(a.SHA256), a.Size)
	}
	writeOK(ctx, status, name, p)
}

// readPut reads the body of a PUT /npm/<name>, answering what cannot be
// taken: a compressed body, one over max_publish_size or the tenant's
// quota, a malformed document. The caller commits or discards its
// attachment.
func (h *Handler) readPut(ctx *fasthttp.RequestCtx, name string) (*hosted.Document, bool) {
	if ce := ctx.Request.Header.Peek(fasthttp.HeaderContentEncoding); len(ce) > 0 && !bytes.EqualFold(ce, []byte("identity")) {
		npmError(ctx, fasthttp.StatusUnsupportedMediaType, "compressed request bodies are not supported")
		ctx.SetConnectionClose()
		return nil, false
	}
	if cl := ctx.Request.Header.ContentLength(); cl > 0 && int64(cl) > h.limits.MaxBody {
		// A body a little over the cap is read and dropped, so the client
		// gets the 413 rather than a reset connection; a larger one is cut.
		httpx.Drain(ctx)
		h.hostedError(ctx, hosted.ErrTooLarge, name)
		return nil, false
	}
	if !h.admitDeclared(ctx, name) {
		return nil, false
	}
	body := httpx.BodyReader(ctx)
	if ctx.Request.Header.ContentLength() < 0 {
		body = &quotaBody{ctx: ctx, h: h, name: name, r: body}
	}
	doc, err := hosted.ReadDocument(body, h.cache.TempDir(), h.limits)
	if err != nil {
		if httpx.LocalFault(err) {
			// The tarball's temp file could not be written: ours.
			httpx.Drain(ctx)
			h.hostedError(ctx, err, name)
			return nil, false
		}
		if fault.KindOf(err) == fault.Denied {
			httpx.Drain(ctx) // cut off by the quota: let the client read the answer
		}
		var classified *fault.Error
		if !errors.As(err, &classified) {
			// The client went away or sent a broken body.
			h.deps.Log.Warn("cannot read an npm publish", "package", name, "err", err)
			npmError(ctx, fasthttp.StatusBadRequest, "cannot read the request body")
			ctx.SetConnectionClose()
			return nil, false
		}
		h.hostedError(ctx, err, name)
		return nil, false
	}
	return doc, true
}

// unpublishAll implements DELETE /npm/<name>/-rev/<rev> (npm unpublish
// <name> --force, or of the last version).
func (h *Handler) unpublishAll(ctx *fasthttp.RequestCtx, name, rev string) {
	httpx.SetLogInfo(ctx, name, "hosted")
	id, ok := h.authorizeID(ctx, auth.Delete, name)
	if !ok {
		return
	}
	wctx, cancel := h.deps.Detached(writeTimeout)
	defer cancel()
	p, err := h.hosted.Unpublish(wctx, name, rev)
	if err != nil {
		h.hostedError(ctx, err, name)
		return
	}
	if id != nil {
		h.deps.Log.Info("npm package unpublished", "package", name, "user", id.Name)
	}
	httpx.SetEvent(ctx, httpx.EventDelete, "", "", 0)
	writeOK(ctx, fasthttp.StatusOK, name, p)
}

// deleteTarball implements DELETE /npm/<name>/-/<file>/-rev/<rev>, npm
// unpublish's last step.
func (h *Handler) deleteTarball(ctx *fasthttp.RequestCtx, name, file, rev string) {
	httpx.SetLogInfo(ctx, name, "hosted")
	if !h.authorize(ctx, auth.Delete, name) {
		return
	}
	if err := h.hosted.RemoveTarball(ctx, name, file, rev); err != nil {
		h.hostedError(ctx, err, name)
		return
	}
	httpx.SetEvent(ctx, httpx.EventDelete, file, "", 0)
	writeOK(ctx, fasthttp.StatusOK, name, nil)
}

// maxTagBody caps the body of a dist-tag PUT: a JSON string, a version.
const maxTagBody = 1 << 10

// distTags implements /npm/-/package/<name>/dist-tags: GET lists them
// (npm dist-tag ls), PUT (or POST) and DELETE of .../<tag> set and remove
// one (npm dist-tag add, rm). Only hosted packages can be changed; the
// tags of proxied ones are read from the upstream packument.
func (h *Handler) distTags(ctx *fasthttp.RequestCtx, req request) {
	httpx.SetLogInfo(ctx, req.name, "")
	read := ctx.IsGet() || ctx.IsHead()
	switch {
	case read && req.tag == "":
		if h.authorize(ctx, auth.Pull, req.name) {
			h.listTags(ctx, req.name)
		}
		return
	case req.tag == "":
		methodNotAllowed(ctx, "GET, HEAD")
		return
	case !ctx.IsPut() && !ctx.IsPost() && !ctx.IsDelete():
		methodNotAllowed(ctx, "PUT, DELETE")
		return
	}
	httpx.SetLogInfo(ctx, req.name, "hosted")
	if !h.authorize(ctx, auth.Push, req.name) {
		return
	}
	if !h.hosted.Hosted(req.name) {
		npmError(ctx, fasthttp.StatusNotFound, "package "+req.name+" is not hosted here: only hosted packages have dist-tags to change")
		return
	}
	var p *hosted.Package
	var err error
	if ctx.IsDelete() {
		p, err = h.hosted.RemoveTag(ctx, req.name, req.tag)
	} else {
		b, rerr := httpx.ReadBody(ctx, maxTagBody)
		if st := httpx.BodyStatus(rerr); rerr != nil && st != fasthttp.StatusBadRequest {
			npmError(ctx, st, rerr.Error()) // 503 busy, 408 too slow, 413
			return
		}
		var ver string
		if rerr != nil || json.Unmarshal(b, &ver) != nil {
			npmError(ctx, fasthttp.StatusBadRequest, "the body must be the version, as a JSON string")
			return
		}
		p, err = h.hosted.SetTag(ctx, req.name, req.tag, ver)
	}
	if err != nil {
		h.hostedError(ctx, err, req.name)
		return
	}
	writeOK(ctx, fasthttp.StatusOK, req.name, p)
}

func (h *Handler) listTags(ctx *fasthttp.RequestCtx, name string) {
	var body []byte
	if h.isHosted(name) {
		httpx.SetLogInfo(ctx, name, "hosted")
		p, err := h.hosted.Get(ctx, name)
		if err == nil && len(p.Versions) == 0 {
			err = fault.New(fault.NotFound, "package "+name+" not found")
		}
		if err != nil {
			h.hostedError(ctx, err, name)
			return
		}
		if body, err = p.DistTagsJSON(); err != nil {
			h.hostedError(ctx, err, name)
			return
		}
	} else {
		doc, err := h.doc(ctx, name, true)
		if err != nil {
			h.pullError(ctx, err, "package "+name)
			return
		}
		httpx.SetLogInfo(ctx, name, doc.Result)
		var tags struct {
			DistTags map[string]string `json:"dist-tags"`
		}
		if err := json.Unmarshal(doc.Body, &tags); err != nil {
			h.pullError(ctx, fault.Wrap(fault.BadUpstream, err, "cannot read dist-tags"), "packument")
			return
		}
		if tags.DistTags == nil {
			tags.DistTags = map[string]string{}
		}
		body, _ = json.Marshal(tags.DistTags)
	}
	ctx.SetContentType("application/json")
	setBody(ctx, body)
}

// whoami implements GET /npm/-/whoami: the user the credentials name.
func (h *Handler) whoami(ctx *fasthttp.RequestCtx) {
	id, d := httpx.Login(ctx, h.auth)
	if d == httpx.TooManyAttempts {
		httpx.Refuse(ctx, d, auth.Pull, "", npmError)
		return
	}
	if id == nil {
		msg := "not logged in: put //<host>/npm/:_authToken=<token> (or _auth=<base64 of user:password>) in .npmrc"
		if d == httpx.BadCredentials {
			msg = "invalid user name or password"
		}
		npmError(ctx, fasthttp.StatusUnauthorized, msg)
		ctx.Response.Header.Set(fasthttp.HeaderWWWAuthenticate, httpx.BasicChallenge)
		return
	}
	b, _ := json.Marshal(map[string]string{"username": id.Name})
	ctx.SetContentType("application/json")
	ctx.SetBody(b)
}

// hostedPackument implements GET /npm/<name> of a hosted package, built
// from hosted state for the client's base URL. Nothing is asked upstream,
// even when the name is claimed by hosted_names and has no version yet.
func (h *Handler) hostedPackument(ctx *fasthttp.RequestCtx, name string) {
	httpx.SetLogInfo(ctx, name, "hosted")
	abbreviated := bytes.Contains(ctx.Request.Header.Peek("Accept"), []byte(mediaAbbreviated))
	p, err := h.hosted.Get(ctx, name)
	switch {
	case fault.KindOf(err) == fault.NotFound:
		npmError(ctx, fasthttp.StatusNotFound, "package "+name+" not found")
		return
	case err != nil:
		h.hostedError(ctx, err, name)
		return
	case len(p.Versions) == 0:
		npmError(ctx, fasthttp.StatusNotFound, "package "+name+" not found: all its versions were unpublished")
		return
	}
	base := pull.BaseURL(ctx, h.deps.PublicURL)
	f := fnv.New64a()
	f.Write([]byte(base))
	shape := "f"
	if abbreviated {
		shape = "a"
	}
	etag := `"` + p.RevString() + "-" + strconv.FormatUint(f.Sum64(), 36) + "-" + shape + `"`
	hdr := &ctx.Response.Header
	hdr.Set("Vary", "Accept")
	hdr.Set("ETag", etag)
	if httpx.NotModified(ctx, etag) {
		ctx.SetStatusCode(fasthttp.StatusNotModified)
		ctx.Response.SkipBody = true
		return
	}
	body, err := p.Packument(base+"/npm/", abbreviated)
	if err != nil {
		h.hostedError(ctx, err, name)
		return
	}
	if abbreviated {
		hdr.SetContentType(mediaAbbreviated)
	} else {
		hdr.SetContentType("application/json")
	}
	setBody(ctx, body)
}

// hostedTarball implements GET /npm/<name>/-/<file> of a hosted package,
// from the content-addressed store, verified when it was published.
func (h *Handler) hostedTarball(ctx *fasthttp.RequestCtx, name, file string) {
	httpx.SetLogInfo(ctx, name, "hosted")
	_, obj, err := h.hosted.Tarball(ctx, name, file)
	if err != nil {
		h.hostedError(ctx, err, name)
		return
	}
	httpx.ServeContent(ctx, obj.Body, obj.Size, "application/octet-stream")
}
