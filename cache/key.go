package cache

import (
	"fmt"
	"strings"

	"github.com/opencontainers/go-digest"
)

// CheckKey refuses keys that could escape a store's root or are not plain
// relative slash paths. Adapters call it before touching anything.
func CheckKey(key string) error {
	if key == "" || len(key) > 1024 || strings.HasPrefix(key, "/") || strings.HasSuffix(key, "/") {
		return fmt.Errorf("invalid store key %q", key)
	}
	for _, part := range strings.Split(key, "/") {
		if part == "" || part == "." || part == ".." || strings.ContainsAny(part, "\\\x00") {
			return fmt.Errorf("invalid store key %q", key)
		}
	}
	return nil
}

// BlobKey is the content-addressed key of an immutable object, shared by
// every repository and format that refers to it.
func BlobKey(d digest.Digest) string {
	hex := d.Encoded()
	return "blobs/" + string(d.Algorithm()) + "/" + hex[:2] + "/" + hex
}
