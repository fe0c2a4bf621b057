package offline

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"

	"nora/internal/fault"
	"nora/proxy/prefetch"
)

// Options say where export reads: nora's own handlers (the prefetch
// runner's in-memory client), so that what is not cached is fetched and
// verified as a client's pull would be.
type Options struct {
	Client  *http.Client
	BaseURL string
	// Platform narrows image indexes to one platform; "" takes all.
	Platform string
	// Source is the cache the package files are read from once fetched.
	Source Source
	// LinkPrefix is the path of [server] public_url, which links nora
	// writes start with (prefetch.Options.LinkPrefix).
	LinkPrefix string
}

// manifestAccept is what a pulling client accepts.
var manifestAccept = []string{
	"application/vnd.oci.image.index.v1+json",
	"application/vnd.docker.distribution.manifest.list.v2+json",
	"application/vnd.oci.image.manifest.v1+json",
	"application/vnd.docker.distribution.manifest.v2+json",
}

// Check refuses, before anything is written, a list export cannot
// carry: one of a format it does not know.
func Check(items []prefetch.Item) error {
	for _, it := range items {
		switch it.Format {
		case prefetch.Docker, prefetch.Npm, prefetch.PyPI, prefetch.Maven, prefetch.Cargo:
		default:
			return fault.Newf(fault.Invalid, "line %d: %s: export of %s is not available", it.Line, it.Text, it.Format)
		}
	}
	return nil
}

// Export writes the tar of items to w as it fetches them: blobs first,
// then oci-layout, index.json and MANIFEST.json. An error leaves w with
// a tar that has no MANIFEST.json, which import refuses.
func Export(ctx context.Context, items []prefetch.Item, o Options, w io.Writer) error {
	if err := Check(items); err != nil {
		return err
	}
	e := &exporter{ctx: ctx, o: o, tw: tar.NewWriter(w), seen: map[string]bool{}, now: time.Now().UTC().Truncate(time.Second)}
	for _, it := range items {
		export := e.image
		switch it.Format {
		case prefetch.Npm:
			export = e.npm
		case prefetch.PyPI:
			export = e.pypi
		case prefetch.Maven:
			export = e.maven
		case prefetch.Cargo:
			export = e.crate
		}
		if err := export(it); err != nil {
			return fmt.Errorf("%s: %w", it.Text, err)
		}
	}
	return e.finish()
}

type exporter struct {
	ctx      context.Context
	o        Options
	tw       *tar.Writer
	seen     map[string]bool // blobs written
	members  []Member
	index    []descriptor
	packages []Entry
	// now is every member's mtime, in whole seconds: USTAR headers, with
	// no PAX records, are covered whole by their checksum.
	now time.Time
}

// image writes an item's manifest (and for an index every platform's, or
// the one of Options.Platform), configs and layers.
func (e *exporter) image(it prefetch.Item) error {
	base := "/v2/" + it.Name
	top, err := e.manifest(base, it.Ref)
	if err != nil {
		return err
	}
	ann := map[string]string{AnnotationRefName: it.Text, AnnotationName: it.Name}
	if _, err := digest.Parse(it.Ref); err != nil {
		ann[AnnotationTag] = it.Ref
	}
	top.desc.Annotations = ann
	e.index = append(e.index, top.desc)
	if top.m.Manifests == nil {
		return e.blobs(base, top.m)
	}
	n := 0
	for _, d := range top.m.Manifests {
		if e.o.Platform != "" && !platformMatches(d.Platform, e.o.Platform) {
			continue
		}
		child, err := e.manifest(base, d.Digest)
		if err != nil {
			return err
		}
		if err := e.blobs(base, child.m); err != nil {
			return err
		}
		n++
	}
	if n == 0 {
		return fmt.Errorf("the index has no manifest for platform %s", e.o.Platform)
	}
	return nil
}

type fetched struct {
	desc descriptor
	m    *manifest
}

// manifest GETs a manifest by tag or digest, checks its bytes against
// the digest nora answered with and writes it as a blob.
func (e *exporter) manifest(base, ref string) (fetched, error) {
	resp, err := e.get(base+"/manifests/"+ref, manifestAccept...)
	if err != nil {
		return fetched{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxManifest+1))
	if err != nil {
		return fetched{}, err
	}
	if len(body) > maxManifest {
		return fetched{}, fmt.Errorf("the manifest %s is larger than %d bytes", ref, maxManifest)
	}
	d, err := digest.Parse(resp.Header.Get("Docker-Content-Digest"))
	if err != nil || d.Algorithm() != digest.SHA256 || digest.FromBytes(body) != d {
		return fetched{}, fmt.Errorf("the manifest %s does not match its digest %q", ref, d)
	}
	var m manifest
	if err := json.Unmarshal(body, &m); err != nil {
		return fetched{}, fmt.Errorf("the manifest %s is not JSON: %v", ref, err)
	}
	mt := m.MediaType
	if mt == "" {
		mt = resp.Header.Get("Content-Type")
	}
	desc := descriptor{MediaType: mt, Digest: string(d), Size: int64(len(body))}
	if !e.seen[desc.Digest] {
		e.seen[desc.Digest] = true
		if err := e.write(blobsDir+d.Encoded(), int64(len(body)), d.Encoded(), bytes.NewReader(body)); err != nil {
			return fetched{}, err
		}
	}
	return fetched{desc: desc, m: &m}, nil
}

// blobs writes the config and layers of m not written yet; foreign
// layers (with URLs) stay where they are, as clients leave them.
func (e *exporter) blobs(base string, m *manifest) error {
	all := m.Layers
	if m.Config != nil {
		all = append([]descriptor{*m.Config}, all...)
	}
	for _, d := range all {
		if e.seen[d.Digest] || len(d.URLs) > 0 {
			continue
		}
		if err := e.blob(base, d); err != nil {
			return err
		}
		e.seen[d.Digest] = true
	}
	return nil
}

// blob streams one blob into the tar, checking its size and digest as it
// goes: a mismatch ends the export (the tar is left without MANIFEST.json).
func (e *exporter) blob(base string, desc descriptor) error {
	d, err := digest.Parse(desc.Digest)
	if err != nil || d.Algorithm() != digest.SHA256 || desc.Size < 0 {
		return fmt.Errorf("a manifest refers to %q (size %d): not a sha256 blob", desc.Digest, desc.Size)
	}
	resp, err := e.get(base+"/blobs/"+desc.Digest, "*/*")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.ContentLength >= 0 && resp.ContentLength != desc.Size {
		return fmt.Errorf("blob %s: nora answered %d bytes, the manifest says %d", d, resp.ContentLength, desc.Size)
	}
	return e.write(blobsDir+d.Encoded(), desc.Size, d.Encoded(), resp.Body)
}

// write adds a member of size bytes whose sha256 must be sum.
func (e *exporter) write(name string, size int64, sum string, r io.Reader) error {
	hdr := &tar.Header{Name: name, Size: size, Mode: 0o644, ModTime: e.now, Typeflag: tar.TypeReg, Format: tar.FormatUSTAR}
	if err := e.tw.WriteHeader(hdr); err != nil {
		return err
	}
	h := sha256.New()
	n, err := io.Copy(e.tw, io.TeeReader(io.LimitReader(r, size), h))
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	if n != size {
		return fmt.Errorf("%s: %d bytes, want %d", name, n, size)
	}
	got := hex.EncodeToString(h.Sum(nil))
	if sum != "" && got != sum {
		return fmt.Errorf("%s: sha256 %s, want %s", name, got, sum)
	}
	e.members = append(e.members, Member{Name: name, Size: size, SHA256: got})
	return nil
}

// finish writes oci-layout, index.json and, last, MANIFEST.json.
func (e *exporter) finish() error {
	layout := []byte(`{"imageLayoutVersion":"1.0.0"}`)
	if err := e.write(LayoutName, int64(len(layout)), "", bytes.NewReader(layout)); err != nil {
		return err
	}
	idx, err := json.MarshalIndent(manifest{SchemaVersion: 2, MediaType: "application/vnd.oci.image.index.v1+json", Manifests: e.index}, "", "  ")
	if err != nil {
		return err
	}
	if err := e.write(IndexName, int64(len(idx)), "", bytes.NewReader(idx)); err != nil {
		return err
	}
	if len(e.packages) > 0 {
		pk, err := json.MarshalIndent(e.packages, "", "  ")
		if err != nil {
			return err
		}
		if err := e.write(PackagesName, int64(len(pk)), "", bytes.NewReader(pk)); err != nil {
			return err
		}
	}
	man, err := json.MarshalIndent(Manifest{Version: Version, Created: e.now, Members: e.members}, "", "  ")
	if err != nil {
		return err
	}
	hdr := &tar.Header{Name: ManifestName, Size: int64(len(man)), Mode: 0o644, ModTime: e.now, Typeflag: tar.TypeReg, Format: tar.FormatUSTAR}
	if err := e.tw.WriteHeader(hdr); err != nil {
		return err
	}
	if _, err := e.tw.Write(man); err != nil {
		return err
	}
	return e.tw.Close()
}

// get sends GET path to nora; a non-2xx answer is an error saying why.
func (e *exporter) get(path string, accept ...string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(e.ctx, http.MethodGet, e.o.BaseURL+path, nil)
	if err != nil {
		return nil, err
	}
	for _, a := range accept {
		req.Header.Add("Accept", a)
	}
	req.Header.Set("User-Agent", "nora-export")
	resp, err := e.o.Client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", path, err)
	}
	if resp.StatusCode/100 != 2 {
		defer resp.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 300))
		return nil, fmt.Errorf("GET %s: %s: %s", path, resp.Status, strings.Join(strings.Fields(string(b)), " "))
	}
	return resp, nil
}

// platformMatches compares "os/arch[/variant]" with an index entry's
// platform; a want without variant takes any variant.
func platformMatches(p *platform, want string) bool {
	if p == nil {
		return false
	}
	parts := strings.SplitN(want, "/", 3)
	if len(parts) < 2 || parts[0] != p.OS || parts[1] != p.Architecture {
		return false
	}
	return len(parts) == 2 || parts[2] == p.Variant
}
