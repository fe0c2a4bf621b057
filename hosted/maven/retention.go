package maven

import (
	"context"
	"fmt"
	"path"
	"strconv"
	"strings"
	"time"

	"nora/hosted/retention"
)

// buildTimeFormat is the timestamp of a SNAPSHOT build's file names (UTC).
const buildTimeFormat = "20060102.150405"

// Items implements retention.Source: every timestamped build of every
// hosted SNAPSHOT version. The build "1.0-20261204.120000-3" of
// com.acme:lib (all its files) is the item {Repository:
// "com/acme/lib/1.0-SNAPSHOT", Tag: "20261204.120000-3"}, created at its
// timestamp. Releases are never items.
func (r *Registry) Items(ctx context.Context) ([]retention.Item, error) {
	var items []retention.Item
	for _, dir := range r.dirs.List() {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		d, err := r.doc(ctx, dir)
		if err != nil {
			return nil, err
		}
		if d == nil {
			continue
		}
		for v, ver := range d.Versions {
			if !IsSnapshot(v) {
				continue
			}
			seen := map[string]bool{}
			for name := range ver.Files {
				b, ok := parseBuild(d.ArtifactID, v, name)
				if !ok || seen[b.tag()] {
					continue
				}
				seen[b.tag()] = true
				created, _ := time.ParseInLocation(buildTimeFormat, b.Timestamp, time.UTC)
				items = append(items, retention.Item{Format: "maven", Repository: dir + "/" + v, Tag: b.tag(),
					Created: created, What: "snapshot build"})
			}
		}
	}
	return items, nil
}

// tag names the build among its version's: "20261204.120000-3".
func (b build) tag() string { return b.Timestamp + "-" + strconv.Itoa(b.Number) }

// RemoveItem implements retention.Source: it removes every file of the
// build from hosted state (GC collects their bytes), so the version's
// maven-metadata.xml, generated from that state, names the newest build
// left. A version left with no file is removed. A build already gone is
// retention.ErrGone.
func (r *Registry) RemoveItem(ctx context.Context, it retention.Item) error {
	dir, v := path.Split(it.Repository)
	dir = strings.TrimSuffix(dir, "/")
	if it.Format != "maven" || !validDir(dir) || !IsSnapshot(v) {
		return fmt.Errorf("%s is not a hosted maven snapshot build", it.Key())
	}
	unlock := r.locks.lock(dir)
	defer unlock()
	return r.changeDoc(ctx, dir, func(d *dirDoc) (*dirDoc, error) {
		var ver *version
		if d != nil {
			ver = d.Versions[v]
		}
		if ver == nil {
			return nil, retention.ErrGone
		}
		removed := false
		for name := range ver.Files {
			if b, ok := parseBuild(d.ArtifactID, v, name); ok && b.tag() == it.Tag {
				delete(ver.Files, name)
				removed = true
			}
		}
		if !removed {
			return nil, retention.ErrGone
		}
		now := r.now().UTC()
		ver.Updated, d.Updated = now, now
		if len(ver.Files) == 0 {
			delete(d.Versions, v)
		}
		return d, nil
	})
}

var _ retention.Source = (*Registry)(nil)
