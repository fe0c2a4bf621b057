// Package inventory tells what is on the box: hosted images and packages,
// and what the cache holds of proxied ones, with sizes and last pulls. The
// admin API (`nora images|packages|cache`) and the web UI read it.
//
// It reads the hosted registries' state and the store's refs on request:
// nothing is kept in memory between calls, and every list is bounded.
package inventory

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"

	"nora/cache"
	hostedcargo "nora/hosted/cargo"
	hostedmaven "nora/hosted/maven"
	hostednpm "nora/hosted/npm"
	"nora/hosted/oci"
	hostedpypi "nora/hosted/pypi"
	"nora/internal/fault"
)

// Image is a repository with its tags: hosted (pushed here) or proxied
// (cached from an upstream, named "<upstream>/<repository>").
type Image struct {
	Repository string `json:"repository"`
	Hosted     bool   `json:"hosted"`
	Tags       []Tag  `json:"tags"`
}

// Tag is one tag of an Image. Size is the manifest's and, as far as the
// store holds them, its config's and layers' (an index: its children's).
type Tag struct {
	Tag       string        `json:"tag"`
	Digest    digest.Digest `json:"digest"`
	MediaType string        `json:"media_type"`
	Size      int64         `json:"size"`
	Platforms []string      `json:"platforms,omitempty"`
	// Created is when a hosted tag was last pushed, when a proxied one was
	// last fetched from its upstream.
	Created  time.Time `json:"created,omitzero"`
	LastPull time.Time `json:"last_pull,omitzero"`
}

// Package is one package of a format with its versions.
type Package struct {
	Format   string    `json:"format"`
	Name     string    `json:"name"`
	Hosted   bool      `json:"hosted"`
	Versions []Version `json:"versions"`
}

// Version is one version of a Package: its files' bytes and count.
type Version struct {
	Version   string    `json:"version"`
	Size      int64     `json:"size"`
	Files     int       `json:"files"`
	Published time.Time `json:"published,omitzero"`
	LastPull  time.Time `json:"last_pull,omitzero"`
}

// Cached is one proxied item the cache holds: an image tag or a package
// file. Key is its ref in the store, what `nora cache evict` takes.
type Cached struct {
	Key        string    `json:"key"`
	Format     string    `json:"format"`
	Name       string    `json:"name"`
	Item       string    `json:"item"`
	Size       int64     `json:"size"`
	LastAccess time.Time `json:"last_access,omitzero"`
	Hosted     bool      `json:"hosted"`
}

// Formats are the formats an inventory knows, in the order it lists them.
var Formats = []string{"docker", "npm", "pypi", "maven", "cargo"}

// Deps are what an Inventory reads. A nil registry is a format with no
// hosted state (turned off).
type Deps struct {
	Cache *cache.Cache
	// Store lists the proxied refs; one that is not a cache.Lister lists
	// no proxied content.
	Store cache.Store
	OCI   *oci.Registry
	Npm   *hostednpm.Registry
	PyPI  *hostedpypi.Registry
	Maven *hostedmaven.Registry
	Cargo *hostedcargo.Registry
}

// Inventory answers what is on the box.
type Inventory struct {
	d      Deps
	lister cache.Lister
}

// New returns an inventory of what d holds.
func New(d Deps) *Inventory {
	l, _ := d.Store.(cache.Lister)
	return &Inventory{d: d, lister: l}
}

// Bounds of one answer.
const (
	// MaxItems bounds the repositories, packages or cached items of one
	// list, and the tags or versions of one of them.
	MaxItems = 1000
	// maxManifest bounds a manifest or config read for sizes and platforms.
	maxManifest = 4 << 20
)

// errStop ends a store listing that has what it needs.
var errStop = errors.New("enough")

// blob returns the index entry of the object with digest d: its size and
// last access (zero if the store does not hold it).
func (i *Inventory) blob(d digest.Digest) (cache.Entry, bool) {
	if d.Validate() != nil {
		return cache.Entry{}, false
	}
	return i.d.Cache.Index().Get(cache.BlobKey(d))
}

// list calls fn with every ref key under prefix, stopping early when fn
// returns errStop.
func (i *Inventory) list(ctx context.Context, prefix string, fn func(key string) error) error {
	if i.lister == nil {
		return nil
	}
	// A name from the request must not walk out of the refs ("..").
	if err := cache.CheckKey(strings.TrimSuffix(prefix, "/")); err != nil {
		return fault.Newf(fault.Invalid, "not a valid name: %q", prefix)
	}
	err := i.lister.List(ctx, prefix, func(key string, _ cache.Info) error { return fn(key) })
	if errors.Is(err, errStop) {
		return nil
	}
	return err
}

// later returns the later of a and b.
func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// Add sets the hosted registry reg of its format (one of Deps'), before
// the inventory is first read; other values are ignored.
func (i *Inventory) Add(reg any) {
	switch r := reg.(type) {
	case *oci.Registry:
		i.d.OCI = r
	case *hostednpm.Registry:
		i.d.Npm = r
	case *hostedpypi.Registry:
		i.d.PyPI = r
	case *hostedmaven.Registry:
		i.d.Maven = r
	case *hostedcargo.Registry:
		i.d.Cargo = r
	}
}

// OCI is the hosted OCI registry (nil if none): tagging and deleting
// hosted images go through it.
func (i *Inventory) OCI() *oci.Registry { return i.d.OCI }
