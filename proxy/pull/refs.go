package pull

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/opencontainers/go-digest"
	"golang.org/x/sync/singleflight"

	"nora/cache"
	"nora/internal/fault"
)

// RefStore is what the freshness engine needs of the cache.
type RefStore interface {
	Ref(ctx context.Context, key string) (cache.Ref, error)
	PutRef(ctx context.Context, key string, r cache.Ref) error
	PutBlob(ctx context.Context, d digest.Digest, b []byte) error
	// PutLater stores a document's blob and ref in the background,
	// answering for them from memory meanwhile; false: store them now.
	PutLater(key string, r cache.Ref, body []byte) bool
	Stat(ctx context.Context, key string) (cache.Info, error)
	CountResult(result string)
}

// Refs is the one definition of freshness (DESIGN 2.2) for every mutable
// reference of every format: a packument, a simple page, an index file, a
// maven-metadata.xml, an OCI tag. Within the TTL the cached ref is served;
// after it the origin revalidates it; an outage, a rate limit or a garbage
// answer serves the stale copy; an upstream 404 is remembered; offline
// never asks; one revalidation per key runs however many clients ask.
type Refs struct {
	store RefStore
	neg   *cache.Negative
	mem   *refMem // refs_mem.go; nil: none
	// writes are the refs being written in the background (checked).
	writes sync.WaitGroup
	group  singleflight.Group
	log    *slog.Logger
	base   context.Context
	now    func() time.Time
}

// Option tunes a Refs (or the Docs built on one).
type Option func(*Refs)

// WithBase ties revalidations, which outlive their request, to the
// server's lifetime (see Deps.Base).
func WithBase(base context.Context) Option { return func(r *Refs) { r.base = base } }

// WithClock replaces time.Now (tests).
func WithClock(now func() time.Time) Option { return func(r *Refs) { r.now = now } }

// NewRefs builds the engine on store.
func NewRefs(store RefStore, log *slog.Logger, opts ...Option) (*Refs, error) {
	neg, err := cache.NewNegative(cache.NegativeEntries)
	if err != nil {
		return nil, err
	}
	mem, err := newRefMem(store)
	if err != nil {
		neg.Close()
		return nil, err
	}
	r := &Refs{store: store, neg: neg, mem: mem, log: log, now: time.Now}
	for _, o := range opts {
		o(r)
	}
	return r, nil
}

// Close releases the negative cache and the refs kept in memory.
func (e *Refs) Close() {
	e.writes.Wait()
	e.neg.Close()
	e.mem.close()
}

// refreshTimeout bounds one detached revalidation or fetch.
const refreshTimeout = 2 * time.Minute

// RefRequest says how one reference is kept fresh.
type RefRequest struct {
	Key         string // ref key, "refs/npm/<name>/packument"
	TTL         time.Duration
	NegativeTTL time.Duration
	Offline     bool
	// Hold, if set and true, serves a cached ref without asking upstream
	// (Docker Hub's pull budget is nearly spent).
	Hold func() bool
	// Load returns the body of a cached ref; an error means it is gone
	// (evicted) and the ref is fetched again. nil: the body is the blob
	// of ref.Digest, read by the caller; its presence is checked.
	Load func(ctx context.Context, ref cache.Ref) ([]byte, error)
	// Refresh asks the origin about old (have: old is cached and its body
	// present). It stores any new content itself; the engine stores the
	// ref.
	Refresh func(ctx context.Context, old cache.Ref, have bool) (Fetched, error)
}

// Fetched is what a Refresh learnt.
type Fetched struct {
	// Same means the cached ref is still current (a 304, or a HEAD with
	// the same digest).
	Same bool
	Ref  cache.Ref
	Body []byte // the new content, when the origin keeps it in memory
	// Unstored: Body is Ref's blob, checked but not stored yet; the
	// engine stores it (after answering, when the cache can: PutLater).
	Unstored bool
}

// Resolved is a ref ready to serve.
type Resolved struct {
	Ref    cache.Ref
	Body   []byte // from Load or Refresh; nil when the caller reads the blob
	Stale  bool   // upstream was not asked or could not answer: X-Nora-Stale
	Result string // "hit", "miss" or "stale"
}

// Resolve returns what r.Key points at now, by the one freshness rule.
func (e *Refs) Resolve(ctx context.Context, r RefRequest) (Resolved, error) {
	ref, err := e.ref(ctx, r.Key)
	have := err == nil
	if err != nil && !errors.Is(err, cache.ErrNotFound) {
		e.log.Warn("cannot read ref", "key", r.Key, "err", err)
	}
	if have {
		fresh := ref.Fresh(r.TTL, e.now())
		if fresh || r.Offline || (r.Hold != nil && r.Hold()) {
			if res, err := e.serve(ctx, r, ref, !fresh); err == nil {
				return res, nil
			}
			have = false // body lost: fetch again
		} else if !e.present(ctx, ref.Digest) {
			have = false // evicted: a 304 would leave nothing to serve
		}
	}
	if !have {
		if r.Offline {
			return Resolved{}, ErrOffline
		}
		if e.neg.Missing(r.Key) {
			e.store.CountResult("negative")
			return Resolved{}, fault.New(fault.NotFound, "not found upstream (remembered)")
		}
	}
	v, err, _ := e.group.Do(r.Key, func() (any, error) {
		bg, cancel := Detached(e.base, refreshTimeout)
		defer cancel()
		res, err := e.refresh(bg, r, ref, have)
		// An outage, a rate limit or a garbage 200 (a captive portal):
		// the copy we have beats no answer.
		if err != nil && have && (Down(err) || fault.KindOf(err) == fault.BadUpstream) {
			if stale, serr := e.serve(bg, r, ref, true); serr == nil {
				return stale, nil
			}
		}
		return res, err
	})
	if err != nil {
		return Resolved{}, classify(err)
	}
	return v.(Resolved), nil
}

func (e *Refs) present(ctx context.Context, d digest.Digest) bool {
	if d.Validate() != nil {
		return false
	}
	_, err := e.store.Stat(ctx, cache.BlobKey(d))
	return err == nil
}

// serve answers from the cached ref, counting the result.
func (e *Refs) serve(ctx context.Context, r RefRequest, ref cache.Ref, stale bool) (Resolved, error) {
	var body []byte
	if r.Load != nil {
		var err error
		if body, err = r.Load(ctx, ref); err != nil {
			return Resolved{}, err
		}
	} else if !e.present(ctx, ref.Digest) {
		return Resolved{}, cache.ErrNotFound
	}
	res := Resolved{Ref: ref, Body: body, Stale: stale, Result: "hit"}
	if stale {
		res.Result = "stale"
	}
	e.store.CountResult(res.Result)
	return res, nil
}

func (e *Refs) refresh(ctx context.Context, r RefRequest, old cache.Ref, have bool) (Resolved, error) {
	f, err := r.Refresh(ctx, old, have)
	if err != nil {
		if errors.Is(err, fault.NotFound) {
			e.neg.Remember(r.Key, r.NegativeTTL)
		}
		return Resolved{}, err
	}
	if f.Same && have {
		old.FetchedAt = e.now()
		e.checked(ctx, r.Key, old)
		return e.serve(ctx, r, old, false)
	}
	f.Ref.FetchedAt = e.now()
	if f.Unstored {
		if e.store.PutLater(r.Key, f.Ref, f.Body) {
			e.neg.Forget(r.Key)
			e.store.CountResult("miss")
			return Resolved{Ref: f.Ref, Body: f.Body, Result: "miss"}, nil
		}
		// A full disk never fails a pull: the document is in memory.
		if err := e.store.PutBlob(ctx, f.Ref.Digest, f.Body); err != nil && !cache.IsNoSpace(err) {
			return Resolved{}, err
		}
	}
	if err := e.store.PutRef(ctx, r.Key, f.Ref); err != nil && !cache.IsNoSpace(err) {
		return Resolved{}, err
	} else if err != nil && f.Body == nil {
		// The caller reads the blob: without the ref it may be gone.
		return Resolved{}, err
	}
	// A full disk never fails a pull whose body is in memory.
	e.neg.Forget(r.Key)
	e.store.CountResult("miss")
	return Resolved{Ref: f.Ref, Body: f.Body, Result: "miss"}, nil
}

// ByDigest is the Refresh of a reference whose upstream names its target
// by digest (an OCI tag): head asks which digest it points at now (a HEAD,
// which Docker Hub does not count as a pull), and get fetches and stores
// the target only when it is new or moved.
func ByDigest(head func(context.Context) (digest.Digest, error), get func(context.Context) (Fetched, error)) func(context.Context, cache.Ref, bool) (Fetched, error) {
	return func(ctx context.Context, old cache.Ref, have bool) (Fetched, error) {
		if have {
			d, err := head(ctx)
			if err != nil {
				return Fetched{}, err
			}
			if d == old.Digest {
				return Fetched{Same: true}, nil
			}
		}
		f, err := get(ctx)
		f.Same = err == nil && have && f.Ref.Digest == old.Digest
		return f, err
	}
}
