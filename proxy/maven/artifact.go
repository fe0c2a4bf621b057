package maven

import (
	"context"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"hash"
	"io"
	"math"
	"net/http"
	"time"

	"github.com/opencontainers/go-digest"
	"github.com/valyala/fasthttp"

	"nora/cache"
	"nora/internal/fault"
	"nora/proxy/httpx"
	"nora/proxy/pull"
)

const (
	// maxSumBytes bounds an upstream checksum file ("hex  filename").
	maxSumBytes = 4 << 10
	// forever is the TTL of immutable documents (release checksum files).
	forever = time.Duration(math.MaxInt64)
	// sumTimeout bounds hashing one cached artifact for a checksum request.
	sumTimeout = 10 * time.Minute
)

var errOffline = fault.New(fault.Unavailable, "maven upstreams are offline and this was never cached")

// serveArtifact answers GET and HEAD of an immutable file: from the cache,
// else filled from the first upstream that has it, verified against that
// upstream's .sha1 when it publishes one.
func (h *Handler) serveArtifact(ctx *fasthttp.RequestCtx, c context.Context, req request) {
	key := fileKey(req.file)
	obj, err := h.cache.OpenNamed(c, key)
	if err != nil && ctx.IsHead() {
		// A HEAD follows no fill: one whose commit is under way is
		// waited for (Ref waits for it), then the stored file answers.
		if _, rerr := h.cache.Ref(c, key); rerr == nil {
			obj, err = h.cache.OpenNamed(c, key)
		}
	}
	if err == nil {
		h.cache.CountResult("hit")
		h.sendObject(ctx, req, obj)
		return
	}
	if !errors.Is(err, cache.ErrNotFound) {
		h.deps.Log.Warn("cannot open cached maven artifact", "path", req.file, "err", err)
	}
	if ctx.IsHead() {
		h.headUpstream(ctx, c, req)
		return
	}
	err = h.firstHit(func(u *upstreamRepo) error {
		if err := h.skip(u, req.file); err != nil {
			return err
		}
		want, err := h.expectedSHA1(c, u, req.file)
		if err != nil {
			return err
		}
		obj, err = pull.Artifact(c, h.deps, pull.ArtifactRequest{
			Name: key, Upstream: u.reg, URL: req.file, Expect: cache.Expect{SHA1: want, Size: -1},
			Tenant: httpx.TenantOf(ctx),
		})
		if fault.KindOf(err) == fault.NotFound {
			h.neg.Remember(missKey(u, req.file), h.cfg.NegativeTTL.D())
		}
		return err
	})
	if err != nil {
		h.fail(ctx, req, err)
		return
	}
	h.sendObject(ctx, req, obj)
}

// skip says why upstream u is not asked for file: it is offline, or it
// answered 404 for it within the negative TTL.
func (h *Handler) skip(u *upstreamRepo, file string) error {
	if u.offline {
		return errOffline
	}
	if h.neg.Missing(missKey(u, file)) {
		return fault.New(fault.NotFound, file+" not found upstream (remembered)")
	}
	return nil
}

func (h *Handler) sendObject(ctx *fasthttp.RequestCtx, req request, obj *cache.Object) {
	httpx.SetLogInfo(ctx, req.name, obj.Result)
	httpx.ServeContent(ctx, obj.Body, obj.Size, contentType(req.file))
}

// expectedSHA1 is the sha1 upstream u publishes for file, "" if it
// publishes none (or one nobody can read: Maven itself only warns then).
// An outage is an error: the file itself could not be fetched either.
func (h *Handler) expectedSHA1(ctx context.Context, u *upstreamRepo, file string) (string, error) {
	doc, err := h.deps.Docs.Get(ctx, h.sumDocRequest(u, file+".sha1", "sha1"))
	switch fault.KindOf(err) {
	case fault.NotFound, fault.Denied, fault.BadUpstream:
		if fault.KindOf(err) == fault.BadUpstream {
			h.deps.Log.Warn("upstream checksum unusable; fetching unverified", "path", file+".sha1", "err", err)
		}
		return "", nil
	}
	if err != nil {
		return "", err
	}
	sum, err := parseChecksum(doc.Body, "sha1")
	if err != nil {
		h.deps.Log.Warn("upstream checksum unusable; fetching unverified", "path", file+".sha1", "err", err)
	}
	return sum, nil
}

// sumDocRequest is an upstream checksum file of an immutable file: a small
// document cached for good.
func (h *Handler) sumDocRequest(u *upstreamRepo, path, alg string) pull.DocRequest {
	return pull.DocRequest{
		Key: docKey(u, path), Upstream: u.reg, URL: path, TTL: forever, NegativeTTL: h.cfg.NegativeTTL.D(),
		Offline: u.offline, MaxBytes: maxSumBytes,
		Check: func(b []byte) error { _, err := parseChecksum(b, alg); return err },
	}
}

// headUpstream answers HEAD of an artifact nora has not cached by asking
// the upstreams with HEAD. Filling would make an existence probe download
// what may be a huge file nobody then asks for; a HEAD stores nothing.
func (h *Handler) headUpstream(ctx *fasthttp.RequestCtx, c context.Context, req request) {
	size := int64(-1)
	err := h.firstHit(func(u *upstreamRepo) error {
		if err := h.skip(u, req.file); err != nil {
			return err
		}
		resp, err := u.reg.DoURL(c, http.MethodHead, req.file, nil)
		if err != nil {
			return fault.Wrap(fault.Unavailable, err, "cannot HEAD "+req.file)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			err := pull.StatusError(req.file, resp.StatusCode, resp.Header.Get("Retry-After"))
			if fault.KindOf(err) == fault.NotFound {
				h.neg.Remember(missKey(u, req.file), h.cfg.NegativeTTL.D())
			}
			return err
		}
		size = resp.ContentLength
		return nil
	})
	if err != nil {
		h.fail(ctx, req, err)
		return
	}
	httpx.SetLogInfo(ctx, req.name, "miss")
	ctx.SetStatusCode(fasthttp.StatusOK)
	ctx.SetContentType(contentType(req.file))
	ctx.Response.ResetBody()
	ctx.Response.Header.SetContentLength(int(max(size, -1)))
	ctx.Response.SkipBody = true
}

// serveArtifactSum answers a checksum file of an immutable file: computed
// from the cached bytes when nora has them (so it always matches what nora
// served), else the upstream's own checksum file, cached for good.
func (h *Handler) serveArtifactSum(ctx *fasthttp.RequestCtx, c context.Context, req request) {
	if ref, err := h.cache.Ref(c, fileKey(req.file)); err == nil {
		sum, err := h.localSum(c, ref.Digest, req.sum)
		if err == nil {
			h.cache.CountResult("hit")
			sendText(ctx, req, []byte(sum), sum, "hit", false)
			return
		}
		if !errors.Is(err, cache.ErrNotFound) {
			h.deps.Log.Warn("cannot compute checksum of cached maven artifact", "path", req.file, "err", err)
		}
	}
	var doc *pull.Doc
	err := h.firstHit(func(u *upstreamRepo) error {
		d, err := h.deps.Docs.Get(c, h.sumDocRequest(u, req.path(), req.sum))
		doc = d
		return err
	})
	if err != nil {
		h.fail(ctx, req, err)
		return
	}
	sendText(ctx, req, doc.Body, doc.Digest.Encoded(), doc.Result, doc.Stale)
}

// localSum is the alg checksum of the cached blob d, computed once and
// kept under a ref of its own.
func (h *Handler) localSum(ctx context.Context, d digest.Digest, alg string) (string, error) {
	if err := d.Validate(); err != nil {
		return "", err
	}
	if alg == "sha256" && d.Algorithm() == digest.SHA256 {
		return d.Encoded(), nil
	}
	key := sumKey(alg, d.Encoded())
	if sum, err := h.readSum(ctx, key, alg); err == nil {
		return sum, nil
	}
	v, err, _ := h.sums.Do(key, func() (any, error) {
		bg, cancel := h.deps.Detached(sumTimeout)
		defer cancel()
		obj, err := h.cache.Open(bg, cache.BlobKey(d))
		if err != nil {
			return "", err
		}
		defer obj.Body.Close()
		hh := newHash(alg)
		if _, err := io.Copy(hh, obj.Body); err != nil {
			return "", err
		}
		sum := hex.EncodeToString(hh.Sum(nil))
		b := []byte(sum)
		sd := digest.FromBytes(b)
		if err := h.cache.PutBlob(bg, sd, b); err != nil {
			h.deps.Log.Warn("cannot store maven checksum", "key", key, "err", err)
		} else if err := h.cache.PutRef(bg, key, cache.Ref{Digest: sd, MediaType: "text/plain", Size: int64(len(b)), FetchedAt: time.Now()}); err != nil {
			h.deps.Log.Warn("cannot store maven checksum", "key", key, "err", err)
		}
		return sum, nil
	})
	if err != nil {
		return "", err
	}
	return v.(string), nil
}

func (h *Handler) readSum(ctx context.Context, key, alg string) (string, error) {
	ref, err := h.cache.Ref(ctx, key)
	if err != nil {
		return "", err
	}
	obj, err := h.cache.Open(ctx, cache.BlobKey(ref.Digest))
	if err != nil {
		return "", err
	}
	defer obj.Body.Close()
	b, err := io.ReadAll(io.LimitReader(obj.Body, maxSumBytes))
	if err != nil {
		return "", err
	}
	return parseChecksum(b, alg)
}

func newHash(alg string) hash.Hash {
	switch alg {
	case "md5":
		return md5.New()
	case "sha1":
		return sha1.New()
	case "sha512":
		return sha512.New()
	}
	return sha256.New()
}

// sendText answers with a small in-memory body (a checksum, a document)
// and tag, a hex string that changes with it, as its ETag so that
// If-None-Match works.
func sendText(ctx *fasthttp.RequestCtx, req request, body []byte, tag, result string, stale bool) {
	httpx.SetLogInfo(ctx, req.name, result)
	etag := `"` + tag[:min(len(tag), 32)] + `"`
	ctx.Response.Header.Set(fasthttp.HeaderETag, etag)
	if stale {
		ctx.Response.Header.Set("X-Nora-Stale", "1")
	}
	ctx.SetContentType(contentType(req.path()))
	if httpx.NotModified(ctx, etag) {
		ctx.SetStatusCode(fasthttp.StatusNotModified)
		ctx.Response.SkipBody = true
		return
	}
	ctx.SetStatusCode(fasthttp.StatusOK)
	if ctx.IsHead() {
		ctx.Response.Header.SetContentLength(len(body))
		ctx.Response.SkipBody = true
		return
	}
	ctx.SetBody(body)
}
