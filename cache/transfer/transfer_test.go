package transfer_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"

	"nora/cache"
	"nora/cache/disk"
	s3store "nora/cache/s3"
	"nora/cache/s3/s3test"
	"nora/cache/transfer"
)

// diskSide is a disk store on a new storage path.
func diskSide(t *testing.T) transfer.Side {
	t.Helper()
	path := t.TempDir()
	s, err := disk.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	return transfer.Side{Store: s, Path: path}
}

// s3Side is a new bucket of srv with a storage path of its own.
func s3Side(t *testing.T, srv *s3test.Server) transfer.Side {
	t.Helper()
	path := t.TempDir()
	s, err := s3store.Open(context.Background(), srv.Config(srv.NewBucket(t)), s3store.Options{SpoolDir: filepath.Join(path, "spool")})
	if err != nil {
		t.Fatal(err)
	}
	return transfer.Side{Store: s, Path: path}
}

func put(t *testing.T, s cache.Store, key string, b []byte) {
	t.Helper()
	if err := s.Put(context.Background(), key, bytes.NewReader(b)); err != nil {
		t.Fatal(err)
	}
}

func writeFile(t *testing.T, path string, b []byte, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, mode); err != nil {
		t.Fatal(err)
	}
}

// fill gives a side blobs, mutable objects with the names the formats
// produce, and state files beside what is no state.
func fill(t *testing.T, s transfer.Side) {
	t.Helper()
	for i, size := range []int{0, 1, 100 << 10, 3<<20 + 7} {
		b := bytes.Repeat([]byte{byte('a' + i)}, size)
		put(t, s.Store, cache.BlobKey(digest.FromBytes(b)), b)
	}
	put(t, s.Store, "refs/npm/@scope/name/_doc", []byte(`{"name":"@scope/name"}`))
	put(t, s.Store, "refs/maven/files/org/acme/lib/1.0+build%2B1/lib-1.0.jar/@", []byte("ref"))
	put(t, s.Store, "hosted/npm/packages/@acme/lib/state.json", []byte(`{"v":1}`))
	writeFile(t, filepath.Join(s.Path, "tls", "ca.key"), []byte("private"), 0o600)
	writeFile(t, filepath.Join(s.Path, "hosted.db"), []byte("legacy"), 0o640)
	writeFile(t, filepath.Join(s.Path, "index.db"), []byte("not state"), 0o640)
	writeFile(t, filepath.Join(s.Path, "spool", "x"), []byte("not state"), 0o640)
}

// snapshot is every object's and state file's sha256 (and a file's mode).
func snapshot(t *testing.T, s transfer.Side) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := s.Store.(cache.Lister).List(context.Background(), "", func(key string, _ cache.Info) error {
		rc, _, err := s.Store.Get(context.Background(), key, 0)
		if err != nil {
			return err
		}
		defer rc.Close()
		h := sha256.New()
		io.Copy(h, rc)
		out["store/"+key] = hex.EncodeToString(h.Sum(nil))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	files, err := transfer.LocalFiles(s.Path, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		b, _ := os.ReadFile(filepath.Join(s.Path, f.Rel))
		sum := sha256.Sum256(b)
		out["local/"+f.Rel] = hex.EncodeToString(sum[:]) + " " + f.Mode.String()
	}
	return out
}

func sameContent(t *testing.T, what string, got, want map[string]string) {
	t.Helper()
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: %s is %q, want %q", what, k, got[k], v)
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("%s: %s should not be there", what, k)
		}
	}
}

func migrate(t *testing.T, from, to transfer.Side, o transfer.Options) transfer.Report {
	t.Helper()
	rep, err := transfer.Migrate(context.Background(), from, to, o)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// Disk to S3 to disk gives the same objects and state files; a rerun
// copies nothing; a dry run changes nothing.
func TestMigrateRoundTrip(t *testing.T) {
	srv := s3test.Start(t)
	s3test.Setenv(t)
	a, b, c := diskSide(t), s3Side(t, srv), diskSide(t)
	fill(t, a)
	want := snapshot(t, a)
	if len(want) != 9 {
		t.Fatalf("the source holds %d objects and files, want 9: %v", len(want), want)
	}
	if rep := migrate(t, a, b, transfer.Options{DryRun: true}); rep.WouldCopy != 9 || rep.Copied != 0 || len(snapshot(t, b)) != 0 {
		t.Fatalf("dry run: %+v, destination %v", rep, snapshot(t, b))
	}
	if rep := migrate(t, a, b, transfer.Options{}); rep.Copied != 9 || rep.Failed != 0 {
		t.Fatalf("disk to S3: %+v", rep)
	}
	sameContent(t, "S3", snapshot(t, b), want)
	if rep := migrate(t, b, c, transfer.Options{}); rep.Copied != 9 || rep.Failed != 0 {
		t.Fatalf("S3 to disk: %+v", rep)
	}
	sameContent(t, "disk", snapshot(t, c), want)
	if rep := migrate(t, b, c, transfer.Options{}); rep.Copied != 0 || rep.Skipped != 9 {
		t.Fatalf("rerun: %+v", rep)
	}
	// A mutable object that differs with the same size is copied again.
	put(t, c.Store, "hosted/npm/packages/@acme/lib/state.json", []byte(`{"v":2}`))
	if rep := migrate(t, b, c, transfer.Options{}); rep.Copied != 1 || rep.Skipped != 8 {
		t.Fatalf("after a change: %+v", rep)
	}
	sameContent(t, "disk after a change", snapshot(t, c), want)
}

// A blob whose bytes do not hash to its name is not copied.
func TestMigrateRefusesDamagedBlob(t *testing.T) {
	a, b := diskSide(t), diskSide(t)
	good := []byte("good bytes")
	key := cache.BlobKey(digest.FromBytes(good))
	put(t, a.Store, key, []byte("evil bytes"))
	put(t, a.Store, "refs/x", []byte("ref"))
	rep := migrate(t, a, b, transfer.Options{})
	if rep.Failed != 1 || rep.Copied != 1 || !strings.Contains(rep.Failures[0].Err, "hash to") {
		t.Fatalf("%+v", rep)
	}
	if _, err := b.Store.Stat(context.Background(), key); !errors.Is(err, cache.ErrNotFound) {
		t.Fatalf("the damaged blob was committed: %v", err)
	}
}

// A migrate cancelled after some objects finishes on the next run,
// skipping what the first copied.
func TestMigrateResumes(t *testing.T) {
	a, b := diskSide(t), diskSide(t)
	for i := range 40 {
		b := bytes.Repeat([]byte{byte(i)}, 1000+i)
		put(t, a.Store, cache.BlobKey(digest.FromBytes(b)), b)
	}
	want := snapshot(t, a)
	ctx, cancel := context.WithCancel(context.Background())
	var n int
	_, err := transfer.Migrate(ctx, a, b, transfer.Options{Workers: 1, Progress: func(e transfer.Event) {
		if n++; n == 10 {
			cancel()
		}
	}})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled migrate: %v", err)
	}
	rep := migrate(t, a, b, transfer.Options{})
	if rep.Skipped < 10 || rep.Copied == 0 || rep.Skipped+rep.Copied != 40 || rep.Failed != 0 {
		t.Fatalf("resumed: %+v", rep)
	}
	sameContent(t, "resumed", snapshot(t, b), want)
}

// A storage path whose index a server holds is refused.
func TestOfflineRefusesServedPath(t *testing.T) {
	path := t.TempDir()
	release, err := transfer.Offline(path)
	if err != nil {
		t.Fatalf("no index: %v", err)
	}
	release()
	ix, _, err := cache.OpenIndex(filepath.Join(path, "index.db"), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := transfer.Offline(path); !errors.Is(err, transfer.ErrServing) || !strings.Contains(err.Error(), "stop the server") {
		t.Fatalf("served path: %v", err)
	}
	ix.Close()
	release, err = transfer.Offline(path)
	if err != nil {
		t.Fatalf("after the server stopped: %v", err)
	}
	release()
}

// The lease and claim records of a shared store belong to its running
// instances: migrate and backup leave them behind.
func TestInstanceStateStaysBehind(t *testing.T) {
	a, b := diskSide(t), diskSide(t)
	put(t, a.Store, "refs/x", []byte("ref"))
	put(t, a.Store, cache.LeaseKey, []byte(`{"holder":"gone"}`))
	if rep := migrate(t, a, b, transfer.Options{}); rep.Copied != 1 || rep.Failed != 0 {
		t.Fatalf("%+v", rep)
	}
	if _, err := b.Store.Stat(context.Background(), cache.LeaseKey); !errors.Is(err, cache.ErrNotFound) {
		t.Fatalf("the lease record was copied: %v", err)
	}
}
