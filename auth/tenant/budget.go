package tenant

import (
	"fmt"
	"sync"

	"nora/internal/fault"
)

// maxUpstreams bounds the windows kept: upstream names are configured
// names, so more means a caller passes something else; those are not
// limited.
const maxUpstreams = 256

// budgets share each upstream's pull budget between tenants by weight.
type budgets struct {
	mu sync.Mutex
	m  map[string]*window
}

// window is what the tenants spent of one upstream's budget since its
// remaining count last rose (the upstream's window reset).
type window struct {
	last  int   // the last remaining count seen
	total int   // spent by all tenants since the reset
	spent []int // by tenant index
}

// take counts one pull of t from upstream, which says remaining pulls
// are left, unless t has spent its share.
func (b *budgets) take(t *Tenant, upstream string, remaining int) error {
	s := t.set
	b.mu.Lock()
	defer b.mu.Unlock()
	w := b.m[upstream]
	if w == nil {
		if len(b.m) >= maxUpstreams {
			return nil
		}
		if b.m == nil {
			b.m = map[string]*window{}
		}
		w = &window{last: remaining, spent: make([]int, len(s.tenants))}
		b.m[upstream] = w
	}
	if remaining > w.last {
		clear(w.spent)
		w.total = 0
	}
	w.last = remaining
	budget := max(w.last, 0) + w.total
	share := budget * t.weight / s.weights
	if w.spent[t.index] >= share {
		t.m.rateLimited.Inc()
		return &fault.Error{Kind: fault.RateLimited, RetryAfter: 60,
			Msg: fmt.Sprintf("tenant %s has used its share (%d of %d) of upstream %s's pull budget; cached content is still served",
				t.name, share, budget, upstream)}
	}
	w.spent[t.index]++
	w.total++
	return nil
}
