package maven

import (
	"bytes"
	"cmp"
	"context"
	"encoding/xml"
	"errors"
	"io"
	"path"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// MaxMetadataBytes caps a maven-metadata.xml a client deploys.
const MaxMetadataBytes = 1 << 20

// lastUpdatedFormat is Maven's timestamp layout (UTC).
const lastUpdatedFormat = "20060102150405"

// metadataXML is maven-metadata.xml as nora writes it (element order as
// Maven's own writer has it). Lists are behind pointers: encoding/xml
// writes an empty "a>b" parent even with omitempty.
type metadataXML struct {
	XMLName      xml.Name       `xml:"metadata"`
	ModelVersion string         `xml:"modelVersion,attr,omitempty"`
	GroupID      string         `xml:"groupId,omitempty"`
	ArtifactID   string         `xml:"artifactId,omitempty"`
	Version      string         `xml:"version,omitempty"`
	Versioning   *versioningXML `xml:"versioning,omitempty"`
	Plugins      *pluginsXML    `xml:"plugins,omitempty"`
}

type versioningXML struct {
	Latest           string               `xml:"latest,omitempty"`
	Release          string               `xml:"release,omitempty"`
	Snapshot         *snapshotXML         `xml:"snapshot,omitempty"`
	Versions         *versionsXML         `xml:"versions,omitempty"`
	LastUpdated      string               `xml:"lastUpdated,omitempty"`
	SnapshotVersions *snapshotVersionsXML `xml:"snapshotVersions,omitempty"`
}

type versionsXML struct {
	Version []string `xml:"version"`
}

type pluginsXML struct {
	Plugin []Plugin `xml:"plugin"`
}

type snapshotXML struct {
	Timestamp   string `xml:"timestamp"`
	BuildNumber int    `xml:"buildNumber"`
}

type snapshotVersionsXML struct {
	SnapshotVersion []snapshotVersionXML `xml:"snapshotVersion"`
}

type snapshotVersionXML struct {
	Classifier string `xml:"classifier,omitempty"`
	Extension  string `xml:"extension"`
	Value      string `xml:"value"`
	Updated    string `xml:"updated"`
}

// ClientMetadata is what nora takes from a maven-metadata.xml a client
// deploys. Everything else in it (versions, snapshot, lastUpdated) is the
// client's merge of what it read and is ignored: nora generates those from
// the files it holds.
type ClientMetadata struct {
	GroupID    string
	ArtifactID string
	Version    string
	Plugins    []Plugin
}

type clientMetadataXML struct {
	XMLName    xml.Name `xml:"metadata"`
	GroupID    string   `xml:"groupId"`
	ArtifactID string   `xml:"artifactId"`
	Version    string   `xml:"version"`
	Plugins    []Plugin `xml:"plugins>plugin"`
}

// ParseMetadata parses a deployed maven-metadata.xml: well-formed XML (one
// <metadata> root, nothing but comments after it) whose coordinates and
// plugin mappings are what a Maven layout can hold. Unknown elements are
// ignored.
func ParseMetadata(b []byte) (ClientMetadata, error) {
	var m clientMetadataXML
	if len(b) > MaxMetadataBytes {
		return ClientMetadata{}, invalidf("metadata is larger than %d bytes", MaxMetadataBytes)
	}
	d := xml.NewDecoder(bytes.NewReader(b))
	d.Strict = true
	if err := d.Decode(&m); err != nil {
		return ClientMetadata{}, invalidf("metadata is not a <metadata> document: %v", err)
	}
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return ClientMetadata{}, invalidf("metadata: %v", err)
		}
		switch t := tok.(type) {
		case xml.Comment, xml.ProcInst:
		case xml.CharData:
			if len(bytes.TrimSpace(t)) > 0 {
				return ClientMetadata{}, invalidf("metadata has text after its root element")
			}
		default:
			return ClientMetadata{}, invalidf("metadata has more than one root element")
		}
	}
	out := ClientMetadata{
		GroupID: strings.TrimSpace(m.GroupID), ArtifactID: strings.TrimSpace(m.ArtifactID), Version: strings.TrimSpace(m.Version),
	}
	if out.GroupID != "" && !validGroupID(out.GroupID) ||
		out.ArtifactID != "" && !ValidSegment(out.ArtifactID) ||
		out.Version != "" && !ValidSegment(out.Version) {
		return ClientMetadata{}, invalidf("metadata names an impossible coordinate %s:%s:%s", out.GroupID, out.ArtifactID, out.Version)
	}
	for _, p := range m.Plugins {
		p = Plugin{Name: strings.TrimSpace(p.Name), Prefix: strings.TrimSpace(p.Prefix), ArtifactID: strings.TrimSpace(p.ArtifactID)}
		if !ValidSegment(p.Prefix) || !ValidSegment(p.ArtifactID) || !validText(p.Name) {
			return ClientMetadata{}, invalidf("metadata has an invalid plugin entry")
		}
		out.Plugins = append(out.Plugins, p)
	}
	return out, nil
}

func validGroupID(g string) bool {
	return !strings.Contains(g, "/") && validDir(strings.ReplaceAll(g, ".", "/"))
}

// validText admits a plugin's display name: short, printable.
func validText(s string) bool {
	if len(s) > 256 || !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return false
		}
	}
	return true
}

// PutMetadata takes a maven-metadata.xml the client deployed to dir.
// Clients must get a 2xx for it, but nora serves metadata it generates
// from the files it holds, so only two things are kept from it:
// nothing for an artifact's or a version's metadata (it is checked to
// name dir), and the prefix mappings of a plugin group, merged with those
// already there, for plugins hosted in that group.
func (r *Registry) PutMetadata(ctx context.Context, dir string, body []byte) error {
	if !validDir(dir) {
		return invalidf("%q", dir)
	}
	m, err := ParseMetadata(body)
	if err != nil {
		return err
	}
	if m.ArtifactID != "" {
		ga := m.ArtifactID
		if m.GroupID != "" {
			ga = strings.ReplaceAll(m.GroupID, ".", "/") + "/" + m.ArtifactID
		}
		if !strings.HasSuffix("/"+dir, "/"+ga) && (m.Version == "" || !strings.HasSuffix("/"+dir, "/"+ga+"/"+m.Version)) {
			return invalidf("metadata for %s:%s deployed to %s", m.GroupID, m.ArtifactID, dir)
		}
	}
	if len(m.Plugins) == 0 {
		return nil
	}
	if m.GroupID != "" && strings.ReplaceAll(m.GroupID, ".", "/") != dir {
		return invalidf("plugin metadata for group %s deployed to %s", m.GroupID, dir)
	}
	var keep []Plugin
	for _, p := range m.Plugins {
		if r.Hosted(dir + "/" + p.ArtifactID) {
			keep = append(keep, p)
		}
	}
	if len(keep) == 0 {
		return nil // mappings to plugins nora does not host: not nora's to serve
	}
	unlock := r.locks.lock(dir)
	defer unlock()
	if err := r.hostDir(ctx, dir); err != nil {
		return err
	}
	return r.changeDoc(ctx, dir, func(d *dirDoc) (*dirDoc, error) {
		if d == nil {
			d = &dirDoc{GroupID: GroupID(dir)}
		}
		if !mergePlugins(d, keep) {
			return nil, nil
		}
		d.Updated = r.now().UTC()
		return d, nil
	})
}

// mergePlugins adds or updates the prefix mappings keep in d, and reports
// whether anything changed.
func mergePlugins(d *dirDoc, keep []Plugin) bool {
	changed := false
	for _, p := range keep {
		i := slices.IndexFunc(d.Plugins, func(o Plugin) bool { return o.ArtifactID == p.ArtifactID })
		switch {
		case i < 0:
			d.Plugins = append(d.Plugins, p)
		case d.Plugins[i] != p:
			d.Plugins[i] = p
		default:
			continue
		}
		changed = true
	}
	slices.SortFunc(d.Plugins, func(a, b Plugin) int { return strings.Compare(a.ArtifactID, b.ArtifactID) })
	return changed
}

// MetadataOwner is the hosted directory that answers for the metadata
// directory dir: dir itself (an artifact or plugin group), or the artifact
// dir is a version of (SNAPSHOT metadata). ok is false when dir is not
// hosted and may be asked upstream.
//
// "com/acme/lib/x" may be a version of com.acme:lib or the artifact
// com.acme.lib:x; a layout cannot tell. Under a hosted artifact it counts
// as a version, never asked upstream, when it is one the artifact has, a
// SNAPSHOT, or starts with a digit as versions do and artifactIds do not.
func (r *Registry) MetadataOwner(ctx context.Context, dir string) (owner string, ok bool) {
	if r.Hosted(dir) {
		return dir, true
	}
	parent, v := path.Split(dir)
	parent = strings.TrimSuffix(parent, "/")
	if parent == "" || !r.Hosted(parent) {
		return "", false
	}
	if IsSnapshot(v) || v != "" && '0' <= v[0] && v[0] <= '9' {
		return parent, true
	}
	d, err := r.doc(ctx, parent)
	if err != nil {
		// Hosted but unreadable: still never upstream.
		r.log.Warn("cannot read hosted maven state", "dir", parent, "err", err)
		return parent, true
	}
	if d != nil && d.Versions[v] != nil {
		return parent, true
	}
	return "", false
}

// Metadata generates maven-metadata.xml for the metadata directory dir
// (see MetadataOwner): an artifact's versions, a plugin group's prefixes,
// or a SNAPSHOT version's builds. Only files not Failed count. The bytes
// depend only on hosted state, so their checksums are stable.
func (r *Registry) Metadata(ctx context.Context, dir string) ([]byte, error) {
	owner, ok := r.MetadataOwner(ctx, dir)
	if !ok {
		return nil, notFoundf("%s is not hosted", dir)
	}
	d, err := r.doc(ctx, owner)
	if err != nil {
		return nil, err
	}
	var m *metadataXML
	if d != nil && owner == dir {
		m = artifactMetadata(d)
	} else if d != nil {
		m = snapshotMetadata(d, path.Base(dir))
	}
	if m == nil {
		return nil, notFoundf("no metadata for %s", dir)
	}
	b, err := xml.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(append([]byte(xml.Header), b...), '\n'), nil
}

// live reports whether v has a file that is served.
func (v *version) live() bool {
	for _, f := range v.Files {
		if f.Failed == "" {
			return true
		}
	}
	return false
}

func artifactMetadata(d *dirDoc) *metadataXML {
	var versions []string
	for name, v := range d.Versions {
		if v.live() {
			versions = append(versions, name)
		}
	}
	if len(versions) == 0 && len(d.Plugins) == 0 {
		return nil
	}
	m := &metadataXML{GroupID: d.GroupID}
	if len(d.Plugins) > 0 {
		m.Plugins = &pluginsXML{d.Plugins}
	}
	if len(versions) > 0 {
		slices.SortFunc(versions, CompareVersions)
		vx := &versioningXML{Latest: versions[len(versions)-1], Versions: &versionsXML{versions}, LastUpdated: stamp(d.Updated)}
		for _, v := range slices.Backward(versions) {
			if !IsSnapshot(v) {
				vx.Release = v
				break
			}
		}
		m.ArtifactID, m.Versioning = d.ArtifactID, vx
	}
	return m
}

// snapshotMetadata lists a SNAPSHOT version's latest build and, per
// classifier and extension, the latest build that has such a file.
func snapshotMetadata(d *dirDoc, v string) *metadataXML {
	ver := d.Versions[v]
	if ver == nil || !IsSnapshot(v) {
		return nil
	}
	type entry struct {
		b       build
		updated time.Time
	}
	latest := map[string]entry{} // by tail
	var top build
	found := false
	for name, f := range ver.Files {
		b, ok := parseBuild(d.ArtifactID, v, name)
		if !ok || f.Failed != "" {
			continue
		}
		if e, seen := latest[b.Tail]; !seen || b.later(e.b) {
			latest[b.Tail] = entry{b, f.Uploaded}
		}
		if !found || b.later(top) {
			top, found = b, true
		}
	}
	if !found {
		return nil
	}
	var svs []snapshotVersionXML
	for tail, e := range latest {
		c, ext := splitTail(tail)
		svs = append(svs, snapshotVersionXML{Classifier: c, Extension: ext, Value: e.b.value(v), Updated: stamp(e.updated)})
	}
	slices.SortFunc(svs, func(a, b snapshotVersionXML) int {
		return cmp.Or(strings.Compare(a.Extension, b.Extension), strings.Compare(a.Classifier, b.Classifier))
	})
	vx := &versioningXML{
		Snapshot:         &snapshotXML{Timestamp: top.Timestamp, BuildNumber: top.Number},
		LastUpdated:      stamp(ver.Updated),
		SnapshotVersions: &snapshotVersionsXML{svs},
	}
	return &metadataXML{ModelVersion: "1.1.0", GroupID: d.GroupID, ArtifactID: d.ArtifactID, Version: v, Versioning: vx}
}

func stamp(t time.Time) string { return t.UTC().Format(lastUpdatedFormat) }
