package cargo

import (
	"errors"

	"github.com/opencontainers/go-digest"
	"github.com/valyala/fasthttp"

	"nora/auth"
	"nora/cache"
	"nora/internal/fault"
	"nora/proxy/httpx"
	"nora/proxy/pull"
)

// download implements GET /cargo/api/v1/crates/<name>/<version>/download.
// name is lowercased and valid, vers valid.
func (h *Handler) download(ctx *fasthttp.RequestCtx, name, vers string) {
	key := crateKey(name, vers)
	httpx.SetLogInfo(ctx, name, "")
	if !h.authorize(ctx, auth.Pull, name) {
		return
	}
	// Before the cache: a crate that was proxied once and is hosted now
	// must not be served its cached upstream versions.
	if h.hosted.Hosted(name) {
		h.hostedDownload(ctx, name, vers)
		return
	}
	// A .crate never changes once published and was verified when cached:
	// serve it without the index, which may be unreachable.
	obj, err := h.cache.OpenNamed(ctx, key)
	if err == nil {
		h.cache.CountResult("hit")
	} else {
		if !errors.Is(err, cache.ErrNotFound) {
			h.deps.Log.Warn("cannot open cached crate", "key", key, "err", err)
		}
		obj, err = h.fetchCrate(ctx, name, vers, key)
	}
	if err != nil {
		h.fail(ctx, name, err)
		return
	}
	httpx.SetLogInfo(ctx, name, obj.Result)
	httpx.ServeContent(ctx, obj.Body, obj.Size, "application/gzip")
}

// fetchCrate learns the version's checksum from the index and fills the
// .crate from the upstream's download host, verified against it.
func (h *Handler) fetchCrate(ctx *fasthttp.RequestCtx, name, vers, key string) (*cache.Object, error) {
	ttl := h.cfg.TTL.D()
	doc, err := h.indexDoc(ctx, name, ttl)
	if err != nil {
		return nil, err
	}
	e, err := findVersion(doc.Body, name, vers)
	if errors.Is(err, errNoVersion) && doc.Result == "hit" && ttl > 0 {
		// Perhaps published since our copy was fetched: ask once more.
		if doc, err = h.indexDoc(ctx, name, 0); err != nil {
			return nil, err
		}
		e, err = findVersion(doc.Body, name, vers)
	}
	switch {
	case errors.Is(err, errNoVersion) && doc.Stale:
		return nil, fault.Newf(fault.Unavailable, "%s %s is not in the cached index and the upstream is unreachable", name, vers)
	case errors.Is(err, errNoVersion):
		return nil, fault.Newf(fault.NotFound, "%s %s is not in the index", name, vers)
	case err != nil:
		return nil, fault.New(fault.BadUpstream, "upstream index: "+err.Error())
	}
	rc, err := h.registryConfig(ctx)
	if err != nil {
		return nil, err
	}
	target := expandDL(rc.DL, e.Name, e.Vers, e.Cksum)
	reg, err := h.dlRegistry(target)
	if err != nil {
		return nil, err
	}
	return pull.Artifact(ctx, h.deps, pull.ArtifactRequest{
		Name:     key,
		Upstream: reg,
		URL:      target,
		Expect:   cache.Expect{Digest: digest.NewDigestFromEncoded(digest.SHA256, e.Cksum), Size: -1},
		Offline:  h.cfg.Offline,
		Tenant:   httpx.TenantOf(ctx),
	})
}
