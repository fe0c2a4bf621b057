package offline

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"path"
	"regexp"
	"strings"

	"github.com/opencontainers/go-digest"

	"nora/cache"
	"nora/proxy/prefetch"
)

// Package members sit under packages/<format>/, each named after the
// cache key (under refs/<format>/) that nora reads it from, and hold the
// bytes as nora cached them from the upstream: for npm
//
//	packages/npm/<name>/_packument    the full packument
//	packages/npm/<name>/_abbreviated  the abbreviated one (npm install reads it)
//	packages/npm/<name>/-/<file>.tgz  the tarball
//
// packages.json lists them with what the cache knew of each: media type
// and validators of a document.
const (
	PackagesName = "packages.json"
	packagesDir  = "packages/"
	refsDir      = "refs/"
)

// Entry is one package member in packages.json.
type Entry struct {
	Member string    `json:"member"`
	Ref    cache.Ref `json:"ref"`
}

// Source is the exporting nora's cache, read for the documents and files
// the handlers have just fetched or found there.
type Source interface {
	Ref(ctx context.Context, key string) (cache.Ref, error)
	Open(ctx context.Context, key string) (*cache.Object, error)
}

// maxPackument caps a packument read to find the version.
const maxPackument = 256 << 20

// npm fetches the item through the handlers (both packuments, then the
// tarball of the version the item picks), then writes what the cache
// holds for them.
func (e *exporter) npm(it prefetch.Item) error {
	doc := "/npm/" + strings.Replace(it.Name, "/", "%2f", 1)
	var pack struct {
		DistTags map[string]string          `json:"dist-tags"`
		Versions map[string]json.RawMessage `json:"versions"`
	}
	if err := e.decode(doc, &pack, "application/json"); err != nil {
		return err
	}
	if err := e.discard(doc, "application/vnd.npm.install-v1+json"); err != nil {
		return err
	}
	vs := make([]string, 0, len(pack.Versions))
	for v := range pack.Versions {
		vs = append(vs, v)
	}
	ver, err := prefetch.NpmVersion(pack.DistTags, vs, it.Ref)
	if err != nil {
		return err
	}
	var v struct {
		Dist struct {
			Tarball string `json:"tarball"`
		} `json:"dist"`
	}
	if err := json.Unmarshal(pack.Versions[ver], &v); err != nil || v.Dist.Tarball == "" {
		return fmt.Errorf("the packument lists no tarball of %s", ver)
	}
	file := path.Base(v.Dist.Tarball)
	if err := e.discard("/npm/"+it.Name+"/-/"+file, "*/*"); err != nil {
		return err
	}
	base := refsDir + "npm/" + it.Name
	for _, key := range []string{base + "/_packument", base + "/_abbreviated", base + "/-/" + file} {
		if err := e.cached(key); err != nil {
			return err
		}
	}
	return nil
}

// cached writes the object the cache holds under the ref key.
func (e *exporter) cached(key string) error {
	member := packagesDir + strings.TrimPrefix(key, refsDir)
	if e.seen[member] {
		return nil
	}
	ref, err := e.o.Source.Ref(e.ctx, key)
	if err != nil {
		return fmt.Errorf("the cache lost %s: %w", key, err)
	}
	if ref.Digest.Validate() != nil || ref.Digest.Algorithm() != digest.SHA256 {
		return fmt.Errorf("the cache's %s has no sha256", key)
	}
	obj, err := e.o.Source.Open(e.ctx, cache.BlobKey(ref.Digest))
	if err != nil {
		return fmt.Errorf("the cache lost %s: %w", key, err)
	}
	defer obj.Body.Close()
	if obj.Size < 0 {
		return fmt.Errorf("the cache's %s has no size", key)
	}
	if err := e.write(member, obj.Size, ref.Digest.Encoded(), obj.Body); err != nil {
		return err
	}
	e.seen[member] = true
	ref.FetchedAt = ref.FetchedAt.UTC()
	e.packages = append(e.packages, Entry{Member: member, Ref: ref})
	return nil
}

func (e *exporter) decode(p string, v any, accept ...string) error {
	resp, err := e.get(p, accept...)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxPackument)).Decode(v); err != nil {
		return fmt.Errorf("GET %s: %v", p, err)
	}
	_, err = io.Copy(io.Discard, resp.Body)
	return err
}

func (e *exporter) discard(p string, accept ...string) error {
	resp, err := e.get(p, accept...)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, err = io.Copy(io.Discard, resp.Body)
	return err
}

// npmKeyRe is a key import may write: a package's packuments or a
// tarball, under a name npm accepts.
var (
	mavenKeyRe = regexp.MustCompile(`^refs/maven/files/(?:[A-Za-z0-9_+-][A-Za-z0-9._+-]*/)+[A-Za-z0-9_+-][A-Za-z0-9._+-]*\.(?:pom|jar)/@$`)
	cargoKeyRe = regexp.MustCompile(`^refs/cargo/(?:index/[a-z][a-z0-9_-]*|crates/[a-z][a-z0-9_-]*/[0-9][0-9A-Za-z.+-]*|_upstream/config\.json)$`)
	pypiKeyRe  = regexp.MustCompile(`^[a-z0-9]+(?:-[a-z0-9]+)*/(?:_page|_files/[A-Za-z0-9][A-Za-z0-9._+!_-]*|_metadata/[A-Za-z0-9][A-Za-z0-9._+!_-]*)$`)
	npmKeyRe   = regexp.MustCompile(`^refs/npm/((?:@[A-Za-z0-9][A-Za-z0-9._~-]*/)?[A-Za-z0-9._~-]+)/(?:_packument|_abbreviated|-/[A-Za-z0-9._~+-]+\.tgz)$`)
)

// entryKey is the cache key of a package member, if import may write it.
func entryKey(member string) (string, bool) {
	key := refsDir + strings.TrimPrefix(member, packagesDir)
	ok := npmKeyRe.MatchString(key) || pypiKey(key) || mavenKeyRe.MatchString(key) || cargoKeyRe.MatchString(key)
	if !strings.HasPrefix(member, packagesDir) || !ok || strings.Contains(key, "/../") || strings.HasPrefix(path.Base(key), ".") {
		return "", false
	}
	return key, cache.CheckKey(key) == nil
}
