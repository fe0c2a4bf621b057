package admin

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"nora/auth/tenant"
)

// TenantInfo is one tenant in GET /api/v1/tenants: its [[tenants]] entry
// and its storage usage. Sizes are bytes; 0 means no quota or no limit.
type TenantInfo struct {
	Name         string          `json:"name"`
	Prefixes     []string        `json:"prefixes"`
	Subjects     []string        `json:"subjects"`
	StorageQuota int64           `json:"storage_quota"`
	StorageBytes int64           `json:"storage_bytes"`
	Objects      int64           `json:"objects"`
	RateLimit    TenantRateLimit `json:"rate_limit"`
	Weight       int             `json:"weight"`
}

// TenantRateLimit is a tenant's rate_limit: requests per hour, bytes per
// second.
type TenantRateLimit struct {
	Pull      int   `json:"pull"`
	Push      int   `json:"push"`
	Bandwidth int64 `json:"bandwidth"`
}

// serveTenants routes /api/v1/tenants (rest "") and
// /api/v1/tenants/<name>/usage (rest "/<name>/usage").
func (s *Server) serveTenants(w http.ResponseWriter, r *http.Request, rest string) {
	name, isUsage := strings.CutSuffix(strings.TrimPrefix(rest, "/"), "/usage")
	if rest != "" && (!isUsage || name == "") {
		writeError(w, http.StatusNotFound, "no such resource", r.URL.Path)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		s.methodNotAllowed(w, r, "GET, HEAD")
		return
	}
	if rest == "" {
		s.listTenants(w, r)
		return
	}
	t := s.tenants.Lookup(name)
	if t == nil {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no tenant %q", name), nil)
		return
	}
	u, err := s.tenants.Usage(r.Context(), t)
	if err != nil {
		s.usageError(w, t, err)
		return
	}
	writeJSON(w, http.StatusOK, u)
}

// listTenants implements GET /api/v1/tenants: every tenant in
// configuration order, the default last, each with its usage.
func (s *Server) listTenants(w http.ResponseWriter, r *http.Request) {
	ts := s.tenants.Tenants()
	out := make([]TenantInfo, 0, len(ts))
	for _, t := range ts {
		u, err := s.tenants.Usage(r.Context(), t)
		if err != nil {
			s.usageError(w, t, err)
			return
		}
		out = append(out, tenantInfo(t.Name(), t.Config(), u))
	}
	writeJSON(w, http.StatusOK, out)
}

// usageError answers a usage that could not be counted (the store did
// not answer); the cause is logged, not sent: it may name a path.
func (s *Server) usageError(w http.ResponseWriter, t *tenant.Tenant, err error) {
	s.log.Error("cannot count the usage of a tenant", "tenant", t.Name(), "err", err)
	writeError(w, http.StatusInternalServerError, fmt.Sprintf("cannot count the usage of tenant %q", t.Name()), nil)
}

func tenantInfo(name string, c tenant.Config, u tenant.Usage) TenantInfo {
	orEmpty := func(s []string) []string {
		if s == nil {
			return []string{}
		}
		return s
	}
	return TenantInfo{
		Name:         name,
		Prefixes:     orEmpty(c.Prefixes),
		Subjects:     orEmpty(c.Subjects),
		StorageQuota: int64(c.StorageQuota),
		StorageBytes: u.Bytes,
		Objects:      u.Objects,
		RateLimit: TenantRateLimit{Pull: c.RateLimit.Pull, Push: c.RateLimit.Push,
			Bandwidth: int64(c.RateLimit.Bandwidth)},
		Weight: c.Weight,
	}
}

// Tenants lists the tenants with their usage (GET /api/v1/tenants).
func (c *Client) Tenants(ctx context.Context) ([]TenantInfo, error) {
	var ts []TenantInfo
	err := c.do(ctx, http.MethodGet, prefix+"tenants", nil, &ts)
	return ts, err
}

// TenantUsage is the storage usage of tenant name (GET
// /api/v1/tenants/<name>/usage); an unknown name is an *Error with status
// 404.
func (c *Client) TenantUsage(ctx context.Context, name string) (tenant.Usage, error) {
	var u tenant.Usage
	err := c.do(ctx, http.MethodGet, prefix+"tenants/"+url.PathEscape(name)+"/usage", nil, &u)
	return u, err
}
