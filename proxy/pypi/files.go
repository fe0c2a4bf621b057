package pypi

import (
	_ "crypto/sha512" // sha384 and sha512 digests, for indexes that declare only those
	"net/url"
	"strings"

	"github.com/opencontainers/go-digest"
	"github.com/valyala/fasthttp"

	"nora/cache"
	"nora/proxy/httpx"
	"nora/proxy/pull"
)

// serveFile implements GET /simple/<project>/<filename>: a distribution
// file, or with ".metadata" appended its PEP 658 core metadata.
func (h *Handler) serveFile(ctx *fasthttp.RequestCtx, project, filename string) {
	distName, isMetadata := strings.CutSuffix(filename, ".metadata")
	key := fileKey(project, filename)
	if isMetadata {
		key = metadataKey(project, distName)
	}
	// Files are immutable: a cached one is served without the page, which
	// also keeps them available while the upstream is down.
	if obj, err := h.cache.OpenNamed(ctx, key); err == nil {
		h.cache.CountResult("hit")
		httpx.SetLogInfo(ctx, project, "hit")
		httpx.ServeContent(ctx, obj.Body, obj.Size, "")
		return
	}
	p, _, err := h.loadPage(ctx, project)
	if err != nil {
		h.fail(ctx, "project "+project, err)
		return
	}
	f, ok := p.lookup(distName)
	if !ok || (isMetadata && !f.metadata) {
		plainError(ctx, fasthttp.StatusNotFound, filename+" is not listed on the page of "+project)
		return
	}
	target, hashes := f.url, f.hashes
	if isMetadata {
		target, hashes = metadataURL(f.url), f.metadataHashes
	}
	obj, err := pull.Artifact(ctx, h.deps, pull.ArtifactRequest{
		Name: key, Upstream: h.up, URL: target, Expect: expectOf(hashes, f.size, isMetadata), Offline: h.offline,
		Tenant: httpx.TenantOf(ctx),
	})
	if err != nil {
		h.fail(ctx, filename, err)
		return
	}
	httpx.SetLogInfo(ctx, project, obj.Result)
	httpx.ServeContent(ctx, obj.Body, obj.Size, "")
}

// expectOf is what a fill must verify: the strongest declared hash that
// can be checked, and the PEP 700 size of a distribution file.
func expectOf(hashes map[string]string, size int64, isMetadata bool) cache.Expect {
	e := cache.Expect{Size: -1}
	if !isMetadata && size >= 0 {
		e.Size = size
	}
	for _, alg := range []string{"sha256", "sha512", "sha384"} {
		if v := hashes[alg]; v != "" {
			e.Digest = digest.NewDigestFromEncoded(digest.Algorithm(alg), v)
			return e
		}
	}
	e.SHA1 = hashes["sha1"]
	return e
}

// metadataURL is PEP 658's location of a file's core metadata: the file's
// URL with ".metadata" appended to its path.
func metadataURL(fileURL string) string {
	u, err := url.Parse(fileURL)
	if err != nil {
		return fileURL + ".metadata"
	}
	if u.RawPath != "" {
		u.RawPath += ".metadata"
	}
	u.Path += ".metadata"
	return u.String()
}
