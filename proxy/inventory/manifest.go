package inventory

import (
	"context"
	"encoding/json"
	"io"

	"github.com/opencontainers/go-digest"

	"nora/cache"
)

// descriptor is the part of an OCI descriptor the inventory reads.
type descriptor struct {
	MediaType string        `json:"mediaType"`
	Digest    digest.Digest `json:"digest"`
	Size      int64         `json:"size"`
	Platform  *platform     `json:"platform,omitempty"`
}

type platform struct {
	OS           string `json:"os"`
	Architecture string `json:"architecture"`
	Variant      string `json:"variant,omitempty"`
}

func (p platform) String() string {
	s := p.OS + "/" + p.Architecture
	if p.Variant != "" {
		s += "/" + p.Variant
	}
	return s
}

// manifestDoc is an image manifest or an index, as far as read here.
type manifestDoc struct {
	Config    *descriptor  `json:"config"`
	Layers    []descriptor `json:"layers"`
	Manifests []descriptor `json:"manifests"`
}

// readJSON decodes the stored object with digest d into v, without
// counting as an access (a listing is not a pull).
func (i *Inventory) readJSON(ctx context.Context, d digest.Digest, v any) error {
	if err := d.Validate(); err != nil {
		return err
	}
	body, _, err := i.d.Store.Get(ctx, cache.BlobKey(d), 0)
	if err != nil {
		return err
	}
	defer body.Close()
	b, err := io.ReadAll(io.LimitReader(body, maxManifest))
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

// describe fills t's size and platforms from its manifest: an image's
// size is its manifest's, config's and layers' as the manifest gives
// them, its platform its config's; an index's the sum of its own and its
// stored children's, its platforms those its entries name. What the store
// does not hold counts nothing.
func (i *Inventory) describe(ctx context.Context, t *Tag, size int64) {
	t.Size = size
	var m manifestDoc
	if i.readJSON(ctx, t.Digest, &m) != nil {
		return
	}
	if m.Manifests == nil {
		t.Size += i.imageSize(m)
		if p := i.configPlatform(ctx, m); p != "" {
			t.Platforms = []string{p}
		}
		return
	}
	for _, c := range m.Manifests {
		if c.Platform != nil && c.Platform.OS != "unknown" && c.Platform.OS != "" {
			t.Platforms = append(t.Platforms, c.Platform.String())
		}
		var child manifestDoc
		if i.readJSON(ctx, c.Digest, &child) == nil {
			t.Size += c.Size + i.imageSize(child)
		}
	}
}

func (i *Inventory) imageSize(m manifestDoc) int64 {
	var n int64
	if m.Config != nil {
		n += m.Config.Size
	}
	for _, l := range m.Layers {
		n += l.Size
	}
	return n
}

// configPlatform reads an image's platform from its config.
func (i *Inventory) configPlatform(ctx context.Context, m manifestDoc) string {
	if m.Config == nil {
		return ""
	}
	var p platform
	if i.readJSON(ctx, m.Config.Digest, &p) != nil || p.OS == "" {
		return ""
	}
	return p.String()
}
