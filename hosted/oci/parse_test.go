package oci_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"nora/hosted/oci"
)

var (
	dA = digest.FromString("a")
	dB = digest.FromString("b")
	dC = digest.FromString("c")
)

func TestParseManifest(t *testing.T) {
	// refs are "digest size" strings: the descriptors' sizes are kept.
	refs := func(ds []v1.Descriptor) []string {
		var out []string
		for _, d := range ds {
			out = append(out, fmt.Sprintf("%s %d", d.Digest, d.Size))
		}
		return out
	}
	f := func(body, ct, wantType, wantArtifact string, wantBlobs, wantManifests []string) {
		t.Helper()
		p, err := oci.ParseManifest([]byte(body), ct)
		if err != nil {
			t.Fatalf("ParseManifest(%s, %q): %v", body, ct, err)
		}
		if p.MediaType != wantType || p.ArtifactType != wantArtifact || !slices.Equal(refs(p.Blobs), wantBlobs) || !slices.Equal(refs(p.Manifests), wantManifests) {
			t.Fatalf("ParseManifest(%s, %q) = %+v", body, ct, p)
		}
	}
	bad := func(body, ct string) {
		t.Helper()
		if _, err := oci.ParseManifest([]byte(body), ct); !errors.Is(err, oci.ErrManifestInvalid) {
			t.Fatalf("ParseManifest(%s, %q) = %v, want ErrManifestInvalid", body, ct, err)
		}
	}
	img := `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"` + dA.String() + `","size":2},` +
		`"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"` + dB.String() + `","size":3},{"mediaType":"application/vnd.oci.image.layer.nondistributable.v1.tar","digest":"` + dC.String() + `","size":4,"urls":["https://example.invalid/c"]}]}`
	ab := []string{dA.String() + " 2", dB.String() + " 3"}
	children := []string{dA.String() + " 1", dB.String() + " 1"}
	f(img, "application/vnd.oci.image.manifest.v1+json", oci.MediaTypeOCIManifest, "application/vnd.oci.image.config.v1+json", ab, nil)
	f(img, "application/vnd.oci.image.manifest.v1+json; charset=utf-8", oci.MediaTypeOCIManifest, "application/vnd.oci.image.config.v1+json", ab, nil)
	f(img, "", oci.MediaTypeOCIManifest, "application/vnd.oci.image.config.v1+json", ab, nil)
	noType := strings.Replace(img, `"mediaType":"application/vnd.oci.image.manifest.v1+json",`, "", 1)
	f(noType, "application/vnd.docker.distribution.manifest.v2+json", oci.MediaTypeDockerManifest, "application/vnd.oci.image.config.v1+json", ab, nil)
	f(noType, "application/json", oci.MediaTypeOCIManifest, "application/vnd.oci.image.config.v1+json", ab, nil)
	art := strings.Replace(img, `"schemaVersion":2,`, `"schemaVersion":2,"artifactType":"application/x.sig",`, 1)
	f(art, "", oci.MediaTypeOCIManifest, "application/x.sig", ab, nil)
	idx := `{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"` + dA.String() + `","size":1},{"digest":"` + dB.String() + `","size":1}],"artifactType":"application/x.list"}`
	f(idx, "", oci.MediaTypeOCIIndex, "application/x.list", nil, children)
	f(idx, "application/vnd.docker.distribution.manifest.list.v2+json", oci.MediaTypeDockerList, "application/x.list", nil, children)
	f(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}`, "", oci.MediaTypeOCIIndex, "", nil, nil)

	bad(img, "application/vnd.oci.image.index.v1+json")               // body and header disagree
	bad(`{"schemaVersion":1,"name":"x","tag":"y","fsLayers":[]}`, "") // schema 1
	bad(`{"mediaType":"application/vnd.oci.image.manifest.v1+json"}`, "")
	bad(`{"schemaVersion":2,"mediaType":"application/vnd.oci.artifact.manifest.v1+json"}`, "")
	bad(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","layers":[]}`, "") // no config
	bad(strings.Replace(img, dB.String(), "sha256:short", 1), "")
	bad(strings.Replace(img, dB.String(), "md5:d41d8cd98f00b204e9800998ecf8427e", 1), "")
	bad(strings.Replace(img, `"size":3`, `"size":-3`, 1), "")
	bad(strings.Replace(idx, dA.String(), "sha256:"+strings.Repeat("Z", 64), 1), "")
	bad(`{"schemaVersion":2,"manifests":[],"subject":{"digest":"nope","size":1}}`, "")
	bad(`[]`, "")
	bad(`{"schemaVersion":2,`, "")
}

func FuzzParseManifest(f *testing.F) {
	f.Add([]byte(`{"schemaVersion":2,"config":{"digest":"`+dA.String()+`","size":2},"layers":[{"digest":"`+dB.String()+`","size":3,"urls":["u"]}]}`), "application/vnd.oci.image.manifest.v1+json")
	f.Add([]byte(`{"schemaVersion":2,"manifests":[{"digest":"`+dA.String()+`","size":1}],"subject":{"digest":"`+dC.String()+`","size":1}}`), "")
	f.Add([]byte(`{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.list.v2+json","manifests":null}`), "application/json")
	f.Add([]byte(`{"schemaVersion":1}`), "text/plain")
	f.Fuzz(func(t *testing.T, body []byte, ct string) {
		p, err := oci.ParseManifest(body, ct)
		if err != nil {
			if !errors.Is(err, oci.ErrManifestInvalid) {
				t.Fatalf("error %v does not wrap ErrManifestInvalid", err)
			}
			return
		}
		switch p.MediaType {
		case oci.MediaTypeOCIManifest, oci.MediaTypeDockerManifest:
			if len(p.Blobs) == 0 || len(p.Manifests) != 0 {
				t.Fatalf("image manifest with blobs %v manifests %v", p.Blobs, p.Manifests)
			}
		case oci.MediaTypeOCIIndex, oci.MediaTypeDockerList:
			if len(p.Blobs) != 0 {
				t.Fatalf("index with blobs %v", p.Blobs)
			}
		default:
			t.Fatalf("accepted media type %q", p.MediaType)
		}
		// Every extracted digest is one nora can verify and store: a
		// key that never escapes the store's blob space.
		for _, d := range p.Refs() {
			if oci.CheckDigest(d) != nil || strings.ContainsAny(d.Encoded(), "/.") {
				t.Fatalf("extracted bad digest %q", d)
			}
		}
		if p.Subject != nil && oci.CheckDigest(p.Subject.Digest) != nil {
			t.Fatalf("bad subject %q", p.Subject.Digest)
		}
	})
}
