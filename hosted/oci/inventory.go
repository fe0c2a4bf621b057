package oci

import (
	"time"
)

// TagInfo is one hosted tag as an inventory lists it: the manifest it
// names and when it was last put (zero for tags older than that record).
type TagInfo struct {
	Tag      string
	Manifest Manifest
	Created  time.Time
}

// TagInfos lists up to n tags of repository name after last, in lexical
// order, each with its manifest; more reports whether another page
// follows. One store read per tag (two for a tag of an older nora).
// Errors: ErrNameUnknown.
func (r *Registry) TagInfos(name, last string, n int) (infos []TagInfo, more bool, err error) {
	tags, more, err := r.Tags(name, last, n)
	if err != nil {
		return nil, false, err
	}
	ctx, cancel := r.opCtx()
	defer cancel()
	for _, tag := range tags {
		t, err := r.tag(ctx, name, tag)
		if err != nil {
			continue // deleted since it was listed
		}
		m := Manifest{Digest: t.Digest, MediaType: t.MediaType, Size: t.Size, Subject: t.Subject}
		if t.Size == 0 {
			rec, err := r.manifest(ctx, name, t.Digest)
			if err != nil {
				continue
			}
			m.MediaType, m.Size, m.Subject = rec.MediaType, rec.Size, rec.Subject
		}
		infos = append(infos, TagInfo{Tag: tag, Manifest: m, Created: t.Created})
	}
	return infos, more, nil
}
