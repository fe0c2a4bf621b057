package cache

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"
)

// Cache is the content store with its in-flight fills, refs and index.
type Cache struct {
	store   Store
	adopter FileAdopter // nil if the store cannot adopt temp files
	opener  FileOpener  // nil if objects are not local files
	tmpDir  string
	index   *Index
	markers []Marker // hosted state GC marks from
	log     *slog.Logger

	bg        context.Context // parent of every fill; cancelled by Close
	cancel    context.CancelFunc
	wg        sync.WaitGroup
	closeOnce sync.Once
	closeErr  error

	mu    sync.Mutex
	fills map[string]*fill
	later laterWrites // documents answered before they are stored (later.go)
	// fills committing after their readers ended (settling.go)
	settling settling
	// holds the writes behind replies while requests keep coming (lull.go)
	lull *lull

	// keyLocks order the few operations that must not interleave on one
	// key: eviction or a GC sweep removing it, a hosted write claiming it.
	keyLocks [256]sync.Mutex
	// commitGens count the commits per key-lock shard: a caller that missed
	// a key sees whether it was committed since it looked, without a second
	// look at the store.
	commitGens [256]atomic.Uint64
	space      SpaceReporter // nil if the store is not a local filesystem
	lister     Lister
	fresh      bool // the index was missing or damaged: rebuild it
	evict      *evictor
	gc         gcState

	// removalGens count the removals per shard (generation.go).
	removalGens [256]atomic.Uint64
	// maintenance: Reindex holds it alone; eviction and GC, which remove
	// disjoint kinds, share it.
	maintenance sync.RWMutex

	results        map[string]*metrics.Counter
	verifyFailures *metrics.Counter
	fillWaiters    *metrics.PrometheusHistogram
	fillBytes      *metrics.Counter
	passThrough    *metrics.Counter
	passLogged     atomic.Int64 // unix seconds of the last "disk full" log line
	// presigner answers RedirectURL when [storage.s3] redirect is on.
	presigner  Presigner
	presignTTL time.Duration
	// storeErr is the background probe's last answer (nil: not probed yet).
	storeErr atomic.Pointer[probeResult]
}

// New builds a Cache on store. dir holds the local index and, for stores
// that cannot adopt files, the fills' temp files.
func New(store Store, dir string, log *slog.Logger, set *metrics.Set) (*Cache, error) {
	c := &Cache{store: store, log: log, fills: map[string]*fill{}, lull: newLull()}
	c.adopter, _ = store.(FileAdopter)
	c.opener, _ = store.(FileOpener)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("cannot create %s: %w", dir, err)
	}
	if c.adopter != nil {
		c.tmpDir = c.adopter.TempDir()
	} else {
		c.tmpDir = filepath.Join(dir, "spool")
		if err := os.RemoveAll(c.tmpDir); err != nil {
			return nil, fmt.Errorf("cannot clear %s: %w", c.tmpDir, err)
		}
		if err := os.MkdirAll(c.tmpDir, 0o750); err != nil {
			return nil, fmt.Errorf("cannot create %s: %w", c.tmpDir, err)
		}
	}
	ix, fresh, err := OpenIndex(filepath.Join(dir, "index.db"), log)
	if err != nil {
		return nil, err
	}
	c.index, c.fresh = ix, fresh
	c.space, _ = store.(SpaceReporter)
	c.lister, _ = store.(Lister)
	c.evict = newEvictor(c, set)
	c.passThrough = set.NewCounter("nora_fill_passthrough_total")
	c.bg, c.cancel = context.WithCancel(context.Background())

	c.results = map[string]*metrics.Counter{}
	for _, r := range []string{"hit", "miss", "fill-wait", "stale", "negative"} {
		// Lookups, several per request possible; the proxy counts
		// requests per format (nora_cache_requests_total).
		c.results[r] = set.NewCounter(`nora_cache_lookups_total{result="` + r + `"}`)
	}
	c.verifyFailures = set.NewCounter("nora_fill_verify_failures_total")
	c.fillWaiters = set.NewPrometheusHistogramExt("nora_fill_readers_per_fill", []float64{0, 1, 2, 3, 5, 10, 20, 50, 100})
	c.fillBytes = set.NewCounter("nora_fill_bytes_total")
	set.NewGauge("nora_fills_in_flight", func() float64 {
		c.mu.Lock()
		defer c.mu.Unlock()
		return float64(len(c.fills))
	})
	return c, nil
}

// Index is the local index of object sizes and last access.
func (c *Cache) Index() *Index { return c.index }

// CountResult counts a cache result decided outside Fetch (stale, negative).
func (c *Cache) CountResult(result string) { c.countResult(result) }

func (c *Cache) countResult(result string) {
	if m := c.results[result]; m != nil {
		m.Inc()
	}
}

// Open returns a committed object or ErrNotFound. The caller counts the
// result (a manifest just fetched is a miss, a revalidated one a hit).
func (c *Cache) Open(ctx context.Context, key string) (*Object, error) {
	c.lull.busy()
	if obj, ok := c.laterObject(key); ok {
		return obj, nil
	}
	return c.openCommitted(ctx, key)
}

// openCommitted opens what the store holds under key. It does not wait
// for a commit under way (settling.go): its callers fall back to Fetch,
// which follows the verified fill being committed.
func (c *Cache) openCommitted(ctx context.Context, key string) (*Object, error) {
	if c.opener != nil {
		f, info, err := c.opener.OpenFile(key)
		if err != nil {
			return nil, err
		}
		c.index.Touch(key)
		return &Object{Body: f, Size: info.Size, Result: "hit"}, nil
	}
	body, info, err := c.store.Get(ctx, key, 0)
	if err != nil {
		return nil, err
	}
	c.index.Touch(key)
	return &Object{Body: body, Size: info.Size, Result: "hit"}, nil
}

// Stat answers HEAD for a committed object without reading it; for an
// object whose commit is under way, once that commit ended (settling.go).
func (c *Cache) Stat(ctx context.Context, key string) (Info, error) {
	if body, ok := c.laterBlob(key); ok {
		return Info{Size: int64(len(body)), ModTime: time.Now()}, nil
	}
	info, err := c.store.Stat(ctx, key)
	if errors.Is(err, ErrNotFound) && c.settle(ctx, key) {
		info, err = c.store.Stat(ctx, key)
	}
	return info, err
}

// Close cancels running fills and the lifecycle's background work, waits
// for them and flushes the index. Later calls return the first's result.
func (c *Cache) Close() error {
	c.closeOnce.Do(func() {
		// Documents answered before they were stored are written first;
		// fills, and the commits behind readers that already ended, then
		// see the cancel: a disk commit ends anyway, an S3 upload is
		// abandoned (never completed, so nothing partial is visible).
		c.lull.close()
		c.later.wg.Wait()
		c.cancel()
		c.wg.Wait()
		c.closeErr = c.index.Close()
	})
	return c.closeErr
}

// keyLock returns the lock that orders removals and claims of key.
func (c *Cache) keyLock(key string) *sync.Mutex { return &c.keyLocks[shard(key)] }

// commits counts the commits of key's shard; every store write that makes
// a key readable adds one.
func (c *Cache) commits(key string) *atomic.Uint64 { return &c.commitGens[shard(key)] }

// shard is FNV-1a of key, mod 256, computed on the string: no copy of
// key on the hit path (Generation).
func shard(key string) uint32 {
	h := uint32(2166136261)
	for i := 0; i < len(key); i++ {
		h ^= uint32(key[i])
		h *= 16777619
	}
	return h % 256
}
