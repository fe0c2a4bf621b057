package pypi

import (
	"strings"

	"github.com/valyala/fasthttp"

	"nora/cache"
	hosted "nora/hosted/pypi"
	"nora/internal/fault"
	"nora/proxy/httpx"
	"nora/proxy/pull"
)

// uploadTimeLayout is PEP 700's upload-time format.
const uploadTimeLayout = "2006-01-02T15:04:05.000000Z"

// serveHostedPage implements GET /simple/<project>/ of a hosted project,
// rendered like a proxied page: "#sha256=", data-requires-python,
// data-yanked, PEP 658 metadata of wheels, PEP 700 sizes and versions.
func (h *Handler) serveHostedPage(ctx *fasthttp.RequestCtx, project string) {
	p, err := h.hosted.Project(ctx, project)
	if err != nil {
		h.hostedError(ctx, project, err)
		return
	}
	if len(p.Files) == 0 {
		plainError(ctx, fasthttp.StatusNotFound, "project "+project+" is hosted here and has no files")
		return
	}
	f, _ := negotiate(string(ctx.Request.Header.Peek("Accept")))
	v := h.render("hosted "+p.Rev()+" "+project, hostedPage(p), project, pull.BaseURL(ctx, h.deps.PublicURL), f)
	h.writeView(ctx, v, f)
}

// hostedPage is the page of a hosted project, for the renderers.
func hostedPage(p *hosted.Project) *page {
	pg := &page{apiVersion: "1.1", versions: p.Versions(), byName: make(map[string]int, len(p.Files))}
	for _, hf := range p.Files {
		f := file{
			name: hf.Filename, hashes: map[string]string{"sha256": hf.SHA256}, size: hf.Size,
			yanked: hf.Yanked, yankedReason: hf.YankedReason, uploadTime: hf.UploadTime.UTC().Format(uploadTimeLayout),
		}
		if hf.RequiresPython != "" {
			rp := hf.RequiresPython
			f.requiresPython = &rp
		}
		if hf.MetadataSHA256 != "" {
			f.metadata, f.metadataHashes = true, map[string]string{"sha256": hf.MetadataSHA256}
		}
		pg.byName[f.name] = len(pg.files)
		pg.files = append(pg.files, f)
	}
	return pg
}

// serveHostedFile implements GET /simple/<project>/<filename> of a hosted
// project: a distribution file, or with ".metadata" appended a wheel's core
// metadata (PEP 658). Yanked files stay downloadable (PEP 592).
func (h *Handler) serveHostedFile(ctx *fasthttp.RequestCtx, project, filename string) {
	p, err := h.hosted.Project(ctx, project)
	if err != nil {
		h.hostedError(ctx, project, err)
		return
	}
	distName, isMetadata := strings.CutSuffix(filename, ".metadata")
	hf, ok := p.Lookup(distName)
	if !ok || (isMetadata && hf.MetadataSHA256 == "") {
		plainError(ctx, fasthttp.StatusNotFound, filename+" is not a file of hosted project "+project)
		return
	}
	d := hf.Digest()
	if isMetadata {
		d = hf.MetadataDigest()
	}
	obj, err := h.hosted.Open(ctx, d)
	if err != nil {
		h.deps.Log.Error("hosted pypi file missing from storage", "project", project, "file", filename, "digest", d, "err", err)
		plainError(ctx, fasthttp.StatusInternalServerError, "cannot read hosted file "+filename)
		return
	}
	httpx.ServeContent(ctx, obj.Body, obj.Size, "")
}

// hostedError answers a hosted-state error about project. A failure of
// the store's file system comes first: its text names paths, and it is
// never the client's fault. Then the kinds hosted state classifies for the
// client show their message: PyPI answers every refused upload with 400,
// a taken file name too ("File already exists", which twine
// --skip-existing recognises).
func (h *Handler) hostedError(ctx *fasthttp.RequestCtx, project string, err error) {
	switch {
	case cache.IsNoSpace(err):
		h.deps.Log.Error("hosted pypi: storage is full", "project", project, "path", string(ctx.Path()), "err", err)
		reasonError(ctx, fasthttp.StatusInsufficientStorage, httpx.NoSpaceMessage)
		return
	case httpx.LocalFault(err):
		h.deps.Log.Error("hosted pypi: storage failed", "project", project, "path", string(ctx.Path()), "err", err)
		if project == "" {
			reasonError(ctx, fasthttp.StatusInternalServerError, "cannot receive the upload")
			return
		}
		reasonError(ctx, fasthttp.StatusInternalServerError, "cannot update or read hosted project "+project)
		return
	}
	switch fault.KindOf(err) {
	case fault.NotFound:
		reasonError(ctx, fasthttp.StatusNotFound, fault.Message(err))
	case fault.Invalid, fault.Conflict:
		reasonError(ctx, fasthttp.StatusBadRequest, fault.Message(err))
	default:
		h.deps.Log.Error("hosted pypi failure", "project", project, "path", string(ctx.Path()), "err", err)
		reasonError(ctx, fasthttp.StatusInternalServerError, "cannot update or read hosted project "+project)
	}
}
