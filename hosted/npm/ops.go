package npm

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"nora/cache"
	"nora/internal/fault"
)

// Publish adds the one version doc carries, with its tarball (doc.Attachment
// must be set), on behalf of user. The tarball is verified against the
// version's dist.integrity and dist.shasum before anything is stored; the
// temp file is committed or removed in every case. A version that is, or
// was, published is never replaced (ErrPublished).
//
// Publishing a name that was proxied until now makes it hosted: from then
// on it is served only from hosted state, and the upstream is never asked
// about it again (DESIGN 2.4).
func (r *Registry) Publish(ctx context.Context, name string, doc *Document, user string) (*Package, error) {
	a := doc.Attachment
	defer a.Discard()
	if a == nil {
		return nil, errorf(fault.Invalid, "the document carries no tarball (_attachments)")
	}
	ver, v, tags, err := checkPublish(name, doc)
	if err != nil {
		return nil, err
	}
	defer r.locks.Lock(name)()
	// Refuse early, before the tarball is stored; the change checks again
	// on the state it rewrites.
	p, err := r.load(ctx, name)
	if fault.KindOf(err) == fault.NotFound {
		p, err = &Package{Name: name}, nil
	}
	if err == nil {
		err = canPublish(p, ver, tags)
	}
	if err != nil {
		return nil, err
	}
	if err := r.blobs.CommitFile(ctx, a.path, cache.BlobKey(a.SHA256), a.Size); err != nil {
		a.path = ""
		return nil, internal(err, "cannot store the tarball of %s@%s", name, ver)
	}
	a.path = ""
	now := r.now().UTC()
	v.Published, v.Publisher = now, user
	// names.json first: a name listed without state is served as an empty
	// hosted package, never from upstream, so a crash between the two
	// writes fails closed.
	if err := r.names.Add(ctx, name); err != nil {
		return nil, err
	}
	return r.change(ctx, name, true, func(p *Package) (bool, error) {
		if err := canPublish(p, ver, tags); err != nil {
			return false, err
		}
		p.Versions[ver] = v
		maps.Copy(p.DistTags, tags)
		if p.Versions[p.DistTags["latest"]] == nil {
			p.DistTags["latest"] = ver
		}
		if p.Created.IsZero() {
			p.Created = now
		}
		p.Rev++
		p.Modified = now
		return true, nil
	})
}

// canPublish refuses version ver of p if it is or was published, or if
// tags name a version that is not.
func canPublish(p *Package, ver string, tags map[string]string) error {
	if p.Versions[ver] != nil {
		return published("cannot modify pre-existing version")
	}
	if _, ok := p.Removed[ver]; ok {
		return published(fmt.Sprintf("cannot publish %s@%s: that version was unpublished and its number cannot be used again", p.Name, ver))
	}
	for tag, tv := range tags {
		if tv != ver && p.Versions[tv] == nil {
			return errorf(fault.Invalid, "dist-tag %s names version %s, which is not published", tag, tv)
		}
	}
	return nil
}

// checkPublish checks doc as a publish of name and builds the new version.
func checkPublish(name string, doc *Document) (string, *Version, map[string]string, error) {
	a := doc.Attachment
	if doc.Name != name || (doc.ID != "" && doc.ID != name) {
		return "", nil, nil, errorf(fault.Invalid, "the document is for %q, not %s", doc.Name, name)
	}
	if len(doc.Versions) != 1 {
		return "", nil, nil, errorf(fault.Invalid, "a publish carries exactly one version, this one %d", len(doc.Versions))
	}
	var ver string
	var raw json.RawMessage
	for ver, raw = range doc.Versions {
	}
	if _, ok := parseVersion(ver); !ok {
		return "", nil, nil, errorf(fault.Invalid, "invalid version %q: want semver such as 1.0.0", ver)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil || m == nil {
		return "", nil, nil, errorf(fault.Invalid, "the manifest of %s is not a JSON object", ver)
	}
	var fields struct {
		Name           string `json:"name"`
		Version        string `json:"version"`
		Readme         string `json:"readme"`
		ReadmeFilename string `json:"readmeFilename"`
		Deprecated     string `json:"deprecated"`
		Dist           struct {
			Integrity string `json:"integrity"`
			Shasum    string `json:"shasum"`
		} `json:"dist"`
	}
	if err := json.Unmarshal(raw, &fields); err != nil {
		return "", nil, nil, errorf(fault.Invalid, "invalid manifest of %s: %v", ver, err)
	}
	if fields.Name != name || fields.Version != ver {
		return "", nil, nil, errorf(fault.Invalid, "the manifest says %s@%s, the document %s@%s", fields.Name, fields.Version, name, ver)
	}
	if a.Declared >= 0 && a.Declared != a.Size {
		return "", nil, nil, errorf(fault.Invalid, "attachment %s: length says %d bytes, the data has %d", a.Name, a.Declared, a.Size)
	}
	if a.Size == 0 {
		return "", nil, nil, errorf(fault.Invalid, "attachment %s is empty", a.Name)
	}
	if err := verify(a, fields.Dist.Integrity, fields.Dist.Shasum); err != nil {
		return "", nil, nil, err
	}
	tags := map[string]string{}
	for tag, tv := range doc.DistTags {
		if !validTag(tag) {
			return "", nil, nil, errorf(fault.Invalid, "invalid dist-tag %q", tag)
		}
		tags[tag] = tv
	}
	for _, k := range []string{"dist", "deprecated", "readme", "readmeFilename", "_attachments"} {
		delete(m, k)
	}
	manifest, err := marshal(m)
	if err != nil {
		return "", nil, nil, err
	}
	return ver, &Version{
		Manifest:       manifest,
		Integrity:      "sha512-" + base64.StdEncoding.EncodeToString(a.SHA512),
		Shasum:         hex.EncodeToString(a.SHA1),
		File:           name[strings.LastIndexByte(name, '/')+1:] + "-" + ver + ".tgz",
		Digest:         a.SHA256,
		Size:           a.Size,
		Deprecated:     fields.Deprecated,
		Readme:         fields.Readme,
		ReadmeFilename: fields.ReadmeFilename,
	}, tags, nil
}

// verify checks the tarball against every digest the client declared that
// nora computed (sha512, sha256 and sha1 in dist.integrity, sha1 in
// dist.shasum). At least one must be there; any mismatch refuses it.
func verify(a *Attachment, integrity, shasum string) error {
	sha256 := a.SHA256.Encoded()
	sums := map[string][]byte{"sha512": a.SHA512, "sha1": a.SHA1}
	if b, err := hex.DecodeString(sha256); err == nil {
		sums["sha256"] = b
	}
	checked := 0
	mismatch := func(what string) error {
		return errorf(fault.Invalid, "the tarball %s does not match its %s: it was changed or truncated on the way; nothing was stored", a.Name, what)
	}
	for _, tok := range strings.Fields(integrity) {
		alg, val, ok := strings.Cut(tok, "-")
		want, known := sums[alg]
		if !ok || !known {
			continue
		}
		val, _, _ = strings.Cut(val, "?") // SRI options
		got, err := base64.StdEncoding.DecodeString(val)
		if err != nil {
			got, err = base64.RawStdEncoding.DecodeString(val)
		}
		if err != nil || subtle.ConstantTimeCompare(got, want) != 1 {
			return mismatch("dist.integrity")
		}
		checked++
	}
	if shasum != "" {
		got, err := hex.DecodeString(shasum)
		if err != nil || !bytes.Equal(got, a.SHA1) {
			return mismatch("dist.shasum")
		}
		checked++
	}
	if checked == 0 {
		return errorf(fault.Invalid, "the version declares no digest of its tarball: dist.integrity (sha512) or dist.shasum is required")
	}
	return nil
}

// Update applies a PUT of the packument without a tarball. Deprecations
// of live versions ("deprecated": "message"; "" undeprecates) are applied
// and nothing else is taken from the document. With remove (the PUT to
// /<name>/-rev/<rev> that npm unpublish sends), the live versions the
// document no longer lists are unpublished, as the policy allows. rev, if
// set, must be the package's current _rev.
func (r *Registry) Update(ctx context.Context, name string, doc *Document, rev string, remove bool) (*Package, error) {
	if doc.Attachment != nil {
		doc.Attachment.Discard()
		return nil, errorf(fault.Invalid, "a tarball can only come with a new version")
	}
	if doc.Name != "" && doc.Name != name {
		return nil, errorf(fault.Invalid, "the document is for %q, not %s", doc.Name, name)
	}
	deprecations := map[string]*string{}
	for ver, raw := range doc.Versions {
		var f struct {
			Deprecated json.RawMessage `json:"deprecated"`
		}
		if err := json.Unmarshal(raw, &f); err != nil {
			return nil, errorf(fault.Invalid, "the manifest of %s is not a JSON object", ver)
		}
		switch {
		case f.Deprecated == nil:
			continue // unchanged
		case string(f.Deprecated) == "null":
			deprecations[ver] = new(string)
		default:
			var msg string
			if err := json.Unmarshal(f.Deprecated, &msg); err != nil {
				return nil, errorf(fault.Invalid, "%s: deprecated must be a string", ver)
			}
			deprecations[ver] = &msg
		}
	}
	defer r.locks.Lock(name)()
	return r.changeHosted(ctx, name, rev, func(p *Package) (bool, error) {
		for ver := range doc.Versions {
			if p.Versions[ver] == nil {
				return false, errorf(fault.Invalid, "%s@%s is not published here: new versions come with npm publish", name, ver)
			}
		}
		now := r.now().UTC()
		var gone []string
		if remove {
			for ver, v := range p.Versions {
				if _, ok := doc.Versions[ver]; ok {
					continue
				}
				if err := r.policy.mayRemove(name, ver, v, now); err != nil {
					return false, err
				}
				gone = append(gone, ver)
			}
		}
		changed := len(gone) > 0
		for ver, msg := range deprecations {
			if v := p.Versions[ver]; v.Deprecated != *msg {
				v.Deprecated = *msg
				changed = true
			}
		}
		if !changed {
			return false, nil
		}
		p.unpublish(gone, now)
		p.Rev++
		p.Modified = now
		return true, nil
	})
}

// Unpublish removes every version of name (npm unpublish --force: DELETE
// /<name>/-rev/<rev>), as the policy allows. The name stays hosted.
func (r *Registry) Unpublish(ctx context.Context, name, rev string) (*Package, error) {
	defer r.locks.Lock(name)()
	return r.changeHosted(ctx, name, rev, func(p *Package) (bool, error) {
		if len(p.Versions) == 0 {
			return false, errorf(fault.NotFound, "package %s has no published version", name)
		}
		now := r.now().UTC()
		vers := slices.Sorted(maps.Keys(p.Versions))
		for _, ver := range vers {
			if err := r.policy.mayRemove(name, ver, p.Versions[ver], now); err != nil {
				return false, err
			}
		}
		p.unpublish(vers, now)
		p.Rev++
		p.Modified = now
		return true, nil
	})
}

// unpublish removes vers, and the dist-tags that named them; latest moves
// to the highest remaining release (or prerelease).
func (p *Package) unpublish(vers []string, now time.Time) {
	if len(vers) == 0 {
		return
	}
	if p.Removed == nil {
		p.Removed = map[string]time.Time{}
	}
	for _, ver := range vers {
		delete(p.Versions, ver)
		p.Removed[ver] = now
	}
	for tag, ver := range p.DistTags {
		if p.Versions[ver] == nil {
			delete(p.DistTags, tag)
		}
	}
	if _, ok := p.DistTags["latest"]; !ok {
		if best := p.highest(); best != "" {
			p.DistTags["latest"] = best
		}
	}
}

// highest is the highest live release, else the highest prerelease.
func (p *Package) highest() string {
	best, bestPre := "", ""
	var bv, bpv version
	for ver := range p.Versions {
		sv, ok := parseVersion(ver)
		if !ok {
			continue
		}
		if len(sv.pre) == 0 {
			if best == "" || sv.compare(bv) > 0 {
				best, bv = ver, sv
			}
		} else if bestPre == "" || sv.compare(bpv) > 0 {
			bestPre, bpv = ver, sv
		}
	}
	if best != "" {
		return best
	}
	return bestPre
}

// RemoveTarball answers npm unpublish's last step, DELETE
// /<name>/-/<file>/-rev/<rev>, sent once the version is gone: nothing is
// left to do (the blob goes at the next GC if nothing else uses it). The
// tarball of a live version is refused.
func (r *Registry) RemoveTarball(ctx context.Context, name, file, rev string) error {
	defer r.locks.Lock(name)()
	p, err := r.getRev(ctx, name, rev)
	if err != nil {
		return err
	}
	for ver, v := range p.Versions {
		if v.File == file {
			return errorf(fault.Invalid, "%s is the tarball of %s@%s: unpublish the version (npm unpublish %s@%s)", file, name, ver, name, ver)
		}
	}
	unscoped := name[strings.LastIndexByte(name, '/')+1:]
	for ver := range p.Removed {
		if unscoped+"-"+ver+".tgz" == file {
			return nil
		}
	}
	return errorf(fault.NotFound, "package %s has no tarball %s", name, file)
}

// SetTag points dist-tag tag of name at version ver.
func (r *Registry) SetTag(ctx context.Context, name, tag, ver string) (*Package, error) {
	if !validTag(tag) {
		return nil, errorf(fault.Invalid, "invalid dist-tag %q: a tag must not look like a version or a range", tag)
	}
	defer r.locks.Lock(name)()
	return r.changeHosted(ctx, name, "", func(p *Package) (bool, error) {
		if p.Versions[ver] == nil {
			return false, errorf(fault.NotFound, "version %s of %s is not published", ver, name)
		}
		if p.DistTags[tag] == ver {
			return false, nil
		}
		p.DistTags[tag] = ver
		p.Rev++
		p.Modified = r.now().UTC()
		return true, nil
	})
}

// RemoveTag removes dist-tag tag of name; latest cannot be removed.
func (r *Registry) RemoveTag(ctx context.Context, name, tag string) (*Package, error) {
	if tag == "latest" {
		return nil, errorf(fault.Invalid, "the latest dist-tag cannot be removed; point it at another version instead")
	}
	defer r.locks.Lock(name)()
	return r.changeHosted(ctx, name, "", func(p *Package) (bool, error) {
		if _, ok := p.DistTags[tag]; !ok {
			return false, errorf(fault.NotFound, "%s has no dist-tag %s", name, tag)
		}
		delete(p.DistTags, tag)
		p.Rev++
		p.Modified = r.now().UTC()
		return true, nil
	})
}

// Tarball finds the live version of name whose tarball is file and opens
// the tarball.
func (r *Registry) Tarball(ctx context.Context, name, file string) (*Version, *cache.Object, error) {
	p, err := r.Get(ctx, name)
	if err != nil {
		return nil, nil, err
	}
	for _, v := range p.Versions {
		if v.File != file {
			continue
		}
		obj, err := r.blobs.Open(ctx, cache.BlobKey(v.Digest))
		if err != nil {
			// Hosted tarballs are never evicted: a missing one is ours.
			return nil, nil, internal(err, "cannot open the tarball %s of %s", file, name)
		}
		return v, obj, nil
	}
	return nil, nil, errorf(fault.NotFound, "package %s has no tarball %s", name, file)
}

// getRev returns the state of name if rev, when set, is its current _rev:
// a client that read an older state must read it again. The caller holds
// name's lock.
func (r *Registry) getRev(ctx context.Context, name, rev string) (*Package, error) {
	p, err := r.Get(ctx, name)
	if err != nil {
		return nil, err
	}
	if err := checkRev(p, rev); err != nil {
		return nil, err
	}
	return p, nil
}

// checkRev refuses a change of p sent with a _rev other than its current
// one; rev "" asks for none.
func checkRev(p *Package, rev string) error {
	if rev != "" && rev != p.RevString() {
		return errorf(fault.Conflict, "%s changed since it was read (revision %s, now %s): read it again and retry", p.Name, rev, p.RevString())
	}
	return nil
}

// changeHosted is change for a hosted package that must have state, sent
// with rev (checked on the state fn changes).
func (r *Registry) changeHosted(ctx context.Context, name, rev string, fn func(p *Package) (bool, error)) (*Package, error) {
	if !r.Hosted(name) {
		return nil, errorf(fault.NotFound, "package %s is not published here", name)
	}
	return r.change(ctx, name, false, func(p *Package) (bool, error) {
		if err := checkRev(p, rev); err != nil {
			return false, err
		}
		return fn(p)
	})
}

// marshal encodes v without HTML escaping (readmes keep their < and >).
func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}
