package oci

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"
	bolt "go.etcd.io/bbolt"
)

// Referrers lists the descriptors of the manifests of repository name whose
// subject is subject, in digest order, keeping only those of artifactType
// when it is set. An unknown subject has none. Errors: ErrNameUnknown.
func (r *Registry) Referrers(name string, subject digest.Digest, artifactType string) ([]v1.Descriptor, error) {
	out := []v1.Descriptor{}
	err := r.view(name, func(b *bolt.Bucket) error {
		prefix := referrerPrefix(subject)
		c := b.Bucket(referrersBucket).Cursor()
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			var d v1.Descriptor
			if err := json.Unmarshal(v, &d); err != nil {
				return fmt.Errorf("cannot decode referrer %q of %s: %w", k, name, err)
			}
			if artifactType == "" || d.ArtifactType == artifactType {
				out = append(out, d)
			}
		}
		return nil
	})
	return out, err
}
