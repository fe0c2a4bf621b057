package docker_test

import (
	"log/slog"
	"testing"
	"time"

	"nora/auth"
	"nora/auth/tenant"
	"nora/cache"
	"nora/hosted/oci"
	"nora/internal/units"
	"nora/proxy"
	"nora/proxy/docker"
	"nora/proxy/proxytest"
)

// The user every test nora knows when it has an htpasswd file.
const (
	testUser = "ci"
	testPass = "s3cret-push"
)

type options struct {
	noHtpasswd  bool // no user source: writes are refused
	privateRead bool // anonymous_read = false
	upstreams   []docker.UpstreamConfig
	hostedNames []string // [docker] hosted_names
	hosted      oci.Config
	storage     string        // storage path; "" for a temp dir
	limits      *cache.Limits // eviction limits; nil: the defaults
	log         *slog.Logger  // nil: discarded
	tenants     []tenant.Config
	tenantClock func() time.Time // the tenants' limiters' clock; nil: time.Now
	rateLimit   int              // [server] rate_limit: anonymous pulls per minute per address
}

// noraUnderTest is a test nora with the helpers the docker tests add.
type noraUnderTest struct{ *proxytest.Nora }

// startNora runs an in-process nora on loopback, built as main builds it.
func startNora(t testing.TB, o options) *noraUnderTest {
	t.Helper()
	cfg := proxy.AppConfig{Server: proxy.DefaultConfig(), Docker: docker.DefaultConfig(), HostedOCI: &o.hosted}
	cfg.Server.StallTimeout = units.Duration(10 * time.Second)
	cfg.Docker.Upstreams = o.upstreams
	cfg.Docker.HostedNames = o.hostedNames
	cfg.Tenants, cfg.TenantClock, cfg.Server.RateLimit = o.tenants, o.tenantClock, o.rateLimit
	a := auth.DefaultConfig()
	a.AnonymousRead = !o.privateRead
	if !o.noHtpasswd {
		a.Htpasswd = proxytest.Htpasswd(t, testUser, testPass)
	}
	cfg.Auth = &a
	cfg.Storage.Path = o.storage
	if o.limits != nil {
		cfg.Storage = cache.DefaultConfig()
		cfg.Storage.Path = o.storage
		cfg.Storage.StallTimeout = units.Duration(10 * time.Second)
		cfg.Storage.MaxSize, cfg.Storage.MinFree = units.Size(o.limits.MaxSize), units.Size(o.limits.MinFree)
	}
	if o.log != nil {
		return &noraUnderTest{proxytest.StartLogged(t, cfg, o.log)}
	}
	return &noraUnderTest{proxytest.Start(t, cfg)}
}
