package oci

import (
	"bytes"

	bolt "go.etcd.io/bbolt"
)

// page collects up to n keys after last from a sorted key space; more is
// true when keys remain. keep filters keys (nil keeps all).
func page(c *bolt.Cursor, last string, n int, keep func(k []byte) bool) (keys []string, more bool) {
	var k []byte
	if last == "" {
		k, _ = c.First()
	} else {
		k, _ = c.Seek([]byte(last))
		if k != nil && bytes.Equal(k, []byte(last)) {
			k, _ = c.Next()
		}
	}
	keys = []string{}
	for ; k != nil; k, _ = c.Next() {
		if keep != nil && !keep(k) {
			continue
		}
		if len(keys) == n {
			return keys, true
		}
		keys = append(keys, string(k))
	}
	return keys, false
}

// Tags lists up to n tags of repository name in lexical order, starting
// after last; more reports whether another page follows. Errors:
// ErrNameUnknown.
func (r *Registry) Tags(name, last string, n int) (tags []string, more bool, err error) {
	err = r.view(name, func(b *bolt.Bucket) error {
		tags, more = page(b.Bucket(tagsBucket).Cursor(), last, n, nil)
		return nil
	})
	return tags, more, err
}

// Repositories lists up to n hosted repositories in lexical order, starting
// after last, keeping those keep accepts (nil: all).
func (r *Registry) Repositories(last string, n int, keep func(name string) bool) (names []string, more bool, err error) {
	err = r.db.View(func(tx *bolt.Tx) error {
		var f func(k []byte) bool
		if keep != nil {
			f = func(k []byte) bool { return keep(string(k)) }
		}
		names, more = page(tx.Bucket(reposBucket).Cursor(), last, n, f)
		return nil
	})
	return names, more, err
}
