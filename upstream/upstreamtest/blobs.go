package upstreamtest

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// diskBlobs keeps the registry's blobs in files, so a 256 MB layer costs
// disk, not memory, and is served with sendfile. Put trusts the registry's
// verifying reader for the digest.
type diskBlobs struct{ dir string }

var (
	_ registry.BlobStatHandler   = diskBlobs{}
	_ registry.BlobPutHandler    = diskBlobs{}
	_ registry.BlobDeleteHandler = diskBlobs{}
)

func (b diskBlobs) path(h v1.Hash) string { return filepath.Join(b.dir, h.Algorithm+"-"+h.Hex) }

func notFound(err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return registry.ErrNotFound
	}
	return err
}

func (b diskBlobs) Stat(_ context.Context, _ string, h v1.Hash) (int64, error) {
	fi, err := os.Stat(b.path(h))
	if err != nil {
		return 0, notFound(err)
	}
	return fi.Size(), nil
}

func (b diskBlobs) Get(_ context.Context, _ string, h v1.Hash) (io.ReadCloser, error) {
	f, err := os.Open(b.path(h))
	return f, notFound(err)
}

func (b diskBlobs) Put(_ context.Context, _ string, h v1.Hash, rc io.ReadCloser) error {
	tmp, err := os.CreateTemp(b.dir, "put-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	_, err = io.Copy(tmp, rc)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return os.Rename(tmp.Name(), b.path(h))
}

func (b diskBlobs) Delete(_ context.Context, _ string, h v1.Hash) error {
	return notFound(os.Remove(b.path(h)))
}
