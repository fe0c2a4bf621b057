package oci

import (
	"encoding/json"
	"fmt"
	"mime"
	"strings"

	"github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"
)

// The manifest media types the hosted registry accepts. Docker schema 1
// (signed, deprecated for years) and the withdrawn OCI artifact manifest are
// refused.
const (
	MediaTypeOCIManifest    = v1.MediaTypeImageManifest
	MediaTypeOCIIndex       = v1.MediaTypeImageIndex
	MediaTypeDockerManifest = "application/vnd.docker.distribution.manifest.v2+json"
	MediaTypeDockerList     = "application/vnd.docker.distribution.manifest.list.v2+json"
)

func isIndex(mt string) bool { return mt == MediaTypeOCIIndex || mt == MediaTypeDockerList }

func knownManifestType(mt string) bool {
	switch mt {
	case MediaTypeOCIManifest, MediaTypeOCIIndex, MediaTypeDockerManifest, MediaTypeDockerList:
		return true
	}
	return false
}

// Parsed is what a manifest says about itself and the content it references.
type Parsed struct {
	MediaType    string
	ArtifactType string // as the referrers API reports it
	Annotations  map[string]string
	Subject      *v1.Descriptor
	// Blobs are the config and layers of an image manifest, except layers
	// with urls (non-distributable, never pushed), as the manifest
	// describes them: PutManifest checks their sizes against the store.
	Blobs []v1.Descriptor
	// Manifests are an index's children.
	Manifests []v1.Descriptor
}

// Refs are the digests of Blobs and Manifests.
func (p *Parsed) Refs() []digest.Digest {
	refs := make([]digest.Digest, 0, len(p.Blobs)+len(p.Manifests))
	for _, d := range p.Blobs {
		refs = append(refs, d.Digest)
	}
	for _, d := range p.Manifests {
		refs = append(refs, d.Digest)
	}
	return refs
}

// manifestJSON is the union of the image manifest and index shapes.
type manifestJSON struct {
	SchemaVersion *int              `json:"schemaVersion"`
	MediaType     string            `json:"mediaType"`
	ArtifactType  string            `json:"artifactType"`
	Config        *v1.Descriptor    `json:"config"`
	Layers        []v1.Descriptor   `json:"layers"`
	Manifests     []v1.Descriptor   `json:"manifests"`
	Subject       *v1.Descriptor    `json:"subject"`
	Annotations   map[string]string `json:"annotations"`
}

// ParseManifest checks a pushed manifest and extracts the descriptors it
// references. contentType is the request's Content-Type; a mediaType field
// in the body that disagrees with it makes the manifest invalid. Errors wrap
// ErrManifestInvalid.
func ParseManifest(body []byte, contentType string) (*Parsed, error) {
	var m manifestJSON
	if err := json.Unmarshal(body, &m); err != nil {
		return nil, fmt.Errorf("%w: not a JSON manifest: %v", ErrManifestInvalid, err)
	}
	if m.SchemaVersion == nil || *m.SchemaVersion != 2 {
		return nil, fmt.Errorf("%w: schemaVersion must be 2", ErrManifestInvalid)
	}
	mt := ""
	if ct, _, err := mime.ParseMediaType(contentType); err == nil {
		mt = strings.ToLower(ct)
	}
	if mt == "application/json" || mt == "application/octet-stream" || mt == "text/plain" {
		mt = "" // no type given: go by the body
	}
	switch {
	case m.MediaType != "" && mt != "" && m.MediaType != mt:
		return nil, fmt.Errorf("%w: mediaType %q does not match Content-Type %q", ErrManifestInvalid, m.MediaType, mt)
	case mt == "" && m.MediaType != "":
		mt = m.MediaType
	case mt == "" && m.Manifests != nil:
		mt = MediaTypeOCIIndex
	case mt == "":
		mt = MediaTypeOCIManifest
	}
	if !knownManifestType(mt) {
		return nil, fmt.Errorf("%w: unsupported manifest media type %q", ErrManifestInvalid, mt)
	}
	p := &Parsed{MediaType: mt, ArtifactType: m.ArtifactType, Annotations: m.Annotations}
	if m.Subject != nil {
		if err := checkDescriptor(*m.Subject); err != nil {
			return nil, fmt.Errorf("%w: subject: %v", ErrManifestInvalid, err)
		}
		p.Subject = m.Subject
	}
	if isIndex(mt) {
		for i, d := range m.Manifests {
			if err := checkDescriptor(d); err != nil {
				return nil, fmt.Errorf("%w: manifests[%d]: %v", ErrManifestInvalid, i, err)
			}
			p.Manifests = append(p.Manifests, d)
		}
		return p, nil
	}
	if m.Config == nil {
		return nil, fmt.Errorf("%w: an image manifest needs a config", ErrManifestInvalid)
	}
	if err := checkDescriptor(*m.Config); err != nil {
		return nil, fmt.Errorf("%w: config: %v", ErrManifestInvalid, err)
	}
	p.Blobs = append(p.Blobs, *m.Config)
	if p.ArtifactType == "" {
		p.ArtifactType = m.Config.MediaType
	}
	for i, d := range m.Layers {
		if err := checkDescriptor(d); err != nil {
			return nil, fmt.Errorf("%w: layers[%d]: %v", ErrManifestInvalid, i, err)
		}
		if len(d.URLs) == 0 {
			p.Blobs = append(p.Blobs, d)
		}
	}
	return p, nil
}

func checkDescriptor(d v1.Descriptor) error {
	if err := CheckDigest(d.Digest); err != nil {
		return err
	}
	if d.Size < 0 {
		return fmt.Errorf("negative size %d", d.Size)
	}
	return nil
}

// CheckDigest accepts only well-formed digests of algorithms nora can verify.
func CheckDigest(d digest.Digest) error {
	if err := d.Validate(); err != nil {
		return fmt.Errorf("digest %q: %w", d, err)
	}
	if !d.Algorithm().Available() {
		return fmt.Errorf("digest %q: %w", d, digest.ErrDigestUnsupported)
	}
	return nil
}
