package proxy

import (
	"context"
	"io"
	"net/http"

	"github.com/opencontainers/go-digest"
	"github.com/valyala/fasthttp"

	"nora/cache"
	"nora/internal/fault"
	"nora/proxy/admin"
	"nora/proxy/docker"
	"nora/proxy/offline"
	"nora/proxy/prefetch"
)

// mountOffline serves /api/v1/export and /api/v1/import (issue 17):
// export reads through client, the prefetch runner's in-memory way into
// nora's own handlers, so that what is not cached yet is fetched and
// verified as a client's pull would be; import commits into the cache
// as the docker handler's cached entries.
func (app *App) mountOffline(client *http.Client, linkPrefix string) {
	st := &offlineStore{c: app.cache, d: app.docker}
	app.admin.SetOffline(admin.Offline{
		Export: func(ctx context.Context, items []prefetch.Item, platform string, w io.Writer) error {
			return offline.Export(ctx, items, offline.Options{Client: client, BaseURL: prefetchBase, Platform: platform, Source: app.cache, LinkPrefix: linkPrefix}, w)
		},
		Import: func(ctx context.Context, r io.Reader) (offline.Summary, error) {
			return offline.Import(ctx, r, st)
		},
	})
	// The remote admin API holds a whole answer and a whole request in
	// memory; a tar is streamed through the socket only.
	for _, p := range []string{adminPrefix + "export", adminPrefix + "import"} {
		app.srv.Handle(p, "admin", func(ctx *fasthttp.RequestCtx) {
			adminError(ctx, fasthttp.StatusNotFound, "export and import are served on the admin socket only (nora export, nora import on the box)")
		})
	}
}

// offlineStore is offline.Store on the cache and the docker handler.
type offlineStore struct {
	c *cache.Cache
	d *docker.Handler // nil: docker is not enabled
}

var errNoDocker = fault.New(fault.Invalid, "the tar holds images and docker is not enabled here ([docker] enabled)")

func (s *offlineStore) TempDir() string { return s.c.TempDir() }

func (s *offlineStore) CommitBlob(ctx context.Context, tmpPath string, d digest.Digest, size int64) error {
	return s.c.CommitCached(ctx, tmpPath, cache.BlobKey(d), size)
}

func (s *offlineStore) PutRef(ctx context.Context, key string, r cache.Ref) error {
	return s.c.PutRef(ctx, key, r)
}

func (s *offlineStore) ImagesEnabled() error {
	if s.d == nil {
		return errNoDocker
	}
	return nil
}

func (s *offlineStore) SeedManifest(ctx context.Context, d digest.Digest, mediaType string, body []byte) error {
	if s.d == nil {
		return errNoDocker
	}
	return s.d.SeedManifest(ctx, d, mediaType, body)
}

func (s *offlineStore) SeedTag(ctx context.Context, name, tag string, d digest.Digest, mediaType string, size int64) error {
	if s.d == nil {
		return errNoDocker
	}
	return s.d.SeedTag(ctx, name, tag, d, mediaType, size)
}
