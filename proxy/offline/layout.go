// Package offline writes and reads the tar that carries images and
// packages to a site with no network (issue 17): `nora export` fetches a
// prefetch list through nora's own handlers into one streamed tar, `nora
// import` verifies every member of it before any of it enters the store.
//
// The tar holds, in this order:
//
//	blobs/sha256/<hex>  every manifest, index, config and layer (OCI image layout)
//	oci-layout          {"imageLayoutVersion":"1.0.0"}
//	index.json          one descriptor per image item; annotations
//	                    org.opencontainers.image.ref.name (the item as
//	                    listed), io.nora.image.name and io.nora.image.tag
//	packages/<format>/  package documents and files as the cache holds
//	                    them, each named after its key under refs/
//	packages.json       each package member with its cache ref
//	MANIFEST.json       written last: the size and sha256 of every member
//	                    above, in tar order
//
// MANIFEST.json comes last so that export streams (a member's digest is
// known once it is written); import stages every member in temp files,
// checks each against its name (blobs) and against MANIFEST.json, and
// commits only when all of them agree.
package offline

import "time"

// Member names of the fixed files.
const (
	ManifestName = "MANIFEST.json"
	IndexName    = "index.json"
	LayoutName   = "oci-layout"
	blobsDir     = "blobs/sha256/"
)

// Annotations on index.json's descriptors.
const (
	AnnotationRefName = "org.opencontainers.image.ref.name"
	AnnotationName    = "io.nora.image.name"
	AnnotationTag     = "io.nora.image.tag"
)

// Version is MANIFEST.json's format version.
const Version = 1

// Manifest is MANIFEST.json.
type Manifest struct {
	Version int       `json:"version"`
	Created time.Time `json:"created"`
	Members []Member  `json:"members"`
}

// Member is one tar member's checksum.
type Member struct {
	Name   string `json:"name"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// descriptor is an OCI descriptor, with the fields export and import read.
type descriptor struct {
	MediaType   string            `json:"mediaType"`
	Digest      string            `json:"digest"`
	Size        int64             `json:"size"`
	URLs        []string          `json:"urls,omitempty"`
	Platform    *platform         `json:"platform,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

type platform struct {
	OS           string `json:"os"`
	Architecture string `json:"architecture"`
	Variant      string `json:"variant,omitempty"`
}

// manifest is an image manifest or an index.
type manifest struct {
	SchemaVersion int          `json:"schemaVersion"`
	MediaType     string       `json:"mediaType,omitempty"`
	Manifests     []descriptor `json:"manifests,omitempty"`
	Config        *descriptor  `json:"config,omitempty"`
	Layers        []descriptor `json:"layers,omitempty"`
}

// maxManifest bounds a manifest, index.json and MANIFEST.json in memory.
const maxManifest = 4 << 20

// maxMeta bounds index.json and MANIFEST.json.
const maxMeta = 64 << 20
