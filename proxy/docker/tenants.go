package docker

import (
	"context"
	"errors"
	"io"

	"github.com/valyala/fasthttp"

	"nora/auth/tenant"
	"nora/cache"
	"nora/internal/fault"
	"nora/proxy/httpx"
)

// budgetSpent is tenant t's share of an upstream's pull budget spent: a
// RateLimited error of the tenant, not of the upstream.
type budgetSpent struct {
	error
	t *tenant.Tenant
}

func (b budgetSpent) Unwrap() error { return b.error }

// takeUpstreamPull counts one cold manifest GET of t (nil: no tenants)
// from rt's upstream against t's share of the pulls the upstream says it
// has left.
func takeUpstreamPull(t *tenant.Tenant, rt route) error {
	if t == nil {
		return nil
	}
	n, known := rt.up.reg.RateLimitRemaining()
	if err := t.TakeUpstreamPull(rt.up.cfg.Name, n, known); err != nil {
		return budgetSpent{err, t}
	}
	return nil
}

// tooManyPulls answers a tenant whose share of the upstream's pull budget
// is spent: 429 TOOMANYREQUESTS with the tenant's message and Retry-After
// (60 seconds when the budget did not say). It reports false for any
// other error.
func tooManyPulls(ctx *fasthttp.RequestCtx, err error) bool {
	var b budgetSpent
	if !errors.As(err, &b) {
		return false
	}
	ociError(ctx, codeTooManyRequests, fault.Message(err))
	httpx.SetRetryAfter(ctx, err)
	return true
}

// fillStore returns the store a cold blob fill started by ctx's request
// goes through: the cache itself without tenants, else the cache with the
// upstream body throttled to the request's tenant's bandwidth (Throttle
// leaves it as it is when the tenant has none).
func (h *Handler) fillStore(ctx *fasthttp.RequestCtx) Cache {
	t := httpx.TenantOf(ctx)
	if t == nil {
		return h.cache
	}
	return throttledStore{Cache: h.cache, t: t}
}

// throttledStore reads the upstream bodies of the fills it starts no
// faster than its tenant's bandwidth. The fill may outlive the request
// that started it: the throttle waits on the fill's own context.
type throttledStore struct {
	Cache
	t *tenant.Tenant
}

func (s throttledStore) Fetch(ctx context.Context, key string, want cache.Expect, src cache.Source) (*cache.Object, error) {
	return s.Cache.Fetch(ctx, key, want, s.throttle(src))
}

func (s throttledStore) FetchNamed(ctx context.Context, name string, want cache.Expect, src cache.Source) (*cache.Object, error) {
	return s.Cache.FetchNamed(ctx, name, want, s.throttle(src))
}

func (s throttledStore) throttle(src cache.Source) cache.Source {
	return func(fctx context.Context) (io.ReadCloser, int64, error) {
		body, size, err := src(fctx)
		if err != nil {
			return nil, 0, err
		}
		return throttledBody{Reader: s.t.Throttle(fctx, body), Closer: body}, size, nil
	}
}

type throttledBody struct {
	io.Reader
	io.Closer
}
