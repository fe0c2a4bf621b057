package tenant

import (
	"context"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"nora/auth"
)

// kind is the action label of a request: admin counts as push.
type kind uint8

const (
	kindPull kind = iota
	kindPush
	kindDelete
)

var kindLabels = [...]string{kindPull: "pull", kindPush: "push", kindDelete: "delete"}

func kindOf(a auth.Action) kind {
	switch a {
	case auth.Pull:
		return kindPull
	case auth.Delete:
		return kindDelete
	}
	return kindPush
}

type result uint8

const (
	resultOK result = iota
	resultRateLimited
	resultOverQuota
)

var resultLabels = [...]string{resultOK: "ok", resultRateLimited: "rate_limited", resultOverQuota: "over_quota"}

// tenantMetrics are one tenant's series, made once so that a request
// builds no label string.
type tenantMetrics struct {
	requests    [len(kindLabels)][len(resultLabels)]*metrics.Counter
	rateLimited *metrics.Counter
}

// gaugeTimeout bounds the recount a scrape of /metrics may start; a
// longer count goes on and the next scrape shows it.
const gaugeTimeout = 2 * time.Second

// register makes every tenant's series on set (a private one when nil).
func (s *Set) register(set *metrics.Set) {
	if set == nil {
		set = metrics.NewSet()
	}
	for _, t := range s.tenants {
		l := `tenant="` + t.name + `"`
		for k, kl := range kindLabels {
			for r, rl := range resultLabels {
				t.m.requests[k][r] = set.GetOrCreateCounter(`nora_tenant_requests_total{` + l + `,action="` + kl + `",result="` + rl + `"}`)
			}
		}
		t.m.rateLimited = set.GetOrCreateCounter(`nora_tenant_rate_limited_total{` + l + `}`)
		// A Set made again on the same metrics (a reload) takes the
		// gauges over: theirs read the tenants of the old one.
		gauge(set, `nora_tenant_storage_bytes{`+l+`}`, func() float64 { return float64(s.gaugeUsage(t)) })
		quota := float64(t.quota)
		gauge(set, `nora_tenant_storage_quota_bytes{`+l+`}`, func() float64 { return quota })
	}
}

func gauge(set *metrics.Set, name string, f func() float64) {
	set.UnregisterMetric(name)
	set.NewGauge(name, f)
}

// count adds one request of kind k with result r.
func (t *Tenant) count(k kind, r result) {
	t.m.requests[k][r].Inc()
	if r == resultRateLimited {
		t.m.rateLimited.Inc()
	}
}

// gaugeRecount is how often a scrape may count a tenant's usage again.
// A count reads every hosted holding of the tenant; scrapes come every
// few seconds, and under a stream of pushes (each makes the count out of
// date) a count per scrape took a quarter of nora's CPU in the soak.
const gaugeRecount = 30 * time.Second

// gaugeUsage is t's last count of bytes, counted again first (briefly)
// when it is out of date and older than gaugeRecount.
func (s *Set) gaugeUsage(t *Tenant) int64 {
	if t.usage.countedWithin(s.now(), gaugeRecount) {
		return t.usage.last()
	}
	ctx, cancel := context.WithTimeout(context.Background(), gaugeTimeout)
	defer cancel()
	if u, err := s.usage(ctx, t); err == nil {
		return u.Bytes
	}
	return t.usage.last()
}
