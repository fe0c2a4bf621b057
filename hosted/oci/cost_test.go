package oci_test

import (
	"context"
	"io"
	"sync/atomic"
	"testing"

	"nora/cache"
	"nora/cache/s3/s3test"
	"nora/hosted/oci"
)

// countingStore passes every call on to a real store and counts them.
type countingStore struct {
	cache.Store
	calls atomic.Int64
}

func (s *countingStore) Stat(ctx context.Context, key string) (cache.Info, error) {
	s.calls.Add(1)
	return s.Store.Stat(ctx, key)
}

func (s *countingStore) Get(ctx context.Context, key string, off int64) (io.ReadCloser, cache.Info, error) {
	s.calls.Add(1)
	return s.Store.Get(ctx, key, off)
}

func (s *countingStore) Put(ctx context.Context, key string, r io.Reader) error {
	s.calls.Add(1)
	return s.Store.Put(ctx, key, r)
}

func (s *countingStore) List(ctx context.Context, prefix string, fn func(string, cache.Info) error) error {
	s.calls.Add(1)
	return s.Store.(cache.Lister).List(ctx, prefix, fn)
}

func (s *countingStore) ReadVersion(ctx context.Context, key string, max int64) ([]byte, string, error) {
	s.calls.Add(1)
	return s.Store.(cache.Swapper).ReadVersion(ctx, key, max)
}

func (s *countingStore) PutIf(ctx context.Context, key string, b []byte, ver string) error {
	s.calls.Add(1)
	return s.Store.(cache.Swapper).PutIf(ctx, key, b, ver)
}

// What a pull costs in calls to the bucket: resolving a manifest by tag or
// by digest reads one state object; a repository known hosted costs
// nothing more.
func TestResolveCost(t *testing.T) {
	s3test.Setenv(t)
	srv := s3test.Start(t)
	c, store := s3Cache(t, srv, srv.NewBucket(t))
	cs := &countingStore{Store: store}
	r := openRegistry(t, cs, c, oci.Config{SharedUploads: true})
	config := pushBlob(t, r, "app", []byte(`{}`))
	m, err := r.PutManifest(context.Background(), "app", "", []string{"v1"}, imageManifest(config, 2, nil, ""), ociManifest)
	if err != nil {
		t.Fatal(err)
	}
	f := func(what string, fn func() error, want int64) {
		t.Helper()
		before := cs.calls.Load()
		if err := fn(); err != nil {
			t.Fatal(err)
		}
		if got := cs.calls.Load() - before; got != want {
			t.Errorf("%s: %d store calls, want %d", what, got, want)
		}
	}
	f("manifest by tag", func() error { _, err := r.Manifest("app", "", "v1"); return err }, 1)
	f("manifest by digest", func() error { _, err := r.Manifest("app", m.Digest, ""); return err }, 1)
	f("tags", func() error { _, _, err := r.Tags("app", "", 10); return err }, 1)
}
