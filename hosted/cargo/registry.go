// Package cargo is the hosted cargo registry: crates that local CI
// publishes into nora (cargo publish), their sparse index files, yanks.
//
// State is plain objects in the shared cache.Store, each rewritten whole
// with cache.Update (a read-modify-write that never loses another
// writer's change) and read through on use, so it works on any backend
// and nora instances sharing one bucket see each other's publishes at
// once:
//
//	hosted/cargo/names                 every hosted crate name, a JSON array
//	                                   (older versions: one a line)
//	hosted/cargo/index/<lowercased>    the crate's index file (cargo's format)
//
// and the .crate files themselves, content addressed by their sha256 (the
// index's cksum) like every other blob. A publish commits the .crate, then
// the name, then the index line, so no index line ever points at a missing
// .crate and the GC walk (Referenced) sees everything an index file names.
package cargo

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/opencontainers/go-digest"

	"nora/cache"
	"nora/hosted"
	"nora/internal/fault"
)

// maxIndexBytes bounds one hosted index file (thousands of versions); a
// publish that would grow it further is refused.
const maxIndexBytes = 16 << 20

// maxNamesBytes bounds the list of hosted names.
const maxNamesBytes = 16 << 20

// commitTimeout bounds the store calls of a publish before and after its
// body is read, and those of a yank.
const commitTimeout = 2 * time.Minute

// Blobs is what the hosted registry needs of the content-addressed cache:
// committing a spooled .crate and opening it again.
type Blobs interface {
	TempDir() string
	CommitFile(ctx context.Context, tmpPath, key string, size int64) error
	Open(ctx context.Context, key string) (*cache.Object, error)
}

// Registry is the hosted cargo state of one nora instance.
type Registry struct {
	blobs Blobs
	store cache.Store
	log   *slog.Logger
	now   func() time.Time

	names *hosted.Names // every hosted name, as first published
	mu    sync.RWMutex
	canon map[string]string // canonical name -> name as first published
	gen   uint64            // the names' generation canon was built from

	// locks serialise the writes of one crate's index file (publish, yank)
	// so concurrent publishes never lose a version; striped by canonical
	// name, so names that collide share a stripe.
	locks hosted.Locks
}

// Open loads the hosted names from store; the .crate files live in blobs.
func Open(ctx context.Context, store cache.Store, blobs Blobs, log *slog.Logger) (*Registry, error) {
	names, err := hosted.LoadNamesOr(ctx, store, namesKey, "", maxNamesBytes, splitLines)
	if err != nil {
		return nil, fmt.Errorf("cannot load hosted cargo names: %w", err)
	}
	names.SetLog(log)
	for _, name := range names.List() {
		if !ValidName(name) {
			return nil, fmt.Errorf("cannot load hosted cargo names: invalid name %q in %s", name, namesKey)
		}
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	r := &Registry{blobs: blobs, store: store, log: log, now: time.Now, names: names}
	r.rebuild(names.Sync())
	return r, nil
}

// claimedBy returns the hosted name that claims name (itself or a
// look-alike spelling). A name not claimed in memory is looked up in the
// stored names first: another instance may have published it.
func (r *Registry) claimedBy(name string) (string, bool) {
	c := canonical(name)
	r.mu.RLock()
	have, ok := r.canon[c]
	r.mu.RUnlock()
	if ok {
		return have, true
	}
	r.rebuild(r.names.Sync())
	r.mu.RLock()
	defer r.mu.RUnlock()
	have, ok = r.canon[c]
	return have, ok
}

// rebuild derives canon from the names, unless it was derived from
// generation gen already.
func (r *Registry) rebuild(gen uint64) {
	r.mu.RLock()
	done := r.canon != nil && r.gen == gen
	r.mu.RUnlock()
	if done {
		return
	}
	canon := map[string]string{}
	for _, name := range r.names.List() {
		if ValidName(name) {
			canon[canonical(name)] = name
		}
	}
	r.mu.Lock()
	r.canon, r.gen = canon, gen
	r.mu.Unlock()
}

// splitLines reads the names as earlier versions of nora stored them, one
// a line.
func splitLines(b []byte) ([]string, error) { return strings.Fields(string(b)), nil }

// Hosted reports whether name belongs to a hosted crate: the same name up
// to case, or one that differs only in '-' versus '_'. Such a name is
// served only from hosted state and never looked up upstream (DESIGN 2.4),
// so a public crate can never replace a hosted one or be mixed into its
// versions (dependency confusion). The look-alike spellings are claimed
// too, as crates.io allows only one of them: a hosted acme-lib keeps a
// public acme_lib from being picked up by a typo.
func (r *Registry) Hosted(name string) bool {
	_, ok := r.claimedBy(name)
	return ok
}

// Index returns the index file of hosted crate name (any case). Errors:
// fault.NotFound, also for a look-alike spelling of a hosted name.
func (r *Registry) Index(ctx context.Context, name string) ([]byte, error) {
	if !r.Hosted(name) {
		return nil, notFound("crate " + name + " is not hosted")
	}
	b, err := r.read(ctx, indexKey(name), maxIndexBytes)
	if errors.Is(err, cache.ErrNotFound) {
		return nil, notFound("hosted crate " + name + " has no versions")
	}
	return b, err
}

// Crate opens the .crate of version vers of hosted crate name; yanked
// versions stay downloadable (lock files may pin them). Errors:
// fault.NotFound.
func (r *Registry) Crate(ctx context.Context, name, vers string) (*cache.Object, error) {
	b, err := r.Index(ctx, name)
	if err != nil {
		return nil, err
	}
	entries, err := parseIndex(b)
	if err != nil {
		return nil, fmt.Errorf("cannot read the index of hosted crate %s: %w", name, err)
	}
	i := slices.IndexFunc(entries, func(e IndexEntry) bool { return e.Vers == vers })
	if i < 0 {
		return nil, notFound(fmt.Sprintf("hosted crate %s has no version %s", name, vers))
	}
	d := digest.NewDigestFromEncoded(digest.SHA256, entries[i].Cksum)
	obj, err := r.blobs.Open(ctx, cache.BlobKey(d))
	if err != nil {
		// The index names it, so it must be there: a missing .crate is
		// damaged state (a 500), not a version the client got wrong.
		return nil, fault.Wrap(fault.Internal, err, fmt.Sprintf("cannot open the .crate of hosted %s %s (%s)", name, vers, d))
	}
	return obj, nil
}

// Publish reads the .crate of q, verifies it and makes it version
// q.Vers() of crate q.Name(). Publishing a name that was so far proxied
// makes it hosted: from then on the upstream's crate of that name is no
// longer served (Hosted). Errors are fault.Invalid, fault.TooLarge or
// fault.Conflict, or are storage failures. On any error no index line is
// added and the spooled .crate is gone; only a storage failure after the
// .crate was committed can leave it unreferenced (for GC to collect) or
// the name claimed without versions.
func (r *Registry) Publish(ctx context.Context, q *Request) (IndexEntry, error) {
	e := q.entry
	// Refuse a duplicate before reading the .crate, and again under the
	// lock: another publish may have won meanwhile.
	cctx, cancel := context.WithTimeout(ctx, commitTimeout)
	err := r.checkNew(cctx, e)
	cancel()
	if err != nil {
		return e, err
	}
	tmp, d, size, err := q.spool(r.blobs.TempDir())
	if err != nil {
		return e, err
	}
	e.Cksum = d.Encoded()
	err = r.commit(ctx, &e, hosted.Spooled(tmp), size)
	return e, err
}

// commit makes the spooled .crate tmp (of size bytes, e.Cksum) version
// e.Vers of crate e.Name under the crate's lock, its store calls bounded by
// commitTimeout (the body may have taken long). tmp is gone when it
// returns.
func (r *Registry) commit(ctx context.Context, e *IndexEntry, tmp hosted.Spooled, size int64) error {
	defer tmp.Discard()
	ctx, cancel := context.WithTimeout(ctx, commitTimeout)
	defer cancel()
	defer r.lock(e.Name)()
	// Refuse early, before the .crate is committed; the change checks
	// again on the index it rewrites.
	if err := r.checkNew(ctx, *e); err != nil {
		return err
	}
	e.Pubtime = r.now().UTC().Format("2006-01-02T15:04:05Z")
	line, err := marshalEntry(*e)
	if err != nil {
		return err
	}
	// The .crate first: an index line must never name a missing file.
	d := digest.NewDigestFromEncoded(digest.SHA256, e.Cksum)
	if err := r.blobs.CommitFile(ctx, tmp.Take(), cache.BlobKey(d), size); err != nil {
		return err
	}
	if err := r.claim(ctx, e.Name); err != nil {
		return err
	}
	return r.changeIndex(ctx, e.Name, func(body []byte) ([]byte, error) {
		if err := r.checkNewIn(body, *e); err != nil {
			return nil, err
		}
		body = slices.Clone(body)
		if len(body) > 0 && body[len(body)-1] != '\n' {
			body = append(body, '\n')
		}
		body = append(append(body, line...), '\n')
		if len(body) > maxIndexBytes {
			return nil, invalid(fmt.Sprintf("the index file of %s would exceed %d bytes", e.Name, maxIndexBytes))
		}
		return body, nil
	})
}

// changeIndex rewrites the index file of name with cache.Update: fn gets
// the stored file (nil if none) and returns the next one, or nil to leave
// it as it is. fn runs again on the newer file when another instance wrote
// it in between; its error comes back as it is. The caller holds name's
// lock.
func (r *Registry) changeIndex(ctx context.Context, name string, fn func(body []byte) ([]byte, error)) error {
	var fnErr error
	err := hosted.Update(ctx, r.store, indexKey(name), maxIndexBytes, func(old []byte) ([]byte, error) {
		b, err := fn(old)
		fnErr = err
		return b, err
	})
	switch {
	case err == nil:
		return nil
	case fnErr != nil && errors.Is(err, fnErr):
		return fnErr
	default:
		return fmt.Errorf("cannot write the index of hosted crate %s: %w", name, err)
	}
}

// checkNew refuses e if its name collides with another hosted crate's or
// its version is published already.
func (r *Registry) checkNew(ctx context.Context, e IndexEntry) error {
	body, err := r.read(ctx, indexKey(e.Name), maxIndexBytes)
	if err != nil && !errors.Is(err, cache.ErrNotFound) {
		return err
	}
	return r.checkNewIn(body, e)
}

func (r *Registry) checkNewIn(body []byte, e IndexEntry) error {
	if have, hosted := r.claimedBy(e.Name); hosted && have != e.Name {
		return fault.Newf(fault.Conflict, "crate name `%s` is taken by hosted crate `%s`", e.Name, have)
	}
	entries, err := parseIndex(body)
	if err != nil {
		return fmt.Errorf("cannot read the index of hosted crate %s: %w", e.Name, err)
	}
	for _, old := range entries {
		if versionBase(old.Vers) == versionBase(e.Vers) {
			// cargo's wording, the one crates.io uses.
			return fault.Newf(fault.Conflict, "crate version `%s` is already uploaded", old.Vers)
		}
	}
	return nil
}

// claim records name as hosted (before its first index line is written,
// so Referenced never misses a file an index names). A publish that fails
// after this leaves the name hosted with no versions: it stays claimed
// for the site, never handed back to the upstream.
func (r *Registry) claim(ctx context.Context, name string) error {
	if _, ok := r.claimedBy(name); ok {
		return nil
	}
	if err := r.names.Add(ctx, name); err != nil {
		return fmt.Errorf("cannot record hosted crate %s: %w", name, err)
	}
	r.rebuild(r.names.Sync())
	return nil
}

// SetYanked sets the yanked flag of version vers of hosted crate name.
// Errors: fault.NotFound.
func (r *Registry) SetYanked(ctx context.Context, name, vers string, yanked bool) error {
	if !r.Hosted(name) {
		return notFound("crate `" + name + "` is not hosted here")
	}
	defer r.lock(name)()
	return r.changeIndex(ctx, name, func(body []byte) ([]byte, error) {
		if body == nil {
			return nil, notFound("crate `" + name + "` has no versions")
		}
		return yank(body, name, vers, yanked)
	})
}

// yank returns the index file body with version vers yanked or not, nil
// if it is so already.
func yank(body []byte, name, vers string, yanked bool) ([]byte, error) {
	var out bytes.Buffer
	found, changed := false, false
	err := lines(body, func(line []byte) error {
		var e IndexEntry
		if err := json.Unmarshal(line, &e); err != nil {
			return err
		}
		if e.Vers == vers {
			found = true
			if e.Yanked != yanked {
				changed = true
				e.Yanked = yanked
				var err error
				if line, err = marshalEntry(e); err != nil {
					return err
				}
			}
		}
		out.Write(line)
		out.WriteByte('\n')
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("cannot read the index of hosted crate %s: %w", name, err)
	}
	if !found {
		return nil, notFound(fmt.Sprintf("crate `%s` has no version `%s`", name, vers))
	}
	if !changed {
		return nil, nil
	}
	return out.Bytes(), nil
}

// Referenced calls fn with the sha256 of every .crate a hosted index file
// names, yanked versions included. Hosted crates are never evicted; GC
// keeps what this walk reports, and must not run if it fails.
func (r *Registry) Referenced(fn func(digest.Digest) error) error {
	ctx := context.Background()
	for _, name := range r.names.List() {
		b, err := r.read(ctx, indexKey(name), maxIndexBytes)
		if errors.Is(err, cache.ErrNotFound) {
			continue // claimed, nothing published yet
		}
		if err != nil {
			return err
		}
		entries, err := parseIndex(b)
		if err != nil {
			return fmt.Errorf("cannot read the index of hosted crate %s: %w", name, err)
		}
		for _, e := range entries {
			if err := fn(digest.NewDigestFromEncoded(digest.SHA256, e.Cksum)); err != nil {
				return err
			}
		}
	}
	return nil
}

func (r *Registry) lock(name string) (unlock func()) { return r.locks.Lock(canonical(name)) }

// read returns the object under key, refusing more than max bytes.
func (r *Registry) read(ctx context.Context, key string, max int64) ([]byte, error) {
	return hosted.Read(ctx, r.store, key, max)
}

// parseIndex decodes every line of an index file nora wrote.
func parseIndex(b []byte) ([]IndexEntry, error) {
	var entries []IndexEntry
	err := lines(b, func(line []byte) error {
		var e IndexEntry
		if err := json.Unmarshal(line, &e); err != nil {
			return err
		}
		if !ValidChecksum(e.Cksum) {
			return fmt.Errorf("version %s has no valid cksum", e.Vers)
		}
		entries = append(entries, e)
		return nil
	})
	return entries, err
}

// lines calls fn for each non-empty line of b.
func lines(b []byte, fn func(line []byte) error) error {
	for len(b) > 0 {
		line, rest, _ := bytes.Cut(b, []byte("\n"))
		b = rest
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		if err := fn(line); err != nil {
			return err
		}
	}
	return nil
}

// marshalEntry encodes one index line (no HTML escaping: cargo reads JSON,
// and "<" in a cfg(...) target stays readable).
func marshalEntry(e IndexEntry) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(e); err != nil {
		return nil, fmt.Errorf("cannot encode index entry %s %s: %w", e.Name, e.Vers, err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// ValidChecksum reports whether s is a sha256 in lowercase hex.
func ValidChecksum(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) && (s[i] < 'a' || s[i] > 'f') {
			return false
		}
	}
	return true
}
