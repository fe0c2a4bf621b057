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

	"nora/cache"
	"nora/proxy/httpx"
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

func tagKey(rt route, tag string) string {
	return "refs/docker/" + rt.up.cfg.Name + "/" + rt.repo + "/_tags/" + tag
}

func mediaTypeKey(d digest.Digest) string { return "refs/docker/_mediatypes/" + cache.BlobKey(d) }

// manifest answers a proxied manifest read, or returns what kept it from
// answering for the caller to translate.
func (h *Handler) manifest(ctx *fasthttp.RequestCtx, rt route, ref string) error {
	if d, err := parseDigest(ref); err == nil {
		return h.manifestByDigest(ctx, rt, d)
	}
	if !validTag(ref) {
		ociError(ctx, codeManifestUnknown, "invalid tag or digest")
		return nil
	}
	return h.manifestByTag(ctx, rt, ref)
}

type tagResult struct {
	ref    cache.Ref
	stale  bool
	result string // "hit" or "miss"
}

func (h *Handler) manifestByTag(ctx *fasthttp.RequestCtx, rt route, tag string) error {
	key := tagKey(rt, tag)
	res, err := h.resolveTag(rt, tag, key)
	if err != nil {
		return err
	}
	if res.stale {
		ctx.Response.Header.Set("X-Nora-Stale", "1")
	}
	result := res.result
	if res.stale {
		result = "stale"
	}
	return h.serveManifest(ctx, rt, res.ref.Digest, res.ref.MediaType, result)
}

// resolveTag decides what a tag points at: the cached ref while fresh, else
// a revalidation (HEAD, which Docker Hub does not count as a pull), else a
// fetch; a stale ref when upstream is down.
func (h *Handler) resolveTag(rt route, tag, key string) (tagResult, error) {
	bg, cancel := context.WithTimeout(context.Background(), metaTimeout)
	defer cancel()
	ref, err := h.cache.Ref(bg, key)
	have := err == nil && h.blobPresent(bg, ref.Digest)
	if err != nil && !errors.Is(err, cache.ErrNotFound) {
		h.log.Warn("cannot read tag ref", "key", key, "err", err)
	}
	ttl := rt.up.cfg.TTL.D()
	if have {
		if ref.Fresh(ttl, time.Now()) {
			return tagResult{ref: ref, result: "hit"}, nil
		}
		if rt.up.cfg.Offline {
			return tagResult{ref: ref, stale: true}, nil
		}
		if n, known := rt.up.reg.RateLimitRemaining(); known && n < lowRateLimit {
			return tagResult{ref: ref, stale: true}, nil
		}
	} else {
		if rt.up.cfg.Offline {
			return tagResult{}, errOffline
		}
		if h.neg.Missing(key) {
			h.cache.CountResult("negative")
			return tagResult{}, &upstreamError{code: codeManifestUnknown, msg: "not found upstream (remembered)"}
		}
	}
	v, err, _ := h.meta.Do(key, func() (any, error) {
		fresh, err := h.refreshTag(bg, rt, tag, key, ref, have)
		if err != nil && have && upstreamDown(err) {
			return tagResult{ref: ref, stale: true}, nil
		}
		result := "miss"
		if have && fresh.Digest == ref.Digest {
			result = "hit" // revalidated
		}
		return tagResult{ref: fresh, result: result}, err
	})
	if err != nil {
		return tagResult{}, err
	}
	return v.(tagResult), nil
}

func (h *Handler) blobPresent(ctx context.Context, d digest.Digest) bool {
	if d.Validate() != nil {
		return false
	}
	_, err := h.cache.Stat(ctx, cache.BlobKey(d))
	return err == nil
}

func (h *Handler) refreshTag(ctx context.Context, rt route, tag, key string, old cache.Ref, have bool) (cache.Ref, error) {
	path := "manifests/" + tag
	if have {
		resp, err := rt.up.reg.Do(ctx, http.MethodHead, rt.repo, path, manifestAccept)
		if err != nil {
			return old, err
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK && resp.Header.Get("Docker-Content-Digest") == string(old.Digest) {
			old.FetchedAt = time.Now()
			if err := h.cache.PutRef(ctx, key, old); err != nil {
				h.log.Warn("cannot update tag ref", "key", key, "err", err)
			}
			return old, nil
		}
		if resp.StatusCode != http.StatusOK {
			err := statusError(resp.StatusCode, resp.Header.Get("Retry-After"), codeManifestUnknown)
			if resp.StatusCode == http.StatusNotFound {
				h.neg.Remember(key, h.cfg.NegativeTTL.D())
			}
			return old, err
		}
		// The tag moved: fetch the new manifest.
	}
	d, mediaType, err := h.fetchManifest(ctx, rt, tag, "")
	if err != nil {
		var ue *upstreamError
		if errors.As(err, &ue) && ue.code == codeManifestUnknown {
			h.neg.Remember(key, h.cfg.NegativeTTL.D())
		}
		return old, err
	}
	ref := cache.Ref{Digest: d, MediaType: mediaType, FetchedAt: time.Now()}
	if err := h.cache.PutRef(ctx, key, ref); err != nil {
		return ref, err
	}
	h.neg.Forget(key)
	return ref, nil
}

// fetchManifest GETs a manifest, checks it against want (or against the
// upstream's Docker-Content-Digest for tags) and stores it content addressed.
func (h *Handler) fetchManifest(ctx context.Context, rt route, ref string, want digest.Digest) (digest.Digest, string, error) {
	if rt.up.cfg.Offline {
		return "", "", errOffline
	}
	resp, err := rt.up.reg.Do(ctx, http.MethodGet, rt.repo, "manifests/"+ref, manifestAccept)
	if err != nil {
		return "", "", errUnavailable
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", "", statusError(resp.StatusCode, resp.Header.Get("Retry-After"), codeManifestUnknown)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxManifestBytes+1))
	if err != nil {
		return "", "", errUnavailable
	}
	if len(body) > maxManifestBytes {
		return "", "", &upstreamError{code: codeManifestInvalid, msg: "upstream manifest is larger than 4 MiB"}
	}
	if want == "" {
		want = digest.Digest(resp.Header.Get("Docker-Content-Digest"))
		if want.Validate() != nil || !want.Algorithm().Available() {
			want = digest.FromBytes(body)
		}
	}
	if want.Algorithm().FromBytes(body) != want {
		return "", "", fmt.Errorf("cannot cache manifest %s of %s: %w", ref, rt.repo, cache.ErrVerify)
	}
	mediaType := manifestMediaType(resp.Header.Get("Content-Type"), body)
	if err := h.cache.PutBlob(ctx, want, body); err != nil {
		return "", "", err
	}
	if err := h.cache.PutRef(ctx, mediaTypeKey(want), cache.Ref{Digest: want, MediaType: mediaType, Size: int64(len(body)), FetchedAt: time.Now()}); err != nil {
		return "", "", err
	}
	return want, mediaType, nil
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

func (h *Handler) manifestByDigest(ctx *fasthttp.RequestCtx, rt route, d digest.Digest) error {
	bg, cancel := context.WithTimeout(context.Background(), metaTimeout)
	defer cancel()
	if mt, ok := h.mediaTypes.Get(string(d)); ok {
		if obj, err := h.cache.Open(ctx, cache.BlobKey(d)); err == nil {
			h.writeManifest(ctx, rt, d, mt, "hit", obj)
			return nil
		}
	}
	mt, err := h.cache.Ref(bg, mediaTypeKey(d))
	if err == nil && h.blobPresent(bg, d) {
		h.mediaTypes.Set(string(d), mt.MediaType, 1)
		return h.serveManifest(ctx, rt, d, mt.MediaType, "hit")
	}
	v, err, _ := h.meta.Do("manifest:"+string(d), func() (any, error) {
		_, mediaType, err := h.fetchManifest(bg, rt, string(d), d)
		return mediaType, err
	})
	if err != nil {
		return err
	}
	return h.serveManifest(ctx, rt, d, v.(string), "miss")
}

func (h *Handler) serveManifest(ctx *fasthttp.RequestCtx, rt route, d digest.Digest, mediaType, result string) error {
	obj, err := h.cache.Open(ctx, cache.BlobKey(d))
	if err != nil {
		return err
	}
	h.writeManifest(ctx, rt, d, mediaType, result, obj)
	return nil
}

func (h *Handler) writeManifest(ctx *fasthttp.RequestCtx, rt route, d digest.Digest, mediaType, result string, obj *cache.Object) {
	h.cache.CountResult(result)
	httpx.SetLogInfo(ctx, rt.up.cfg.Name+"/"+rt.repo, result)
	ctx.Response.Header.Set("Docker-Content-Digest", string(d))
	ctx.Response.Header.Set("ETag", `"`+string(d)+`"`)
	httpx.ServeContent(ctx, obj.Body, obj.Size, mediaType)
}
