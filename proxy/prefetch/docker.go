package prefetch

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/opencontainers/go-digest"
)

// manifestAccept is what a pulling client accepts: indexes and manifests,
// OCI and Docker.
var manifestAccept = []string{
	"application/vnd.oci.image.index.v1+json",
	"application/vnd.docker.distribution.manifest.list.v2+json",
	"application/vnd.oci.image.manifest.v1+json",
	"application/vnd.docker.distribution.manifest.v2+json",
}

// maxManifest bounds a manifest or index read (the docker handler's cap).
const maxManifest = 4 << 20

type descriptor struct {
	MediaType string    `json:"mediaType"`
	Digest    string    `json:"digest"`
	URLs      []string  `json:"urls"`
	Platform  *platform `json:"platform"`
}

type platform struct {
	OS           string `json:"os"`
	Architecture string `json:"architecture"`
	Variant      string `json:"variant"`
}

func (p *platform) String() string {
	if p == nil {
		return ""
	}
	s := p.OS + "/" + p.Architecture
	if p.Variant != "" {
		s += "/" + p.Variant
	}
	return s
}

type manifest struct {
	MediaType string       `json:"mediaType"`
	Manifests []descriptor `json:"manifests"`
	Config    *descriptor  `json:"config"`
	Layers    []descriptor `json:"layers"`
}

// image pulls as a client does: the manifest by tag or digest; for an
// index every platform's manifest (or the one of Options.Platform); then
// the config and layers of each.
func (f *fetcher) image(it Item) error {
	base := "/v2/" + it.Name
	m, err := f.manifest(base, it.Ref)
	if err != nil {
		return err
	}
	if m.Manifests == nil {
		return f.blobs(base, m, map[string]bool{})
	}
	children := m.Manifests
	if f.o.Platform != "" {
		children = nil
		for _, d := range m.Manifests {
			if platformMatches(d.Platform, f.o.Platform) {
				children = append(children, d)
			}
		}
		if len(children) == 0 {
			return fmt.Errorf("the index of %s:%s has no manifest for platform %s", it.Name, it.Ref, f.o.Platform)
		}
	}
	seen := map[string]bool{}
	for _, d := range children {
		if err := checkDigest(d); err != nil {
			return err
		}
		cm, err := f.manifest(base, d.Digest)
		if err != nil {
			return err
		}
		if err := f.blobs(base, cm, seen); err != nil {
			return err
		}
	}
	return nil
}

func (f *fetcher) manifest(base, ref string) (*manifest, error) {
	b, err := f.read(base+"/manifests/"+ref, maxManifest, manifestAccept...)
	if err != nil {
		return nil, err
	}
	var m manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("the manifest %s of %s is not JSON: %v", ref, base, err)
	}
	return &m, nil
}

// blobs fetches the config and layers of m that seen does not hold;
// foreign layers (with URLs) stay where they are, as clients leave them.
func (f *fetcher) blobs(base string, m *manifest, seen map[string]bool) error {
	all := m.Layers
	if m.Config != nil {
		all = append([]descriptor{*m.Config}, all...)
	}
	for _, d := range all {
		if seen[d.Digest] || len(d.URLs) > 0 {
			continue
		}
		if err := checkDigest(d); err != nil {
			return err
		}
		seen[d.Digest] = true
		if err := f.fetch(base + "/blobs/" + d.Digest); err != nil {
			return err
		}
	}
	return nil
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

// ValidPlatform checks a --platform value: os/arch[/variant].
func ValidPlatform(s string) error {
	parts := strings.Split(s, "/")
	if len(parts) < 2 || len(parts) > 3 {
		return fmt.Errorf("platform %q: want os/arch[/variant], such as linux/arm64", s)
	}
	for _, p := range parts {
		if p == "" || !tagRe.MatchString(p) {
			return fmt.Errorf("platform %q: want os/arch[/variant], such as linux/arm64", s)
		}
	}
	return nil
}

// checkDigest refuses a descriptor whose digest could not be a path
// segment of nora's API.
func checkDigest(d descriptor) error {
	if _, err := digest.Parse(d.Digest); err != nil {
		return fmt.Errorf("a manifest refers to %q: %v", d.Digest, err)
	}
	return nil
}
