package offline

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"

	"nora/proxy/prefetch"
)

// readManifest decodes MANIFEST.json.
func (im *importer) readManifest(s *staged) error {
	var m Manifest
	d := json.NewDecoder(bytes.NewReader(s.data))
	d.DisallowUnknownFields()
	if err := d.Decode(&m); err != nil {
		return bad("member %q is damaged: %v", s.name, err)
	}
	if m.Version != Version {
		return bad("member %q has version %d; this nora reads version %d", s.name, m.Version, Version)
	}
	im.manifest = &m
	return nil
}

// verify checks every member, in tar order, against MANIFEST.json, and
// that MANIFEST.json lists nothing the tar lacks.
func (im *importer) verify() error {
	want := map[string]Member{}
	for _, m := range im.manifest.Members {
		want[m.Name] = m
	}
	for _, s := range im.members {
		if s.name == ManifestName {
			continue
		}
		m, ok := want[s.name]
		switch {
		case !ok:
			return bad("member %q is not in %s", s.name, ManifestName)
		case m.Size != s.size || m.SHA256 != s.sum:
			return bad("member %q is damaged: %d bytes with sha256 %s, %s says %d bytes with sha256 %s", s.name, s.size, s.sum, ManifestName, m.Size, m.SHA256)
		}
		delete(want, s.name)
	}
	for _, m := range im.manifest.Members {
		if _, ok := want[m.Name]; ok {
			return bad("member %q, listed in %s, is not in the tar", m.Name, ManifestName)
		}
	}
	if im.byName[IndexName] == nil {
		return bad("the tar has no %s", IndexName)
	}
	return nil
}

// plan is what commit does, worked out before it starts.
type plan struct {
	manifests []planned // every manifest the tar holds, with its media type
	tags      []tagged
	packages  []Entry
	images    []string // as listed: by tag or by digest
}

// planned is a manifest and its bytes, read before the commit takes its
// staged file.
type planned struct {
	desc descriptor
	body []byte
}

type tagged struct {
	name, tag string
	desc      descriptor
}

// plan reads index.json and the manifests it leads to, and checks that
// every blob they need is in the tar (a narrowed index's other
// platforms may be missing: clients never ask for them).
func (im *importer) plan() (plan, error) {
	var idx manifest
	if err := json.Unmarshal(im.byName[IndexName].data, &idx); err != nil {
		return plan{}, bad("member %q is not an OCI index: %v", IndexName, err)
	}
	var p plan
	for _, d := range idx.Manifests {
		if err := im.planImage(&p, d); err != nil {
			return plan{}, err
		}
	}
	if len(p.manifests) > 0 {
		if err := im.st.ImagesEnabled(); err != nil {
			return plan{}, err
		}
	}
	return p, im.planPackages(&p)
}

// planPackages reads packages.json: every package member in it, with the
// digest its bytes have, and none left out.
func (im *importer) planPackages(p *plan) error {
	listed := map[string]bool{}
	if s := im.byName[PackagesName]; s != nil {
		if err := json.Unmarshal(s.data, &p.packages); err != nil {
			return bad("member %q is damaged: %v", PackagesName, err)
		}
	}
	for _, e := range p.packages {
		s := im.byName[e.Member]
		if _, ok := entryKey(e.Member); !ok || s == nil || listed[e.Member] || e.Ref.Digest != digest.NewDigestFromEncoded(digest.SHA256, s.sum) || e.Ref.Size != s.size ||
			!headerSafe(e.Ref.MediaType, e.Ref.ETag, e.Ref.LastModified) {
			return bad("%s lists member %q, which the tar does not hold as listed", PackagesName, e.Member)
		}
		listed[e.Member] = true
	}
	for _, s := range im.members {
		if strings.HasPrefix(s.name, packagesDir) && !listed[s.name] {
			return bad("member %q is not in %s", s.name, PackagesName)
		}
	}
	return nil
}

func (im *importer) planImage(p *plan, top descriptor) error {
	name := top.Annotations[AnnotationName]
	if tag := top.Annotations[AnnotationTag]; tag != "" {
		items, err := prefetch.Parse("docker:" + name + ":" + tag)
		if err != nil || items[0].Name != name || items[0].Ref != tag {
			return bad("%s names an image %q tag %q nora cannot serve", IndexName, name, tag)
		}
		p.tags = append(p.tags, tagged{name: name, tag: tag, desc: top})
	}
	m, body, err := im.manifestOf(top)
	if err != nil {
		return err
	}
	p.manifests = append(p.manifests, planned{top, body})
	p.images = append(p.images, top.Annotations[AnnotationRefName])
	if m.Manifests == nil {
		return im.needBlobs(m)
	}
	for _, d := range m.Manifests {
		if im.blob(d.Digest) == nil {
			continue // a platform the export left out
		}
		cm, body, err := im.manifestOf(d)
		if err != nil {
			return err
		}
		p.manifests = append(p.manifests, planned{d, body})
		if err := im.needBlobs(cm); err != nil {
			return err
		}
	}
	return nil
}

// blob is the staged blob of digest s, or nil.
func (im *importer) blob(s string) *staged {
	d, err := digest.Parse(s)
	if err != nil || d.Algorithm() != digest.SHA256 {
		return nil
	}
	return im.byName[blobsDir+d.Encoded()]
}

// manifestOf reads the staged manifest d.
func (im *importer) manifestOf(d descriptor) (*manifest, []byte, error) {
	s := im.blob(d.Digest)
	if s == nil {
		return nil, nil, bad("%s refers to manifest %s, which the tar does not hold", IndexName, d.Digest)
	}
	if s.size > maxManifest || d.MediaType == "" || !headerSafe(d.MediaType) {
		return nil, nil, bad("member %q is not a manifest nora serves (%d bytes, media type %q)", s.name, s.size, d.MediaType)
	}
	b, err := s.read()
	if err != nil {
		return nil, nil, err
	}
	var m manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, nil, bad("member %q is not a manifest: %v", s.name, err)
	}
	return &m, b, nil
}

func (s *staged) read() ([]byte, error) {
	if s.data != nil {
		return s.data, nil
	}
	f, err := os.Open(s.path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(f)
}

// needBlobs checks the config and layers of m are in the tar.
func (im *importer) needBlobs(m *manifest) error {
	all := m.Layers
	if m.Config != nil {
		all = append([]descriptor{*m.Config}, all...)
	}
	for _, d := range all {
		if len(d.URLs) == 0 && im.blob(d.Digest) == nil {
			return bad("a manifest refers to blob %s, which the tar does not hold", d.Digest)
		}
	}
	return nil
}

// commit moves the blobs into the store, then records the manifests,
// then the tags: a tag is never seen before what it points at.
func (im *importer) commit(ctx context.Context, p plan) (Summary, error) {
	var sum Summary
	for _, s := range im.members {
		if s.path == "" {
			continue
		}
		d := digest.NewDigestFromEncoded(digest.SHA256, s.sum)
		if err := im.st.CommitBlob(ctx, s.path, d, s.size); err != nil {
			return sum, fmt.Errorf("cannot commit %s: %w", s.name, err)
		}
		s.path = "" // consumed
		sum.Blobs++
		sum.Bytes += s.size
	}
	for _, m := range p.manifests {
		if err := im.st.SeedManifest(ctx, digest.Digest(m.desc.Digest), m.desc.MediaType, m.body); err != nil {
			return sum, fmt.Errorf("cannot record manifest %s: %w", m.desc.Digest, err)
		}
	}
	for _, e := range p.packages {
		key, _ := entryKey(e.Member)
		ref := e.Ref
		ref.FetchedAt = time.Now()
		if err := im.st.PutRef(ctx, key, ref); err != nil {
			return sum, fmt.Errorf("cannot record %s: %w", key, err)
		}
		sum.Packages = append(sum.Packages, key)
	}
	for _, t := range p.tags {
		if err := im.st.SeedTag(ctx, t.name, t.tag, digest.Digest(t.desc.Digest), t.desc.MediaType, t.desc.Size); err != nil {
			return sum, fmt.Errorf("cannot record tag %s:%s: %w", t.name, t.tag, err)
		}
	}
	sum.Images = p.images
	return sum, nil
}

// headerSafe refuses what nora would send as a header value (a media
// type, a validator) with control characters in it.
func headerSafe(vs ...string) bool {
	for _, v := range vs {
		if len(v) > 1024 {
			return false
		}
		for i := 0; i < len(v); i++ {
			if v[i] < 0x20 || v[i] == 0x7f {
				return false
			}
		}
	}
	return true
}
