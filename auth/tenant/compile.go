package tenant

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/gobwas/glob"
	"golang.org/x/time/rate"
)

// formats are the FORMAT words a prefix may name, as in permissions.
var formats = map[string]bool{"docker": true, "npm": true, "pypi": true, "maven": true, "cargo": true}

// prefix is one compiled entry of a tenant's prefixes.
type prefix struct {
	format string // "" for every format
	g      *glob.Pattern
	t      *Tenant
}

// minBandwidthBurst lets a fill read a useful chunk at once even under a
// small bandwidth.
const minBandwidthBurst = 64 << 10

func compile(o Options) (*Set, error) {
	if o.AnonymousPerMinute < 0 {
		return nil, fmt.Errorf("server rate_limit %d: must not be negative", o.AnonymousPerMinute)
	}
	s := &Set{byName: map[string]*Tenant{}, subjects: map[string]int{}, now: o.Now}
	if s.now == nil {
		s.now = time.Now
	}
	var def *Config
	for i := range o.Tenants {
		c := &o.Tenants[i]
		if err := check(c); err != nil {
			return nil, err
		}
		if s.byName[c.Name] != nil || (c.Name == Default && def != nil) {
			return nil, fmt.Errorf("tenant %q: declared twice", c.Name)
		}
		if c.Name == Default {
			def = c // last, whatever its place
			continue
		}
		if err := s.add(c); err != nil {
			return nil, err
		}
	}
	if def == nil {
		def = &Config{Name: Default}
	}
	if err := s.add(def); err != nil {
		return nil, err
	}
	s.def = s.tenants[len(s.tenants)-1]
	if o.AnonymousPerMinute > 0 {
		s.anon = newAnonymous(o.AnonymousPerMinute, anonymousAddresses)
	}
	s.register(o.Metrics)
	return s, nil
}

// check refuses what no tenant may say.
func check(c *Config) error {
	if c.Name == "" {
		return fmt.Errorf("tenant without a name")
	}
	if strings.TrimLeft(c.Name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") != "" {
		// The name is a metric label and a path segment of the admin API.
		return fmt.Errorf("tenant %q: a name is letters, digits, '.', '_' and '-'", c.Name)
	}
	if c.Name == Default && len(c.Prefixes) > 0 {
		return fmt.Errorf("tenant %q: the default tenant holds the names no prefix matches; it has no prefixes", c.Name)
	}
	switch {
	case c.StorageQuota < 0:
		return fmt.Errorf("tenant %q: storage_quota must not be negative", c.Name)
	case c.RateLimit.Pull < 0, c.RateLimit.Push < 0, c.RateLimit.Bandwidth < 0:
		return fmt.Errorf("tenant %q: rate_limit values must not be negative", c.Name)
	case c.Weight < 0:
		return fmt.Errorf("tenant %q: weight must not be negative", c.Name)
	}
	for _, sub := range c.Subjects {
		if sub == "" {
			return fmt.Errorf("tenant %q: empty subject", c.Name)
		}
	}
	return nil
}

// add compiles c into a new tenant, the last so far.
func (s *Set) add(c *Config) error {
	t := &Tenant{name: c.Name, cfg: cloneConfig(*c), set: s, index: len(s.tenants), quota: int64(c.StorageQuota), weight: max(c.Weight, 1)}
	t.pull = perHour(c.RateLimit.Pull)
	t.push = perHour(c.RateLimit.Push)
	if bw := int64(c.RateLimit.Bandwidth); bw > 0 {
		t.bw = rate.NewLimiter(rate.Limit(bw), int(min(max(bw, minBandwidthBurst), 1<<30)))
	}
	for _, p := range c.Prefixes {
		cp, err := compilePrefix(p)
		if err != nil {
			return fmt.Errorf("tenant %q: %w", c.Name, err)
		}
		cp.t = t
		s.prefixes = append(s.prefixes, cp)
	}
	for _, sub := range c.Subjects {
		if _, ok := s.subjects[sub]; !ok {
			s.subjects[sub] = t.index
		}
	}
	s.tenants = append(s.tenants, t)
	s.byName[t.name] = t
	s.weights += t.weight
	return nil
}

// compilePrefix parses "GLOB" or "FORMAT:GLOB".
func compilePrefix(p string) (prefix, error) {
	var out prefix
	pat := p
	if f, rest, ok := strings.Cut(p, ":"); ok {
		if !formats[f] {
			return prefix{}, fmt.Errorf("prefix %q: unknown format %q (want docker, npm, pypi, maven or cargo)", p, f)
		}
		out.format, pat = f, rest
	}
	if pat == "" {
		return prefix{}, fmt.Errorf("prefix %q: empty glob", p)
	}
	g, err := glob.Compile(pat, '/')
	if err != nil {
		return prefix{}, fmt.Errorf("prefix %q: invalid glob: %v", p, err)
	}
	out.g = g
	return out, nil
}

// perHour is a limiter of n requests an hour, all of them at once at
// most (nil for 0: no limit).
func perHour(n int) *rate.Limiter {
	if n <= 0 {
		return nil
	}
	return rate.NewLimiter(rate.Limit(float64(n)/3600), n)
}

// cloneConfig is c owning its slices: the caller's may change after New.
func cloneConfig(c Config) Config {
	c.Prefixes, c.Subjects = slices.Clone(c.Prefixes), slices.Clone(c.Subjects)
	return c
}
