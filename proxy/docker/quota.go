package docker

import (
	"io"

	"github.com/opencontainers/go-digest"
	"github.com/valyala/fasthttp"

	"nora/cache"
	"nora/hosted/oci"
	"nora/internal/fault"
	"nora/proxy/httpx"
)

// reserve checks, before a byte of it is read, that a body of n more
// bytes of name (after already bytes of the same upload) fits the quota
// of name's tenant. Over it, it cancels session u (nil: none yet),
// answers the refusal and returns false.
func (h *Handler) reserve(ctx *fasthttp.RequestCtx, name string, u *oci.Upload, already, n int64) bool {
	err := httpx.ReserveQuota(ctx, "docker", name, already, n)
	if err == nil {
		return true
	}
	if u != nil {
		h.hosted.Cancel(u)
	}
	h.overQuota(ctx, err)
	return false
}

// overQuota answers a storage quota refusal: 403 DENIED with the message
// that names the tenant and its quota. Any other failure to check the
// quota is the hosted side's error. The rest of the body is dropped so
// the client hears the answer.
func (h *Handler) overQuota(ctx *fasthttp.RequestCtx, err error) {
	httpx.Drain(ctx)
	fe := denial(err)
	if fe == nil {
		h.hostedError(ctx, err)
		return
	}
	ociError(ctx, codeDenied, fe.Msg)
}

// denial is the Denied *fault.Error in err's tree, or nil. A cut-off
// body reaches the handler inside the upload's own error (a truncated
// chunk), whose message is not the one to show.
func denial(err error) *fault.Error {
	for err != nil {
		if fe, ok := err.(*fault.Error); ok && fe.Kind == fault.Denied {
			return fe
		}
		switch u := err.(type) {
		case interface{ Unwrap() []error }:
			for _, e := range u.Unwrap() {
				if fe := denial(e); fe != nil {
					return fe
				}
			}
			return nil
		case interface{ Unwrap() error }:
			err = u.Unwrap()
		default:
			return nil
		}
	}
	return nil
}

// uploadBody is the body of a blob upload into session u: capped at
// max_upload_size and, when its length is not declared (chunked), cut
// off where it would pass the tenant's quota (a declared length was
// reserved before).
func (h *Handler) uploadBody(ctx *fasthttp.RequestCtx, name string, u *oci.Upload, declared int64) io.Reader {
	r := h.capped(ctx, u)
	if declared < 0 {
		r = httpx.LimitQuota(ctx, "docker", name, u.Size(), r)
	}
	return r
}

// reserveMount checks that blob d, which a mount from repository from
// would link into name, fits the quota of name's tenant. Over it, it
// answers the refusal and returns false; a blob that cannot be mounted
// (the client uploads it instead) is reserved as any upload.
func (h *Handler) reserveMount(ctx *fasthttp.RequestCtx, name string, d digest.Digest, from string) bool {
	s := httpx.Tenants(ctx)
	if s == nil || s.Owner("docker", name).Config().StorageQuota == 0 {
		return true
	}
	var size int64
	if from != "" && h.hosted.Exists(from) {
		n, err := h.hosted.StatBlob(ctx, from, d)
		if err != nil {
			return true
		}
		size = n
	} else {
		info, err := h.cache.Stat(ctx, cache.BlobKey(d))
		if err != nil {
			return true
		}
		size = info.Size
	}
	return h.reserve(ctx, name, nil, 0, size)
}
