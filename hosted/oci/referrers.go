package oci

import (
	"errors"
	"fmt"

	"github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"nora/cache"
)

// Referrers lists the descriptors of the manifests of repository name whose
// subject is subject, in digest order, keeping only those of artifactType
// when it is set. An unknown subject has none. Errors: ErrNameUnknown.
func (r *Registry) Referrers(name string, subject digest.Digest, artifactType string) ([]v1.Descriptor, error) {
	if err := r.inRepo(name); err != nil {
		return nil, err
	}
	ctx, cancel := r.opCtx()
	defer cancel()
	prefix := referrerDir(name, subject)
	elems, err := r.listDir(ctx, prefix)
	if err != nil {
		return nil, err
	}
	out := []v1.Descriptor{}
	for _, e := range elems {
		var d v1.Descriptor
		if err := r.getRecord(ctx, prefix+e, &d); errors.Is(err, cache.ErrNotFound) {
			continue // deleted since listed
		} else if err != nil {
			return nil, fmt.Errorf("cannot read referrer %s of %s: %w", e, name, err)
		}
		if artifactType == "" || d.ArtifactType == artifactType {
			out = append(out, d)
		}
	}
	return out, nil
}
