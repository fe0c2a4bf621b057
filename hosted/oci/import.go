package oci

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	"github.com/opencontainers/go-digest"
	bolt "go.etcd.io/bbolt"
)

// The bbolt layout of hosted state before it moved into the store, read
// once to import it:
//
//	repos/<name>/tags/<tag>                      -> tagRecord (JSON)
//	repos/<name>/manifests/<digest>              -> manifestRecord (JSON)
//	repos/<name>/blobs/<digest>                  -> link (as now)
//	repos/<name>/referrers/<subject>\x00<digest> -> v1.Descriptor (JSON)
var (
	legacyRepos     = []byte("repos")
	legacyTags      = []byte("tags")
	legacyManifests = []byte("manifests")
	legacyBlobs     = []byte("blobs")
	legacyReferrers = []byte("referrers")
)

// importLegacy copies every record of the bbolt state file at path into
// the store, then renames the file to <path>.imported, so it happens
// once. A record the store holds already is kept: an import cut short
// runs again at the next start, and never undoes a later write.
func (r *Registry) importLegacy(ctx context.Context, path string) error {
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	db, err := bolt.Open(path, 0o640, &bolt.Options{Timeout: 5 * time.Second, ReadOnly: true})
	if err != nil {
		return fmt.Errorf("cannot open old hosted state %s: %w", path, err)
	}
	n := 0
	err = db.View(func(tx *bolt.Tx) error {
		repos := tx.Bucket(legacyRepos)
		if repos == nil {
			return nil
		}
		return repos.ForEach(func(name, _ []byte) error {
			b := repos.Bucket(name)
			if b == nil {
				return nil
			}
			c, err := r.importRepo(ctx, string(name), b)
			n += c
			return err
		})
	})
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("cannot import old hosted state %s: %w", path, err)
	}
	if err := os.Rename(path, path+".imported"); err != nil {
		return fmt.Errorf("cannot set aside imported hosted state: %w", err)
	}
	r.log.Info("imported hosted OCI state", "records", n, "from", path)
	return nil
}

// importRepo copies the records of one repository and reports how many
// it stored.
func (r *Registry) importRepo(ctx context.Context, name string, b *bolt.Bucket) (int, error) {
	if err := r.createRepo(ctx, name); err != nil {
		return 0, err
	}
	n := 0
	put := func(key string, v []byte) error {
		stored, err := r.putNew(ctx, key, bytes.Clone(v))
		if stored {
			n++
		}
		return err
	}
	each := func(bucket []byte, dir string) error {
		sub := b.Bucket(bucket)
		if sub == nil {
			return nil
		}
		return sub.ForEach(func(k, v []byte) error {
			if dir == referrersDir {
				subject, d, ok := bytes.Cut(k, []byte{0})
				if !ok {
					return fmt.Errorf("odd referrer key %q in %s", k, name)
				}
				return put(referrerDir(name, digest.Digest(subject))+string(d), v)
			}
			key, err := repoKey(name, dir, string(k))
			if err != nil {
				return err
			}
			return put(key, v)
		})
	}
	for _, s := range []struct {
		bucket []byte
		dir    string
	}{{legacyBlobs, blobsDir}, {legacyManifests, manifestsDir}, {legacyReferrers, referrersDir}, {legacyTags, tagsDir}} {
		if err := each(s.bucket, s.dir); err != nil {
			return n, err
		}
	}
	return n, nil
}
