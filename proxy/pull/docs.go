package pull

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/dgraph-io/ristretto/v2"
	"github.com/opencontainers/go-digest"
	"golang.org/x/sync/singleflight"

	"nora/cache"
	"nora/internal/fault"
	"nora/upstream"
)

// Docs fetches mutable documents (packuments, simple pages, index files,
// maven-metadata.xml) with one freshness rule for every format.
type Docs struct {
	cache *cache.Cache
	neg   *cache.Negative
	group singleflight.Group
	log   *slog.Logger
	// hot keeps recently served documents in memory, bounded by bytes, so
	// a warm GET within the TTL costs no disk read.
	hot *ristretto.Cache[string, *hotDoc]
}

type hotDoc struct {
	ref  cache.Ref
	body []byte
}

// hotBytes bounds the in-memory documents (an edge box is small).
const hotBytes = 32 << 20

// NewDocs builds the document fetcher on c.
func NewDocs(c *cache.Cache, log *slog.Logger) (*Docs, error) {
	neg, err := cache.NewNegative(100_000)
	if err != nil {
		return nil, err
	}
	hot, err := ristretto.NewCache(&ristretto.Config[string, *hotDoc]{NumCounters: 100_000, MaxCost: hotBytes, BufferItems: 64})
	if err != nil {
		neg.Close()
		return nil, err
	}
	return &Docs{cache: c, neg: neg, log: log, hot: hot}, nil
}

// Close releases the memory caches.
func (d *Docs) Close() {
	d.neg.Close()
	d.hot.Close()
}

func (d *Docs) remember(key string, ref cache.Ref, body []byte) {
	d.hot.Set(key, &hotDoc{ref: ref, body: body}, int64(len(body))+256)
}

// DocRequest says where a document lives and how it may be cached.
type DocRequest struct {
	Key         string // ref key, "refs/npm/<name>/packument"
	Upstream    *upstream.Registry
	URL         string // absolute, or relative to the upstream's base
	Header      http.Header
	TTL         time.Duration
	NegativeTTL time.Duration
	Offline     bool
	MaxBytes    int64
	// Check, if set, refuses a body before it is cached (a parse check).
	Check func([]byte) error
}

// Doc is a document ready to serve.
type Doc struct {
	Body        []byte
	ContentType string
	ETag        string // upstream validator (also a fine client validator)
	Digest      digest.Digest
	FetchedAt   time.Time
	Stale       bool   // upstream was down: X-Nora-Stale
	Result      string // "hit", "miss" or "stale"
}

// Body is shared with the in-memory cache: callers must not modify it.
func newDoc(ref cache.Ref, body []byte, stale bool, result string) *Doc {
	return &Doc{Body: body, ContentType: ref.MediaType, ETag: ref.ETag, Digest: ref.Digest, FetchedAt: ref.FetchedAt, Stale: stale, Result: result}
}

// Get returns the document: the cached copy while fresh, else a conditional
// revalidation (If-None-Match / If-Modified-Since), else a fetch; the stale
// copy when upstream is down or rate limiting; a remembered 404 for
// NegativeTTL.
func (d *Docs) Get(ctx context.Context, r DocRequest) (*Doc, error) {
	if h, ok := d.hot.Get(r.Key); ok && h.ref.Fresh(r.TTL, time.Now()) {
		d.cache.CountResult("hit")
		return newDoc(h.ref, h.body, false, "hit"), nil
	}
	ref, err := d.cache.Ref(ctx, r.Key)
	have := err == nil
	if err != nil && !errors.Is(err, cache.ErrNotFound) {
		d.log.Warn("cannot read ref", "key", r.Key, "err", err)
	}
	if have {
		if ref.Fresh(r.TTL, time.Now()) || r.Offline {
			doc, err := d.load(ctx, r.Key, ref, !ref.Fresh(r.TTL, time.Now()))
			if err == nil {
				return doc, nil
			}
			have = false // body lost: fetch again
		} else if _, err := d.cache.Stat(ctx, cache.BlobKey(ref.Digest)); err != nil {
			if h, ok := d.hot.Get(r.Key); !ok || h.ref.Digest != ref.Digest {
				have = false // evicted: a 304 would leave nothing to serve
			}
		}
	}
	if !have {
		if r.Offline {
			return nil, errOffline
		}
		if d.neg.Missing(r.Key) {
			d.cache.CountResult("negative")
			return nil, fault.New(fault.NotFound, "not found upstream (remembered)")
		}
	}
	v, err, _ := d.group.Do(r.Key, func() (any, error) {
		bg, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		doc, err := d.refresh(bg, r, ref, have)
		// An outage, a rate limit or a garbage 200 (a captive portal):
		// the copy we have beats no answer.
		if err != nil && have && (Down(err) || fault.KindOf(err) == fault.BadUpstream) {
			return d.load(bg, r.Key, ref, true)
		}
		return doc, err
	})
	if err != nil {
		return nil, classify(err)
	}
	doc := *v.(*Doc) // each caller gets its own copy of the header fields
	return &doc, nil
}

func (d *Docs) load(ctx context.Context, key string, ref cache.Ref, stale bool) (*Doc, error) {
	var body []byte
	if h, ok := d.hot.Get(key); ok && h.ref.Digest == ref.Digest {
		body = h.body
	} else {
		obj, err := d.cache.Open(ctx, cache.BlobKey(ref.Digest))
		if err != nil {
			return nil, err
		}
		defer obj.Body.Close()
		body = make([]byte, 0, max(obj.Size, 0)+1)
		if body, err = readAllInto(body, obj.Body); err != nil {
			return nil, err
		}
	}
	d.remember(key, ref, body)
	result := "hit"
	if stale {
		result = "stale"
	}
	d.cache.CountResult(result)
	return newDoc(ref, body, stale, result), nil
}

// readAllInto reads r to EOF into b's spare capacity (grown if needed).
func readAllInto(b []byte, r io.Reader) ([]byte, error) {
	buf := bytes.NewBuffer(b)
	_, err := buf.ReadFrom(r)
	return buf.Bytes(), err
}

func (d *Docs) refresh(ctx context.Context, r DocRequest, old cache.Ref, have bool) (*Doc, error) {
	hdr := r.Header.Clone()
	if hdr == nil {
		hdr = http.Header{}
	}
	if have {
		if old.ETag != "" {
			hdr.Set("If-None-Match", old.ETag)
		}
		if old.LastModified != "" {
			hdr.Set("If-Modified-Since", old.LastModified)
		}
	}
	resp, err := r.Upstream.DoURL(ctx, http.MethodGet, r.URL, hdr)
	if err != nil {
		return nil, unavailable(r.URL, err)
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNotModified && have:
		old.FetchedAt = time.Now()
		if err := d.cache.PutRef(ctx, r.Key, old); err != nil {
			d.log.Warn("cannot update ref", "key", r.Key, "err", err)
		}
		return d.load(ctx, r.Key, old, false)
	case resp.StatusCode != http.StatusOK:
		err := StatusError(r.URL, resp.StatusCode, resp.Header.Get("Retry-After"))
		if errors.Is(err, fault.NotFound) {
			d.neg.Remember(r.Key, r.NegativeTTL)
		}
		return nil, err
	}
	max := r.MaxBytes
	if max <= 0 {
		max = 32 << 20
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, max+1))
	if err != nil {
		return nil, unavailable(r.URL, err)
	}
	if int64(len(body)) > max {
		return nil, fault.New(fault.BadUpstream, "upstream document is larger than the cap")
	}
	if r.Check != nil {
		if err := r.Check(body); err != nil {
			return nil, &fault.Error{Kind: fault.BadUpstream, Msg: "upstream sent an invalid document: " + err.Error()}
		}
	}
	dg := digest.FromBytes(body)
	ref := cache.Ref{
		Digest: dg, MediaType: resp.Header.Get("Content-Type"), Size: int64(len(body)), FetchedAt: time.Now(),
		ETag: resp.Header.Get("ETag"), LastModified: resp.Header.Get("Last-Modified"),
	}
	err = d.cache.PutBlob(ctx, dg, body)
	if err == nil {
		err = d.cache.PutRef(ctx, r.Key, ref)
	}
	if cache.IsNoSpace(err) {
		// A full disk never fails a pull: the document is in memory.
		d.cache.CountResult("miss")
		return newDoc(ref, body, false, "miss"), nil
	}
	if err != nil {
		return nil, err
	}
	d.neg.Forget(r.Key)
	d.remember(r.Key, ref, body)
	d.cache.CountResult("miss")
	return newDoc(ref, body, false, "miss"), nil
}
