package docker

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"time"

	"github.com/opencontainers/go-digest"
	"github.com/valyala/fasthttp"

	"nora/auth/tenant"
	"nora/cache"
	"nora/internal/fault"
	"nora/proxy/httpx"
	"nora/proxy/pull"
)

// manifestAccept asks upstream for every manifest type; the client gets the
// upstream's bytes and digest unchanged.
var manifestAccept = http.Header{"Accept": {
	"application/vnd.oci.image.index.v1+json",
	"application/vnd.oci.image.manifest.v1+json",
	"application/vnd.docker.distribution.manifest.list.v2+json",
	"application/vnd.docker.distribution.manifest.v2+json",
	"application/vnd.docker.distribution.manifest.v1+prettyjws",
	"application/vnd.docker.distribution.manifest.v1+json",
}}

const (
	maxManifestBytes = 4 << 20
	metaTimeout      = 2 * time.Minute
	// lowRateLimit is the remaining Docker Hub pull budget below which a
	// cached tag is served without revalidation.
	lowRateLimit = 5
)

// manifest answers a proxied manifest read and returns its cache result,
// or what kept it from answering for the caller to translate.
func (h *Handler) manifest(ctx *fasthttp.RequestCtx, rt route, ref string) (string, error) {
	if d, err := parseDigest(ref); err == nil {
		return h.manifestByDigest(ctx, rt, d)
	}
	if !validTag(ref) {
		ociError(ctx, codeManifestUnknown, "invalid tag or digest")
		return "", nil
	}
	return h.manifestByTag(ctx, rt, ref)
}

// manifestByTag resolves the tag by the one freshness rule (pull.Refs):
// revalidated by a HEAD, which Docker Hub does not count as a pull, and not
// at all while its pull budget is low; the tag's ref points at the
// manifest's blob.
func (h *Handler) manifestByTag(ctx *fasthttp.RequestCtx, rt route, tag string) (string, error) {
	t := httpx.TenantOf(ctx)
	res, err := h.resolveTag(ctx, rt, tag, t)
	if b := (budgetSpent{}); errors.As(err, &b) && b.t != t {
		// Another tenant's fetch of the same tag, which this request
		// joined, was refused its budget: this tenant asks with its own.
		res, err = h.resolveTag(ctx, rt, tag, t)
	}
	if err != nil {
		return "", err
	}
	if res.Stale {
		ctx.Response.Header.Set("X-Nora-Stale", "1")
	}
	writeManifest(ctx, res.Ref.Digest, res.Ref.MediaType, io.NopCloser(bytes.NewReader(res.Body)), int64(len(res.Body)))
	return res.Result, nil
}

// resolveTag resolves the tag for tenant t (nil: no tenants), whose
// budget a GET of the manifest spends (a cached tag refused here is
// served stale).
func (h *Handler) resolveTag(ctx context.Context, rt route, tag string, t *tenant.Tenant) (pull.Resolved, error) {
	return h.refs.Resolve(ctx, pull.RefRequest{
		Key: tagKey(rt, tag), TTL: rt.up.cfg.TTL.D(), NegativeTTL: h.cfg.NegativeTTL.D(),
		Offline: rt.up.cfg.Offline, Hold: rt.up.budgetLow, Load: h.loadManifest,
		Refresh: pull.ByDigest(
			func(ctx context.Context) (digest.Digest, error) { return h.headManifest(ctx, rt, tag) },
			func(ctx context.Context) (pull.Fetched, error) {
				if err := takeUpstreamPull(t, rt); err != nil {
					return pull.Fetched{}, err
				}
				m, err := h.fetchManifest(ctx, rt, tag, "")
				return pull.Fetched{Ref: cache.Ref{Digest: m.digest, MediaType: m.mediaType}, Body: m.body}, err
			}),
	})
}

// budgetLow reports whether the upstream's pull budget is nearly spent.
func (u *upstreamRepo) budgetLow() bool {
	n, known := u.reg.RateLimitRemaining()
	return known && n < lowRateLimit
}

// headManifest asks which digest a tag points at.
func (h *Handler) headManifest(ctx context.Context, rt route, tag string) (digest.Digest, error) {
	path := "manifests/" + tag
	resp, err := rt.up.reg.Do(ctx, http.MethodHead, rt.repo, path, manifestAccept)
	if err != nil {
		return "", pull.Unreachable(rt.repo+"/"+path, err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", pull.StatusError(rt.repo+"/"+path, resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	return digest.Digest(resp.Header.Get("Docker-Content-Digest")), nil
}

// upstreamManifest is a manifest fetched, verified and stored.
type upstreamManifest struct {
	digest    digest.Digest
	mediaType string
	body      []byte
}

// fetchManifest GETs a manifest, checks it against want (or against the
// upstream's Docker-Content-Digest for tags) and stores it content addressed.
func (h *Handler) fetchManifest(ctx context.Context, rt route, ref string, want digest.Digest) (upstreamManifest, error) {
	path := "manifests/" + ref
	resp, err := rt.up.reg.Do(ctx, http.MethodGet, rt.repo, path, manifestAccept)
	if err != nil {
		return upstreamManifest{}, pull.Unreachable(rt.repo+"/"+path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return upstreamManifest{}, pull.StatusError(rt.repo+"/"+path, resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxManifestBytes+1))
	if err != nil {
		return upstreamManifest{}, pull.Unreachable(rt.repo+"/"+path, err)
	}
	if len(body) > maxManifestBytes {
		return upstreamManifest{}, fault.New(fault.BadUpstream, "upstream manifest is larger than 4 MiB")
	}
	// Clients parse what they pull: a document that is not JSON, or
	// nests past the parsers' depth limit, is not cached and served.
	if !json.Valid(body) {
		return upstreamManifest{}, fault.New(fault.BadUpstream, "upstream manifest is not valid JSON (or nests too deep)")
	}
	if want == "" {
		want = digest.Digest(resp.Header.Get("Docker-Content-Digest"))
		if want.Validate() != nil || !want.Algorithm().Available() {
			want = digest.FromBytes(body)
		}
	}
	if want.Algorithm().FromBytes(body) != want {
		return upstreamManifest{}, fmt.Errorf("cannot cache manifest %s of %s: %w", ref, rt.repo, cache.ErrVerify)
	}
	m := upstreamManifest{digest: want, mediaType: manifestMediaType(resp.Header.Get("Content-Type"), body), body: body}
	err = h.cache.PutBlob(ctx, want, body)
	if err == nil {
		err = h.cache.PutRef(ctx, mediaTypeKey(want), cache.Ref{Digest: want, MediaType: m.mediaType, Size: int64(len(body)), FetchedAt: time.Now()})
	}
	if err != nil && !cache.IsNoSpace(err) {
		return upstreamManifest{}, err
	}
	// A full disk never fails a pull: the manifest is in memory.
	return m, nil
}

// manifestMediaType prefers the manifest's own mediaType field, then the
// upstream's Content-Type, then the shape of the JSON.
func manifestMediaType(contentType string, body []byte) string {
	var m struct {
		MediaType string          `json:"mediaType"`
		Manifests json.RawMessage `json:"manifests"`
	}
	if json.Unmarshal(body, &m) == nil && m.MediaType != "" {
		return m.MediaType
	}
	if mt, _, err := mime.ParseMediaType(contentType); err == nil && mt != "" && mt != "application/json" && mt != "text/plain" {
		return mt
	}
	if len(bytes.TrimSpace(m.Manifests)) > 0 {
		return "application/vnd.oci.image.index.v1+json"
	}
	return "application/vnd.oci.image.manifest.v1+json"
}

// manifestByDigest serves an immutable manifest: from memory when warm
// (manifestMem), else from the store, else fetched once however many
// clients ask.
func (h *Handler) manifestByDigest(ctx *fasthttp.RequestCtx, rt route, d digest.Digest) (string, error) {
	if m, ok := h.mem.get(ctx, d); ok {
		h.cache.CountResult("hit")
		writeManifest(ctx, d, m.mediaType, memBody{bytes.NewReader(m.body)}, int64(len(m.body)))
		return "hit", nil
	}
	if mt, ok := h.mediaTypes.Get(string(d)); ok && h.serveStored(ctx, d, mt) {
		return "hit", nil
	}
	if mt, err := h.cache.Ref(ctx, mediaTypeKey(d)); err == nil && h.serveStored(ctx, d, mt.MediaType) {
		h.mediaTypes.Set(string(d), mt.MediaType, 1)
		return "hit", nil
	}
	if rt.up.cfg.Offline {
		return "", pull.ErrOffline
	}
	if err := takeUpstreamPull(httpx.TenantOf(ctx), rt); err != nil {
		return "", err
	}
	v, err, _ := h.meta.Do("manifest:"+string(d), func() (any, error) {
		bg, cancel := pull.Detached(h.base, metaTimeout)
		defer cancel()
		return h.fetchManifest(bg, rt, string(d), d)
	})
	if err != nil {
		return "", err
	}
	m := v.(upstreamManifest)
	h.cache.CountResult("miss")
	writeManifest(ctx, d, m.mediaType, io.NopCloser(bytes.NewReader(m.body)), int64(len(m.body)))
	return "miss", nil
}

// serveStored serves the stored manifest d, keeping a copy in memory when
// it is small; false if it is not stored.
func (h *Handler) serveStored(ctx *fasthttp.RequestCtx, d digest.Digest, mediaType string) bool {
	key := cache.BlobKey(d)
	gen := h.mem.gen(key)
	obj, err := h.cache.Open(ctx, key)
	if err != nil {
		return false
	}
	if !h.mem.keeps(obj.Size) {
		h.cache.CountResult("hit")
		writeManifest(ctx, d, mediaType, obj.Body, obj.Size)
		return true
	}
	b, err := h.mem.keep(obj, key, d, mediaType, gen)
	if err != nil {
		return false
	}
	h.cache.CountResult("hit")
	writeManifest(ctx, d, mediaType, memBody{bytes.NewReader(b)}, int64(len(b)))
	return true
}

// loadManifest reads a cached tag's manifest (a few KiB) into memory: one
// open, no separate check that the blob is still there; none at all when
// a current copy is in memory.
func (h *Handler) loadManifest(ctx context.Context, ref cache.Ref) ([]byte, error) {
	if !validDigest(ref.Digest) {
		return nil, cache.ErrNotFound
	}
	if m, ok := h.mem.get(ctx, ref.Digest); ok {
		return m.body, nil
	}
	key := cache.BlobKey(ref.Digest)
	gen := h.mem.gen(key)
	obj, err := h.cache.Open(ctx, key)
	if err != nil {
		return nil, err
	}
	if h.mem.keeps(obj.Size) {
		return h.mem.keep(obj, key, ref.Digest, ref.MediaType, gen)
	}
	defer obj.Body.Close()
	return io.ReadAll(io.LimitReader(obj.Body, maxManifestBytes+1))
}

func writeManifest(ctx *fasthttp.RequestCtx, d digest.Digest, mediaType string, body io.ReadCloser, size int64) {
	ctx.Response.Header.Set("Docker-Content-Digest", string(d))
	ctx.Response.Header.Set("ETag", `"`+string(d)+`"`)
	httpx.ServeContent(ctx, body, size, mediaType)
}
