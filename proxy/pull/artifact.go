package pull

import (
	"context"
	"errors"
	"io"
	"net/http"
	"time"

	"nora/cache"
	"nora/upstream"
)

// ArtifactRequest names an immutable artifact (a tarball, wheel, jar,
// .crate) and what the protocol declares about it.
type ArtifactRequest struct {
	Name     string // ref key, "refs/npm/lodash/-/lodash-4.17.21.tgz"
	Upstream *upstream.Registry
	URL      string // absolute, or relative to the upstream's base
	Expect   cache.Expect
	Offline  bool
}

// Artifact returns the cached artifact, or follows the one fill of it.
// Every format's immutable downloads go through here: one upstream fetch
// however many clients ask, bytes verified before commit, stored once by
// sha256.
func Artifact(ctx context.Context, deps Deps, r ArtifactRequest) (*cache.Object, error) {
	if r.Offline {
		obj, err := deps.Cache.OpenNamed(ctx, r.Name)
		if errors.Is(err, cache.ErrNotFound) {
			return nil, errOffline
		}
		if err == nil {
			deps.Cache.CountResult("hit")
		}
		return obj, err
	}
	up, target, stall := r.Upstream, r.URL, deps.Stall
	src := func(fctx context.Context) (io.ReadCloser, int64, error) {
		resp, err := up.DoURL(fctx, http.MethodGet, target, nil)
		if err != nil {
			return nil, 0, unavailable(target, err)
		}
		if resp.StatusCode != http.StatusOK {
			resp.Body.Close()
			return nil, 0, StatusError(target, resp.StatusCode, resp.Header.Get("Retry-After"))
		}
		return upstream.StallReader(resp.Body, stall), resp.ContentLength, nil
	}
	wctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	obj, err := deps.Cache.FetchNamed(wctx, r.Name, r.Expect, src)
	return obj, classify(err)
}
