package httpx

import (
	"context"
	"io"

	"github.com/valyala/fasthttp"

	"nora/auth"
	"nora/auth/tenant"
	"nora/internal/fault"
)

// tenantsKey is the user value holding the server's *tenant.Set,
// tenantKey the request's *tenant.Tenant once Admit found it.
type (
	tenantsKey struct{}
	tenantKey  struct{}
)

// AttachTenants makes the requests of ctx count against s (the Server
// does, when tenants or an anonymous rate limit are configured).
func AttachTenants(ctx *fasthttp.RequestCtx, s *tenant.Set) {
	if s != nil {
		ctx.SetUserValue(tenantsKey{}, s)
	}
}

// Tenants is the Set attached to ctx, or nil (no limits).
func Tenants(ctx *fasthttp.RequestCtx) *tenant.Set {
	s, _ := ctx.UserValue(tenantsKey{}).(*tenant.Set)
	return s
}

// TenantOf is the tenant Admit counted the request against, or nil.
func TenantOf(ctx *fasthttp.RequestCtx) *tenant.Tenant {
	t, _ := ctx.UserValue(tenantKey{}).(*tenant.Tenant)
	return t
}

// Admit counts an authorized request against its tenant's rate limits
// (tenant.Set.Admit): RateLimited when one is spent, the message and the
// wait recorded for Refuse (and the audit line), else Allowed.
func Admit(ctx *fasthttp.RequestCtx, id *auth.Identity, action auth.Action, format, name string) Decision {
	s := Tenants(ctx)
	if s == nil {
		return Allowed
	}
	t, err := s.Admit(id, ClientAddr(ctx), action, format, name)
	if t != nil {
		ctx.SetUserValue(tenantKey{}, t)
	}
	if err == nil {
		return Allowed
	}
	ai := auditInfo(ctx)
	ai.Refusal = fault.Message(err)
	ai.RetryAfter = secondsOf(fault.RetryAfter(err))
	return RateLimited
}

// ReserveQuota is tenant.Set.Reserve for the request's server: nil
// without tenants.
func ReserveQuota(ctx *fasthttp.RequestCtx, format, name string, already, n int64) error {
	return Tenants(ctx).Reserve(context.Background(), format, name, already, n)
}

// LimitQuota is tenant.Set.Limit for the request's server: r itself
// without tenants.
func LimitQuota(ctx *fasthttp.RequestCtx, format, name string, already int64, r io.Reader) io.Reader {
	return Tenants(ctx).Limit(context.Background(), format, name, already, r)
}
