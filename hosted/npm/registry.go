// Package npm is the hosted half of nora's npm registry: what npm publish
// creates. Each package's state (versions, dist-tags, times, deprecations,
// unpublished versions) is one JSON object in the shared Store, written
// atomically with Store.Put; tarballs live in the content-addressed store
// (cache.BlobKey of their sha256), so the state works on any Store
// backend. Every change is a read-modify-write with cache.Update, and the
// list of hosted names reads through to the store (hosted.Names), so
// several nora instances can share one bucket: what one publishes the
// others serve at once, and concurrent publishes on two of them both
// land.
//
// The package knows no HTTP: proxy/npm parses requests, checks
// permissions and turns these errors into npm's wire shape.
package npm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"time"

	"github.com/opencontainers/go-digest"

	"nora/cache"
	"nora/hosted"
	"nora/internal/fault"
)

// maxState caps one package's state object when read back.
const maxState = 64 << 20

// Package is the hosted state of one package.
type Package struct {
	Name string `json:"name"`
	// Rev counts changes; clients send it back as "_rev" ("<rev>-<hash>")
	// when they unpublish, and a stale one is a conflict.
	Rev      int64               `json:"rev"`
	DistTags map[string]string   `json:"dist-tags"`
	Versions map[string]*Version `json:"versions"`
	// Removed are unpublished versions: their numbers are never reused,
	// as on the public registry.
	Removed  map[string]time.Time `json:"removed,omitempty"`
	Created  time.Time            `json:"created"`
	Modified time.Time            `json:"modified"`
}

// Version is one published version.
type Version struct {
	// Manifest is the package.json npm sent, without dist, deprecated,
	// readme and readmeFilename, which are kept apart.
	Manifest       json.RawMessage `json:"manifest"`
	Integrity      string          `json:"integrity"` // SRI, "sha512-..."
	Shasum         string          `json:"shasum"`    // sha1 hex
	File           string          `json:"file"`      // tarball file name, "lib-1.0.0.tgz"
	Digest         digest.Digest   `json:"digest"`    // sha256 of the tarball: its blob
	Size           int64           `json:"size"`
	Deprecated     string          `json:"deprecated,omitempty"`
	Readme         string          `json:"readme,omitempty"`
	ReadmeFilename string          `json:"readmeFilename,omitempty"`
	Publisher      string          `json:"publisher,omitempty"`
	Published      time.Time       `json:"published"`
}

// RevString is the package's "_rev".
func (p *Package) RevString() string {
	h := fnv.New64a()
	fmt.Fprintf(h, "%s\x00%d\x00%d", p.Name, p.Rev, p.Modified.UnixNano())
	return fmt.Sprintf("%d-%016x", p.Rev, h.Sum64())
}

// Latest is the version the "latest" tag names, if it is live.
func (p *Package) Latest() (string, *Version) {
	v := p.DistTags["latest"]
	return v, p.Versions[v]
}

// Options configure a Registry.
type Options struct {
	// Unpublish is the policy for removing published versions.
	Unpublish UnpublishPolicy
	// Now is the clock (tests); nil means time.Now.
	Now func() time.Time
	Log *slog.Logger
}

// Blobs is what the hosted state needs of the content-addressed cache:
// committing a verified tarball and reading it back.
type Blobs interface {
	CommitFile(ctx context.Context, tmpPath, key string, size int64) error
	Open(ctx context.Context, key string) (*cache.Object, error)
}

// Registry is the hosted npm state of one nora instance.
type Registry struct {
	blobs  Blobs
	store  cache.Store
	policy UnpublishPolicy
	now    func() time.Time
	log    *slog.Logger

	// locks serialise the read-modify-write of one package's state, so
	// that concurrent publishes of one name lose no version.
	locks hosted.Locks

	names *hosted.Names // names.json: a JSON array
}

// Open loads the list of hosted names from store, which holds the state;
// tarballs go to blobs. A list that cannot be read is an error: serving
// hosted names from upstream is not an option.
func Open(ctx context.Context, store cache.Store, blobs Blobs, o Options) (*Registry, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Unpublish == "" {
		o.Unpublish = UnpublishWithin72h
	}
	if err := o.Unpublish.check(); err != nil {
		return nil, err
	}
	names, err := hosted.LoadNames(ctx, store, namesKey, "", maxState)
	if err != nil {
		return nil, fmt.Errorf("cannot load the hosted npm names: %w", err)
	}
	names.SetLog(o.Log)
	return &Registry{blobs: blobs, store: store, policy: o.Unpublish, now: o.Now, log: o.Log, names: names}, nil
}

// Hosted reports whether name is a hosted package. A hosted name is served
// only from hosted state, never looked up upstream (DESIGN 2.4); a name
// stays hosted after all its versions are unpublished, so that a public
// package of the same name never takes its place.
func (r *Registry) Hosted(name string) bool { return r.names.Has(name) }

// Names lists the hosted packages, sorted.
func (r *Registry) Names() []string { return r.names.List() }

// Get returns the state of a hosted package (fault.NotFound if none).
func (r *Registry) Get(ctx context.Context, name string) (*Package, error) {
	if !r.Hosted(name) {
		return nil, errorf(fault.NotFound, "package %s is not published here", name)
	}
	return r.load(ctx, name)
}

// Referenced calls fn with the sha256 of every tarball a live hosted
// version points at. Hosted tarballs are never evicted; GC keeps what this
// walk reports. Unpublished versions are not reported: their tarballs may
// go.
func (r *Registry) Referenced(fn func(digest.Digest) error) error {
	ctx := context.Background()
	for _, name := range r.Names() {
		p, err := r.load(ctx, name)
		if fault.KindOf(err) == fault.NotFound {
			continue
		}
		if err != nil {
			return err
		}
		for _, v := range p.Versions {
			if err := fn(v.Digest); err != nil {
				return err
			}
		}
	}
	return nil
}

// load reads the state of name (fault.NotFound if it has none).
func (r *Registry) load(ctx context.Context, name string) (*Package, error) {
	key, err := stateKey(name)
	if err != nil {
		return nil, err
	}
	b, err := r.read(ctx, key)
	if errors.Is(err, cache.ErrNotFound) {
		return nil, errorf(fault.NotFound, "package %s has no published version", name)
	}
	if err != nil {
		return nil, internal(err, "cannot read the state of %s", name)
	}
	return decode(name, b)
}

// decode parses a stored state of name.
func decode(name string, b []byte) (*Package, error) {
	p := &Package{}
	if err := json.Unmarshal(b, p); err != nil {
		return nil, internal(err, "cannot decode the state of %s", name)
	}
	if p.Versions == nil {
		p.Versions = map[string]*Version{}
	}
	if p.DistTags == nil {
		p.DistTags = map[string]string{}
	}
	return p, nil
}

func (r *Registry) read(ctx context.Context, key string) ([]byte, error) {
	return hosted.Read(ctx, r.store, key, maxState)
}

// change rewrites the state of name with cache.Update, so that instances
// sharing the store never lose each other's changes: fn gets the stored
// state (an empty one if there is none and create is set, else
// fault.NotFound) and reports whether it changed it. fn runs again on the
// newer state when another writer came first, so it must decide from p
// alone. The state fn saw last comes back. The caller holds name's lock,
// which makes such retries rare.
func (r *Registry) change(ctx context.Context, name string, create bool, fn func(p *Package) (bool, error)) (*Package, error) {
	key, err := stateKey(name)
	if err != nil {
		return nil, err
	}
	var p *Package
	var fnErr error
	err = hosted.Update(ctx, r.store, key, maxState, func(old []byte) ([]byte, error) {
		switch {
		case old != nil:
			p, fnErr = decode(name, old)
		case create:
			p = &Package{Name: name, DistTags: map[string]string{}, Versions: map[string]*Version{}}
		default:
			fnErr = errorf(fault.NotFound, "package %s has no published version", name)
		}
		if fnErr != nil {
			return nil, fnErr
		}
		changed, err := fn(p)
		if fnErr = err; err != nil || !changed {
			return nil, err
		}
		return json.Marshal(p)
	})
	switch {
	case err == nil:
		return p, nil
	case fnErr != nil && errors.Is(err, fnErr):
		return nil, fnErr
	default:
		return nil, internal(err, "cannot store the state of %s", name)
	}
}
