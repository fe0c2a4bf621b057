// Package tenant shares one nora between teams ([[tenants]], DESIGN 3.2):
// which tenant a request counts against, its storage quota on hosted
// bytes, its pull and push rate limits, its share of an upstream's pull
// budget and the bandwidth of its cold fills, and the per-address limit
// of anonymous pulls ([server] rate_limit).
//
// The tenant of a hosted name is the first tenant one of whose prefixes
// matches it, else the default tenant. A request on a name no prefix
// matches counts against the tenant whose subjects name its identity,
// else the default tenant. A nil *Set has no tenants and limits nothing.
//
// Usage: a tenant's bytes are the sizes of the distinct objects its
// names hold (an OCI repository's blobs and manifests, a package's
// files). An object held by several names of one tenant counts once; an
// object held by names of two tenants counts once in each, so that
// deleting one tenant's names frees what its usage says. Bytes of
// uploads still in progress are not counted. A count is kept until a
// push or delete of the tenant's names (Changed), a Recount, or a
// minute passes (writes by other instances on a shared store).
package tenant

import (
	"context"
	"io"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"golang.org/x/sync/singleflight"
	"golang.org/x/time/rate"

	"nora/auth"
	"nora/internal/units"
)

// Default is the name of the tenant of names no prefix matches and of
// anonymous callers. A [[tenants]] entry of that name sets its limits.
const Default = "default"

// Config is one [[tenants]] entry.
type Config struct {
	Name string `toml:"name"`
	// Prefixes are the names the tenant owns: globs as in permissions,
	// "/" the separator, optionally FORMAT:GLOB ("npm:@frontend/*").
	Prefixes []string `toml:"prefixes"`
	// Subjects are identities ([[auth.rules]] subjects: users, groups,
	// token names, OIDC rule names) whose requests on names no prefix
	// matches (proxied pulls) count against this tenant.
	Subjects []string `toml:"subjects"`
	// StorageQuota caps the hosted bytes of the tenant's names (0: none).
	StorageQuota units.Size `toml:"storage_quota"`
	RateLimit    RateLimit  `toml:"rate_limit"`
	// Weight is the tenant's share of an upstream's pull budget against
	// the others' (0 means 1).
	Weight int `toml:"weight"`
}

// RateLimit is a tenant's rate_limit = { pull = N, push = N, bandwidth = "10MB" }.
type RateLimit struct {
	Pull int `toml:"pull"` // requests per hour (0: no limit)
	Push int `toml:"push"` // requests per hour (0: no limit)
	// Bandwidth caps the bytes per second of the tenant's cold fills,
	// shared between its clients (0: no limit).
	Bandwidth units.Size `toml:"bandwidth"`
}

// Options build a Set.
type Options struct {
	Tenants []Config
	// AnonymousPerMinute limits anonymous pulls per client address
	// ([server] rate_limit; 0: no limit).
	AnonymousPerMinute int
	// Metrics receives the nora_tenant_* metrics (nil: none).
	Metrics *metrics.Set
	// Now is the clock of the limiters (nil: time.Now); tests move it.
	Now func() time.Time
}

// Source lists the hosted objects of one format, for the usage of
// tenants. Each hosted registry implements it.
type Source interface {
	// Holdings calls fn for every object a hosted name of the format
	// holds (an OCI repository's blobs and manifests, a package's files)
	// whose name keep accepts: key identifies the bytes (two names
	// holding the same bytes give the same key), size is their length.
	Holdings(ctx context.Context, keep func(name string) bool, fn func(name, key string, size int64) error) error
}

// Tenant is one tenant of a Set.
type Tenant struct {
	name   string
	cfg    Config
	set    *Set
	index  int   // in Set.tenants
	quota  int64 // 0: none
	weight int   // share of an upstream's pull budget, >= 1
	// pull and push are the requests per hour (nil: no limit); bw the
	// bytes per second of cold fills (nil: no limit).
	pull, push *rate.Limiter
	bw         *rate.Limiter
	m          tenantMetrics
	usage      usageCache
}

// Name is the tenant's configured name.
func (t *Tenant) Name() string { return t.name }

// Config is the tenant's [[tenants]] entry (the default tenant's is
// Config{Name: Default} unless one is configured).
func (t *Tenant) Config() Config { return t.cfg }

// Set is the compiled [[tenants]] of a configuration.
type Set struct {
	tenants  []*Tenant // configuration order, the default last
	byName   map[string]*Tenant
	def      *Tenant
	prefixes []prefix
	// subjects maps a subject to the index of the first tenant naming it.
	subjects map[string]int
	weights  int        // sum over all tenants
	anon     *anonymous // nil: anonymous pulls are not limited per address
	now      func() time.Time

	srcMu   sync.Mutex
	sources []source
	counts  singleflight.Group

	budgets budgets
}

// New compiles o; it refuses a bad glob, a duplicate name, a negative
// limit.
func New(o Options) (*Set, error) { return compile(o) }

// AddSource counts the hosted objects of format src lists in usage.
// Call it before serving.
func (s *Set) AddSource(format string, src Source) {
	if s == nil || src == nil {
		return
	}
	s.srcMu.Lock()
	defer s.srcMu.Unlock()
	s.sources = append(s.sources, source{format: format, src: src})
}

// Tenants are the tenants in configuration order, the default last.
func (s *Set) Tenants() []*Tenant {
	if s == nil {
		return nil
	}
	return slices.Clone(s.tenants)
}

// Lookup is the tenant called name, or nil.
func (s *Set) Lookup(name string) *Tenant {
	if s == nil {
		return nil
	}
	return s.byName[name]
}

// Owner is the tenant of hosted name in format ("docker", "npm", ...):
// the first whose prefixes match it, else the default.
func (s *Set) Owner(format, name string) *Tenant {
	if s == nil {
		return nil
	}
	if t := s.match(format, name); t != nil {
		return t
	}
	return s.def
}

// Of is the tenant a request of id on name in format counts against:
// Owner when a prefix matches, else the tenant whose subjects name one
// of id's subjects, else the default.
func (s *Set) Of(id *auth.Identity, format, name string) *Tenant {
	if s == nil {
		return nil
	}
	if t := s.match(format, name); t != nil {
		return t
	}
	if t := s.bySubject(id); t != nil {
		return t
	}
	return s.def
}

// Admit counts a request of id from addr to do action on name in format
// against its tenant's rate limit (and, anonymous pulls, addr's), and
// returns that tenant. When a limit is spent it returns a RateLimited
// *fault.Error naming the limit, with the seconds to wait in RetryAfter;
// nothing is counted then.
func (s *Set) Admit(id *auth.Identity, addr netip.Addr, action auth.Action, format, name string) (*Tenant, error) {
	if s == nil {
		return nil, nil
	}
	t := s.Of(id, format, name)
	return t, s.admit(t, id, addr, action)
}

// Changed says that the hosted objects of name in format changed (a
// push, a delete): its owner's usage is counted again when next asked.
func (s *Set) Changed(format, name string) {
	if s == nil {
		return
	}
	s.Owner(format, name).usage.gen.Add(1)
}

// Recount makes every tenant's usage counted again when next asked
// (after GC and retention, or writes by another instance).
func (s *Set) Recount() {
	if s == nil {
		return
	}
	for _, t := range s.tenants {
		t.usage.gen.Add(1)
	}
}

// Usage is a tenant's storage usage.
type Usage struct {
	Tenant string `json:"tenant"`
	// Bytes are the hosted bytes of its names, an object counted once
	// however many of its names hold it.
	Bytes   int64 `json:"storage_bytes"`
	Objects int64 `json:"objects"`
	Quota   int64 `json:"storage_quota"` // 0: none
}

// Usage counts (or returns the last count of) t's hosted bytes.
func (s *Set) Usage(ctx context.Context, t *Tenant) (Usage, error) {
	if s == nil || t == nil {
		return Usage{}, nil
	}
	return s.usage(ctx, t)
}

// Reserve checks that n more bytes (a declared length) of hosted name in
// format fit its owner's quota, beyond already bytes of the same upload
// received before. Over it, it returns a Denied *fault.Error naming the
// tenant and the quota.
//
// When the usage cannot be counted (the store fails), Reserve lets the
// upload through: a quota must not turn a store hiccup into refused
// pushes, and the store's own failure will show on the write itself.
func (s *Set) Reserve(ctx context.Context, format, name string, already, n int64) error {
	if s == nil {
		return nil
	}
	return s.reserve(ctx, s.Owner(format, name), already, n)
}

// Limit is r cut off with Reserve's error as soon as already plus the
// bytes read from it would pass the quota of name's owner.
//
// The room left is counted once, when Limit is called; when it cannot
// be counted, r is returned as it is (as Reserve lets the upload
// through).
func (s *Set) Limit(ctx context.Context, format, name string, already int64, r io.Reader) io.Reader {
	if s == nil {
		return r
	}
	return s.limit(ctx, s.Owner(format, name), already, r)
}

// Throttle is r read no faster than t's bandwidth (a cold fill started by
// one of its clients), that bandwidth shared by all of t's fills.
func (t *Tenant) Throttle(ctx context.Context, r io.Reader) io.Reader {
	if t == nil || t.bw == nil {
		return r
	}
	return &throttled{ctx: ctx, r: r, lim: t.bw}
}

// TakeUpstreamPull counts one cold manifest fetch of t from an upstream
// that has remaining pulls left in its window (known false: it does not
// say). Once t has spent its share of the window by weight it returns a
// RateLimited *fault.Error and counts nothing.
func (t *Tenant) TakeUpstreamPull(upstream string, remaining int, known bool) error {
	if t == nil || !known {
		return nil
	}
	return t.set.budgets.take(t, upstream, remaining)
}
