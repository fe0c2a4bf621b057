package pull

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/dgraph-io/ristretto/v2"
	"github.com/opencontainers/go-digest"

	"nora/cache"
	"nora/internal/fault"
	"nora/upstream"
)

// Docs fetches mutable documents (packuments, simple pages, index files,
// maven-metadata.xml) through the one freshness engine (Refs), revalidated
// with If-None-Match / If-Modified-Since.
type Docs struct {
	cache *cache.Cache
	refs  *Refs
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
func NewDocs(c *cache.Cache, log *slog.Logger, opts ...Option) (*Docs, error) {
	refs, err := NewRefs(c, log, opts...)
	if err != nil {
		return nil, err
	}
	hot, err := ristretto.NewCache(&ristretto.Config[string, *hotDoc]{NumCounters: 100_000, MaxCost: hotBytes, BufferItems: 64})
	if err != nil {
		refs.Close()
		return nil, err
	}
	return &Docs{cache: c, refs: refs, hot: hot}, nil
}

// Close releases the memory caches.
func (d *Docs) Close() {
	d.refs.Close()
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

// Get returns the document by the freshness rule of Refs.Resolve.
func (d *Docs) Get(ctx context.Context, r DocRequest) (*Doc, error) {
	if h, ok := d.hot.Get(r.Key); ok && h.ref.Fresh(r.TTL, d.refs.now()) {
		d.cache.CountResult("hit")
		return newDoc(h.ref, h.body, false, "hit"), nil
	}
	res, err := d.refs.Resolve(ctx, RefRequest{
		Key: r.Key, TTL: r.TTL, NegativeTTL: r.NegativeTTL, Offline: r.Offline,
		Load: func(ctx context.Context, ref cache.Ref) ([]byte, error) { return d.load(ctx, r.Key, ref) },
		Refresh: func(ctx context.Context, old cache.Ref, have bool) (Fetched, error) {
			return d.fetch(ctx, r, old, have)
		},
	})
	if err != nil {
		return nil, err
	}
	d.remember(r.Key, res.Ref, res.Body)
	return newDoc(res.Ref, res.Body, res.Stale, res.Result), nil
}

// load reads a cached document's body, from memory if it is there.
func (d *Docs) load(ctx context.Context, key string, ref cache.Ref) ([]byte, error) {
	if h, ok := d.hot.Get(key); ok && h.ref.Digest == ref.Digest {
		return h.body, nil
	}
	if err := ref.Digest.Validate(); err != nil {
		return nil, cache.ErrNotFound
	}
	obj, err := d.cache.Open(ctx, cache.BlobKey(ref.Digest))
	if err != nil {
		return nil, err
	}
	defer obj.Body.Close()
	return readAllInto(make([]byte, 0, max(obj.Size, 0)+1), obj.Body)
}

// readAllInto reads r to EOF into b's spare capacity (grown if needed).
func readAllInto(b []byte, r io.Reader) ([]byte, error) {
	buf := bytes.NewBuffer(b)
	_, err := buf.ReadFrom(r)
	return buf.Bytes(), err
}

// fetch is a document's Refresh: a conditional GET.
func (d *Docs) fetch(ctx context.Context, r DocRequest, old cache.Ref, have bool) (Fetched, error) {
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
		return Fetched{}, Unreachable(r.URL, err)
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNotModified && have:
		return Fetched{Same: true}, nil
	case resp.StatusCode != http.StatusOK:
		return Fetched{}, StatusError(r.URL, resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	body, err := readDoc(resp.Body, r.MaxBytes, r.URL)
	if err != nil {
		return Fetched{}, err
	}
	if r.Check != nil {
		if err := r.Check(body); err != nil {
			return Fetched{}, &fault.Error{Kind: fault.BadUpstream, Msg: "upstream sent an invalid document: " + err.Error()}
		}
	}
	dg := digest.FromBytes(body)
	ref := cache.Ref{
		Digest: dg, MediaType: resp.Header.Get("Content-Type"), Size: int64(len(body)),
		ETag: resp.Header.Get("ETag"), LastModified: resp.Header.Get("Last-Modified"),
	}
	return Fetched{Ref: ref, Body: body, Unstored: true}, nil
}

// readDoc reads an upstream document body, refusing one over max (32 MiB
// when max is 0).
func readDoc(r io.Reader, max int64, url string) ([]byte, error) {
	if max <= 0 {
		max = 32 << 20
	}
	body, err := io.ReadAll(io.LimitReader(r, max+1))
	if err != nil {
		return nil, Unreachable(url, err)
	}
	if int64(len(body)) > max {
		return nil, fault.New(fault.BadUpstream, "upstream document is larger than the cap")
	}
	return body, nil
}
