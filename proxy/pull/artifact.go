package pull

import (
	"context"
	"io"
	"net/http"
	"time"

	"nora/auth/tenant"
	"nora/cache"
	"nora/upstream"
)

// ArtifactRequest names an immutable artifact (a tarball, wheel, jar,
// .crate, OCI blob) and what the protocol declares about it.
type ArtifactRequest struct {
	// Name is the ref key, "refs/npm/lodash/-/lodash-4.17.21.tgz"; ""
	// keeps the artifact under Expect.Digest alone (OCI blobs, whose
	// name is their digest).
	Name     string
	Upstream *upstream.Registry
	// URL is absolute, or relative to the upstream's base; with Repo, a
	// path under /v2/<Repo>/ ("blobs/sha256:…").
	URL string
	// Repo, if set, is the registry repository URL belongs to: the
	// request carries that repository's token scope.
	Repo    string
	Expect  cache.Expect
	Offline bool
	// Tenant is whose bandwidth ([[tenants]] rate_limit.bandwidth) a cold
	// fill this request starts spends (nil: none); httpx.TenantOf the
	// request once it was authorized.
	Tenant *tenant.Tenant
}

// ArtifactStore is what Artifact needs of the cache.
type ArtifactStore interface {
	Open(ctx context.Context, key string) (*cache.Object, error)
	OpenNamed(ctx context.Context, name string) (*cache.Object, error)
	Fetch(ctx context.Context, key string, want cache.Expect, src cache.Source) (*cache.Object, error)
	FetchNamed(ctx context.Context, name string, want cache.Expect, src cache.Source) (*cache.Object, error)
	CountResult(result string)
}

// Artifacts fetches immutable artifacts into a store.
type Artifacts struct {
	Store ArtifactStore
	// Stall bounds an upstream body that moves no byte (0: unbounded).
	Stall time.Duration
	// Base is the server's lifetime (see Deps.Base).
	Base context.Context
}

// fillWait bounds how long a request waits for the upstream's response
// headers before its fill can be followed; the fill itself is bounded by
// stalls only.
const fillWait = 2 * time.Minute

// Artifact returns the cached artifact, or follows the one fill of it.
// Every format's immutable downloads go through here: one upstream fetch
// however many clients ask, bytes verified before commit, stored once by
// sha256.
func Artifact(ctx context.Context, deps Deps, r ArtifactRequest) (*cache.Object, error) {
	return Artifacts{Store: deps.Cache, Stall: deps.Stall, Base: deps.Base}.Get(ctx, r)
}

// Get is Artifact.
func (a Artifacts) Get(ctx context.Context, r ArtifactRequest) (*cache.Object, error) {
	obj, err := a.open(ctx, r)
	if err == nil {
		a.Store.CountResult("hit")
		return obj, nil
	}
	if !cache.Missing(err) {
		return nil, err
	}
	if r.Offline {
		return nil, ErrOffline
	}
	wctx, cancel := Detached(a.Base, fillWait)
	defer cancel()
	if r.Name == "" {
		obj, err = a.Store.Fetch(wctx, cache.BlobKey(r.Expect.Digest), r.Expect, a.source(r))
	} else {
		obj, err = a.Store.FetchNamed(wctx, r.Name, r.Expect, a.source(r))
	}
	return obj, classify(err)
}

func (a Artifacts) open(ctx context.Context, r ArtifactRequest) (*cache.Object, error) {
	if r.Name == "" {
		if r.Expect.Digest.Validate() != nil {
			return nil, cache.ErrNotFound
		}
		return a.Store.Open(ctx, cache.BlobKey(r.Expect.Digest))
	}
	return a.Store.OpenNamed(ctx, r.Name)
}

// source opens the upstream body of r for the one fill, read no faster
// than r's tenant's bandwidth allows, and resumed where it broke off
// (resume.go). The fill outlives the request that started it (others
// follow it), so the wait is bounded by the fill's context, not the
// request's.
func (a Artifacts) source(r ArtifactRequest) cache.Source {
	get := func(ctx context.Context, hdr http.Header) (*http.Response, error) {
		if r.Repo != "" {
			return r.Upstream.Do(ctx, http.MethodGet, r.Repo, r.URL, hdr)
		}
		return r.Upstream.DoURL(ctx, http.MethodGet, r.URL, hdr)
	}
	stall := func(body io.ReadCloser) io.ReadCloser {
		if a.Stall > 0 {
			return upstream.StallReader(body, a.Stall)
		}
		return body
	}
	return func(fctx context.Context) (io.ReadCloser, int64, error) {
		what := r.URL
		if r.Repo != "" {
			what = r.Repo + "/" + r.URL
		}
		resp, err := get(fctx, identity)
		if err != nil {
			return nil, 0, Unreachable(what, err)
		}
		if resp.StatusCode != http.StatusOK {
			resp.Body.Close()
			return nil, 0, StatusError(what, resp.StatusCode, resp.Header.Get("Retry-After"))
		}
		body := newResumingBody(fctx, resp, get, stall)
		return throttle(fctx, r.Tenant, body), resp.ContentLength, nil
	}
}

// identity asks for an artifact's bytes as they are: net/http would
// otherwise ask for gzip and inflate what comes, and a small gzip bomb
// sent as a layer or tarball would be written out whole before its digest
// failed. Read only (requests copy it).
var identity = http.Header{"Accept-Encoding": {"identity"}}

// throttle is body read within t's bandwidth (t nil: body itself).
func throttle(ctx context.Context, t *tenant.Tenant, body io.ReadCloser) io.ReadCloser {
	if t == nil {
		return body
	}
	return struct {
		io.Reader
		io.Closer
	}{t.Throttle(ctx, body), body}
}
