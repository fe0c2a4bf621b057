package oci_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"nora/cache"
	"nora/cache/s3/s3test"
	"nora/hosted/oci"
)

// Two instances on one bucket: what one pushes the other serves at once,
// and an upload whose chunks reach both completes.
func TestTwoInstancesOneBucket(t *testing.T) {
	a, b, _, store := twoInstances(t, oci.Config{})
	ctx := context.Background()

	if b.Exists("app") { // b now believes "no" for up to a second
		t.Fatal("app hosted before any push")
	}
	config := pushBlob(t, a, "app", []byte(`{}`))
	layer := chunked(t, []*oci.Registry{a, b, a, b}, "app", bytes.Repeat([]byte("layer "), 5000), 3)
	m := imageManifest(config, 2, []sized{{layer, 30000}}, "")
	got, err := b.PutManifest(ctx, "app", "", []string{"v1"}, m, ociManifest)
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); !a.Exists("app") || !b.Exists("app"); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the pushed repository never showed on both instances")
		}
	}
	for _, r := range []*oci.Registry{a, b} {
		if m, err := r.Manifest("app", "", "v1"); err != nil || m.Digest != got.Digest {
			t.Fatalf("Manifest = %+v %v", m, err)
		}
		if tags, _, err := r.Tags("app", "", 10); err != nil || !slices.Equal(tags, []string{"v1"}) {
			t.Fatalf("Tags = %v %v", tags, err)
		}
		if names, _, _ := r.Repositories("", 10, nil); !slices.Equal(names, []string{"app"}) {
			t.Fatalf("Repositories = %v", names)
		}
		if n, err := r.StatBlob(ctx, "app", layer); err != nil || n != 30000 {
			t.Fatalf("StatBlob = %d %v", n, err)
		}
	}
	// A tag deleted on one is gone on the other.
	if err := a.DeleteTag("app", "v1"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Manifest("app", "", "v1"); !errors.Is(err, oci.ErrManifestUnknown) {
		t.Fatalf("deleted tag on the other instance: %v", err)
	}
	if left := uploadObjects(t, store); len(left) != 0 {
		t.Fatalf("finished uploads left %v", left)
	}
}

// twoInstances opens two registries with shared uploads on one new bucket,
// each with a cache of its own; b gets cfgB. It returns a's cache and
// store too.
func twoInstances(t *testing.T, cfgB oci.Config) (a, b *oci.Registry, ca *cache.Cache, store cache.Store) {
	t.Helper()
	s3test.Setenv(t)
	srv := s3test.Start(t)
	bucket := srv.NewBucket(t)
	ca, store = s3Cache(t, srv, bucket)
	a = openRegistry(t, store, ca, oci.Config{SharedUploads: true})
	cb, storeB := s3Cache(t, srv, bucket)
	cfgB.SharedUploads = true
	b = openRegistry(t, storeB, cb, cfgB)
	return a, b, ca, store
}

// chunked uploads data in n chunks, the start, each chunk and the final
// PUT on the registries of rs in turn, and returns its digest.
func chunked(t *testing.T, rs []*oci.Registry, repo string, data []byte, n int) digest.Digest {
	t.Helper()
	next := func(i int) *oci.Registry { return rs[i%len(rs)] }
	u, err := next(0).StartUpload(repo, "ci")
	if err != nil {
		t.Fatal(err)
	}
	id := u.ID()
	next(0).Release(u)
	step := (len(data) + n - 1) / n
	for i := 0; i < n; i++ {
		r := next(i + 1)
		u, err := r.OpenUpload(repo, "ci", id)
		if err != nil {
			t.Fatalf("chunk %d: %v", i, err)
		}
		chunk := data[i*step : min((i+1)*step, len(data))]
		if _, err := u.Write(bytes.NewReader(chunk), int64(i*step), int64(len(chunk))); err != nil {
			t.Fatalf("chunk %d: %v", i, err)
		}
		r.Release(u)
	}
	r := next(n + 1)
	u, err = r.OpenUpload(repo, "ci", id)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Release(u)
	if u.Size() != int64(len(data)) {
		t.Fatalf("session holds %d of %d bytes", u.Size(), len(data))
	}
	d := digest.FromBytes(data)
	if err := r.Commit(context.Background(), u, d); err != nil {
		t.Fatal(err)
	}
	return d
}

// uploadObjects lists what upload sessions keep in the store.
func uploadObjects(t *testing.T, store cache.Store) []string {
	t.Helper()
	var keys []string
	err := store.(cache.Lister).List(context.Background(), "hosted/oci/uploads/", func(key string, _ cache.Info) error {
		keys = append(keys, key)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

// A shared session: a chunk that does not continue it is refused whatever
// instance had the last one; a wrong digest at the end commits nothing and
// leaves nothing; an idle session is removed by the other instance's
// janitor.
func TestSharedUploadRefusals(t *testing.T) {
	a, b, ca, store := twoInstances(t, oci.Config{UploadIdle: 100 * time.Millisecond})
	ctx := context.Background()

	u, _ := a.StartUpload("app", "ci")
	id := u.ID()
	a.Release(u)
	write := func(r *oci.Registry, s string, start int64) error {
		u, err := r.OpenUpload("app", "ci", id)
		if err != nil {
			return err
		}
		defer r.Release(u)
		_, err = u.Write(strings.NewReader(s), start, int64(len(s)))
		return err
	}
	if err := write(b, "hello ", 0); err != nil {
		t.Fatal(err)
	}
	if err := write(a, "again", 0); !errors.Is(err, oci.ErrRangeInvalid) {
		t.Fatalf("a chunk that restarts the session on the other instance: %v", err)
	}
	if err := write(a, "world", 6); err != nil {
		t.Fatal(err)
	}
	if _, err := a.OpenUpload("app", "someone-else", id); !errors.Is(err, oci.ErrUploadUnknown) {
		t.Fatalf("another user's session: %v", err)
	}
	u, err := b.OpenUpload("app", "ci", id)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Commit(ctx, u, digest.FromString("hello wrld")); !errors.Is(err, oci.ErrDigestInvalid) {
		t.Fatalf("wrong digest: %v", err)
	}
	b.Release(u)
	if _, err := ca.Stat(ctx, cache.BlobKey(digest.FromString("hello world"))); !errors.Is(err, cache.ErrNotFound) {
		t.Fatalf("a refused upload was committed: %v", err)
	}
	if left := uploadObjects(t, store); len(left) != 0 {
		t.Fatalf("a refused upload left %v", left)
	}
	if _, err := a.OpenUpload("app", "ci", id); !errors.Is(err, oci.ErrUploadUnknown) {
		t.Fatalf("the refused session on the other instance: %v", err)
	}

	// Started on a, idle: b's janitor removes its objects.
	u, _ = a.StartUpload("app", "ci")
	a.Release(u)
	if err := write2(a, u.ID(), "partial"); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); len(uploadObjects(t, store)) > 0; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("an idle shared session was never removed: %v", uploadObjects(t, store))
		}
	}
	if _, err := a.OpenUpload("app", "ci", u.ID()); !errors.Is(err, oci.ErrUploadUnknown) {
		t.Fatalf("an expired session: %v", err)
	}
}

func write2(r *oci.Registry, id, s string) error {
	u, err := r.OpenUpload("app", "ci", id)
	if err != nil {
		return fmt.Errorf("open: %w", err)
	}
	defer r.Release(u)
	_, err = u.Write(strings.NewReader(s), -1, int64(len(s)))
	return err
}
