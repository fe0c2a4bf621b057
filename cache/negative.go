package cache

import (
	"time"

	"github.com/dgraph-io/ristretto/v2"
)

// Negative remembers upstream 404s for a while, in bounded memory.
type Negative struct {
	c *ristretto.Cache[string, struct{}]
}

// NegativeEntries is what a Negative holds. Misses are remembered for
// negative_ttl (a minute by default), and ristretto's counters take about
// 40 bytes an entry before any miss is stored (4.4 MB for 100,000): a
// larger one costs every box memory for misses that expire anyway.
const NegativeEntries = 10_000

// NewNegative holds up to about maxEntries misses.
func NewNegative(maxEntries int64) (*Negative, error) {
	c, err := ristretto.NewCache(&ristretto.Config[string, struct{}]{
		NumCounters: maxEntries * 10,
		MaxCost:     maxEntries,
		BufferItems: 64,
	})
	if err != nil {
		return nil, err
	}
	return &Negative{c: c}, nil
}

// Remember records key as missing for ttl (a zero ttl remembers nothing).
func (n *Negative) Remember(key string, ttl time.Duration) {
	if ttl <= 0 {
		return
	}
	n.c.SetWithTTL(key, struct{}{}, 1, ttl)
	n.c.Wait()
}

// Missing reports whether key is remembered as missing.
func (n *Negative) Missing(key string) bool {
	_, ok := n.c.Get(key)
	return ok
}

// Forget drops key (it was found after all, or pushed).
func (n *Negative) Forget(key string) { n.c.Del(key) }

// Close stops the cache's goroutines.
func (n *Negative) Close() { n.c.Close() }
