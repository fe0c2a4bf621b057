// Package pypi is the hosted half of nora's Python index: the projects
// local CI uploads (twine, the legacy upload API). It keeps plain objects
// in the shared store, so it works on any cache.Store backend:
//
//	hosted/pypi/_projects.json        the names of the hosted projects
//	hosted/pypi/<project>/project.json one document per project: its files
//	                                   with versions, digests, yank state
//
// Each object is written whole, as a read-modify-write with cache.Update,
// and read through on every use: nora instances sharing one bucket see
// each other's uploads at once and never lose one. Distribution files
// and their PEP 658 metadata live content addressed in the cache
// (cache.BlobKey of their sha256), shared with identical proxied bytes and
// never evicted: Referenced lists them for GC.
//
// A project is hosted from its first upload on. A hosted name is served
// only from this state and never looked up upstream (DESIGN 2.4), so a
// public project of the same name can neither replace nor mix into it;
// uploading to a name that was proxied until then turns it hosted, and what
// was cached from upstream for it is no longer served.
//
// The package knows no HTTP: proxy/pypi parses requests into these calls
// and translates these errors into PyPI's wire errors.
package pypi

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/opencontainers/go-digest"
	"golang.org/x/sync/singleflight"

	"nora/cache"
	"nora/hosted"
)

// maxDocBytes caps a stored document read back (thousands of files).
const maxDocBytes = 16 << 20

// readTimeout bounds a read of a document that several requests share.
const readTimeout = 2 * time.Minute

// File is one distribution file of a hosted project.
type File struct {
	Filename string `json:"filename"`
	// Version is the release in PEP 440 normal form ("1.0.0").
	Version   string `json:"version"`
	Filetype  string `json:"filetype"` // Wheel or Sdist
	PyVersion string `json:"pyversion,omitempty"`
	// SHA256 (hex) addresses the bytes in the cache; MD5 and Blake2b256
	// are kept when the uploader sent them (and they matched).
	SHA256         string `json:"sha256"`
	MD5            string `json:"md5,omitempty"`
	Blake2b256     string `json:"blake2_256,omitempty"`
	Size           int64  `json:"size"`
	RequiresPython string `json:"requires_python,omitempty"`
	// MetadataSHA256 is the sha256 of a wheel's METADATA, stored as a
	// blob and served as PEP 658 core metadata ("" for sdists).
	MetadataSHA256 string `json:"metadata_sha256,omitempty"`
	// MetadataSize is the length of that metadata; 0 in files uploaded
	// before it was kept (the usage of tenants stats the blob then).
	MetadataSize int64     `json:"metadata_size,omitempty"`
	Yanked       bool      `json:"yanked,omitempty"`
	YankedReason string    `json:"yanked_reason,omitempty"`
	UploadTime   time.Time `json:"upload_time"`
	Uploader     string    `json:"uploader,omitempty"`
}

// Digest is the content address of the file's bytes.
func (f File) Digest() digest.Digest { return digest.NewDigestFromEncoded(digest.SHA256, f.SHA256) }

// MetadataDigest is the content address of the file's core metadata ("" if
// it has none).
func (f File) MetadataDigest() digest.Digest {
	if f.MetadataSHA256 == "" {
		return ""
	}
	return digest.NewDigestFromEncoded(digest.SHA256, f.MetadataSHA256)
}

// Project is the stored document of one hosted project. A Project returned
// by the Registry is shared and must not be modified; writes replace it whole.
type Project struct {
	Name  string `json:"name"` // normalized
	Files []File `json:"files"`
	rev   string // sha256 of the stored document: changes with every write
}

// Rev identifies this state of the project ("" for a hosted project whose
// document was never written).
func (p *Project) Rev() string { return p.rev }

// Lookup returns the file called filename.
func (p *Project) Lookup(filename string) (File, bool) {
	for _, f := range p.Files {
		if f.Filename == filename {
			return f, true
		}
	}
	return File{}, false
}

// Versions lists the project's versions in the order they were first
// uploaded.
func (p *Project) Versions() []string {
	var vs []string
	seen := map[string]bool{}
	for _, f := range p.Files {
		if !seen[f.Version] {
			seen[f.Version] = true
			vs = append(vs, f.Version)
		}
	}
	return vs
}

// Blobs is what the hosted state needs of the content-addressed cache: a
// place for upload temp files and the commit of verified bytes.
type Blobs interface {
	TempDir() string
	CommitFile(ctx context.Context, tmpPath, key string, size int64) error
	PutBlob(ctx context.Context, d digest.Digest, b []byte) error
	Open(ctx context.Context, key string) (*cache.Object, error)
}

// Registry is the hosted PyPI state of one nora instance.
type Registry struct {
	blobs Blobs
	store cache.Store
	log   *slog.Logger

	names *hosted.Names // _projects.json: {"projects":[...]}

	mu    sync.RWMutex
	docs  map[string]*Project // the documents last read or written, by project
	loads singleflight.Group  // concurrent reads of one document share one

	// locks serialise the writers of one project, so concurrent uploads of
	// one project never lose a file.
	locks hosted.Locks
}

// Open loads the names of the hosted projects from store, which holds the
// documents (read on first use); files go to blobs.
func Open(ctx context.Context, store cache.Store, blobs Blobs, log *slog.Logger) (*Registry, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	names, err := hosted.LoadNames(ctx, store, projectsKey, "projects", maxDocBytes)
	if err != nil {
		return nil, fmt.Errorf("cannot load hosted pypi projects: %w", err)
	}
	names.SetLog(log)
	return &Registry{blobs: blobs, store: store, log: log, names: names, docs: map[string]*Project{}}, nil
}

// read returns the plain object under key, capped at maxDocBytes.
func (r *Registry) read(ctx context.Context, key string) ([]byte, error) {
	return hosted.Read(ctx, r.store, key, maxDocBytes)
}

// Open opens the bytes of d, a digest a hosted File names (Digest or
// MetadataDigest). Hosted content is never evicted: a missing blob is the
// index's failure, not the client's.
func (r *Registry) Open(ctx context.Context, d digest.Digest) (*cache.Object, error) {
	obj, err := r.blobs.Open(ctx, cache.BlobKey(d))
	if err != nil {
		return nil, internal(err, "cannot open hosted file %s", d)
	}
	return obj, nil
}

// Hosted reports whether project (normalized) is hosted here; a project
// not hosted in memory is looked up in the stored names first (another
// instance may have uploaded it).
func (r *Registry) Hosted(project string) bool { return r.names.Has(project) }

// Projects lists the hosted projects, sorted.
func (r *Registry) Projects() []string { return r.names.List() }

// Project returns the document of hosted project (normalized), NotFound
// if it is not hosted. The document is read from the store every time
// (concurrent reads of one share one), so what another instance wrote is
// seen at once; an unchanged one is not decoded again.
func (r *Registry) Project(ctx context.Context, project string) (*Project, error) {
	if !r.Hosted(project) {
		return nil, notHosted(project)
	}
	return r.load(ctx, project)
}

// load returns the project's stored document; a project without one is
// empty.
func (r *Registry) load(ctx context.Context, project string) (*Project, error) {
	v, err, _ := r.loads.Do(project, func() (any, error) {
		// Shared by every caller: one leaving must not fail the others.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), readTimeout)
		defer cancel()
		b, err := r.read(ctx, projectKey(project))
		if errors.Is(err, cache.ErrNotFound) {
			b, err = nil, nil
		}
		if err != nil {
			return nil, internal(err, "cannot read hosted project %s", project)
		}
		return r.remember(project, b)
	})
	if err != nil {
		return nil, err
	}
	return v.(*Project), nil
}

// remember decodes b, the stored document of project (nil: none), unless
// the document in memory is this one, and keeps it.
func (r *Registry) remember(project string, b []byte) (*Project, error) {
	rev := ""
	if b != nil {
		rev = revOf(b)
	}
	r.mu.RLock()
	p := r.docs[project]
	r.mu.RUnlock()
	if p != nil && p.rev == rev {
		return p, nil
	}
	p = &Project{Name: project}
	if b != nil {
		if err := json.Unmarshal(b, p); err != nil {
			return nil, internal(err, "cannot decode hosted project %s", project)
		}
		p.Name, p.rev = project, rev
	}
	r.mu.Lock()
	r.docs[project] = p
	r.mu.Unlock()
	return p, nil
}

func revOf(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:16])
}

// change rewrites the document of project with cache.Update: fn gets the
// stored document and returns the next one, or nil to leave it as it is.
// fn runs again on the newer document when another instance wrote it in
// between, so it must decide from p alone. The document fn saw last, or
// the one written, comes back. The caller holds the project's lock, which
// makes such retries rare.
func (r *Registry) change(ctx context.Context, project string, fn func(p *Project) (*Project, error)) (*Project, error) {
	var p *Project
	var fnErr error
	err := hosted.Update(ctx, r.store, projectKey(project), maxDocBytes, func(old []byte) ([]byte, error) {
		if p, fnErr = r.remember(project, old); fnErr != nil {
			return nil, fnErr
		}
		next, err := fn(p)
		if fnErr = err; err != nil || next == nil {
			return nil, err
		}
		b, err := json.Marshal(next)
		if err != nil {
			return nil, fmt.Errorf("cannot encode project %s: %w", project, err)
		}
		next.rev, p = revOf(b), next
		return b, nil
	})
	switch {
	case err == nil:
		r.mu.Lock()
		r.docs[project] = p
		r.mu.Unlock()
		return p, nil
	case fnErr != nil && errors.Is(err, fnErr):
		return nil, fnErr
	default:
		return nil, internal(err, "cannot store project %s", project)
	}
}

// Yank marks the files of project's version (or only filename, if set) as
// yanked with reason (PEP 592), or, yank false, as not yanked. Installers
// then skip them unless a requirement pins that version exactly; the files
// stay downloadable. It returns the names of the files it changed or
// found already in the wanted state. Errors: Invalid (not a version),
// NotFound (no such project, release or file).
func (r *Registry) Yank(ctx context.Context, project, version, filename string, yank bool, reason string) ([]string, error) {
	key, ok := versionKey(version)
	if !ok {
		return nil, invalid("%q is not a PEP 440 version", version)
	}
	if !r.Hosted(project) {
		return nil, notHosted(project)
	}
	defer r.locks.Lock(project)()
	var names []string
	_, err := r.change(ctx, project, func(p *Project) (*Project, error) {
		next, found, changed := yankFiles(p, key, filename, yank, reason)
		if len(found) == 0 {
			what := project + " " + version
			if filename != "" {
				what = filename + " of " + what
			}
			return nil, notFound(what)
		}
		if names = found; !changed {
			return nil, nil
		}
		return next, nil
	})
	if err != nil {
		return nil, err
	}
	return names, nil
}

// yankFiles returns p with the files of the version whose key is key (or
// only filename, if set) yanked or not, the names of those files, and
// whether any changed.
func yankFiles(p *Project, key, filename string, yank bool, reason string) (*Project, []string, bool) {
	next := &Project{Name: p.Name, Files: slices.Clone(p.Files)}
	var names []string
	changed := false
	for i, f := range next.Files {
		if k, _ := versionKey(f.Version); k != key || (filename != "" && f.Filename != filename) {
			continue
		}
		names = append(names, f.Filename)
		if !yank {
			reason = ""
		}
		if f.Yanked != yank || f.YankedReason != reason {
			next.Files[i].Yanked, next.Files[i].YankedReason = yank, reason
			changed = true
		}
	}
	return next, names, changed
}

// Referenced calls fn with the digest of every file and every core
// metadata that hosted projects refer to. Hosted content is never evicted:
// GC keeps what this walk reports.
func (r *Registry) Referenced(fn func(digest.Digest) error) error {
	ctx := context.Background()
	for _, name := range r.Projects() {
		p, err := r.Project(ctx, name)
		if err != nil {
			return fmt.Errorf("cannot list the files of hosted project %s: %w", name, err)
		}
		for _, f := range p.Files {
			if err := fn(f.Digest()); err != nil {
				return err
			}
			if d := f.MetadataDigest(); d != "" {
				if err := fn(d); err != nil {
					return err
				}
			}
		}
	}
	return nil
}
