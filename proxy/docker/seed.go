package docker

import (
	"context"
	"time"

	"github.com/opencontainers/go-digest"

	"nora/cache"
)

// SeedManifest records a verified manifest as a cached one of the
// proxied side (nora import): its bytes content addressed, its media
// type under the key manifestByDigest reads.
func (h *Handler) SeedManifest(ctx context.Context, d digest.Digest, mediaType string, body []byte) error {
	if err := h.cache.PutBlob(ctx, d, body); err != nil {
		return err
	}
	return h.cache.PutRef(ctx, mediaTypeKey(d), cache.Ref{Digest: d, MediaType: mediaType, Size: int64(len(body)), FetchedAt: time.Now()})
}

// SeedTag points the cached tag of the image a client names name at the
// manifest d, under the upstream name routes to, as if just fetched from
// it (nora import). The manifest must be seeded first.
func (h *Handler) SeedTag(ctx context.Context, name, tag string, d digest.Digest, mediaType string, size int64) error {
	rt, err := h.resolve(name, "")
	if err != nil {
		return err
	}
	return h.cache.PutRef(ctx, tagKey(rt, tag), cache.Ref{Digest: d, MediaType: mediaType, Size: size, FetchedAt: time.Now()})
}
