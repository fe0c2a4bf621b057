package transfer_test

import (
	"context"
	"crypto/rand"
	"io"
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

// BenchmarkMigrateDiskToS3 copies one 256 MiB blob and 500 small objects
// from disk to versitygw on loopback; it reports the peak RSS of the
// process, which must not grow with the blob.
func BenchmarkMigrateDiskToS3(b *testing.B) {
	srv := s3test.Start(b)
	s3test.Setenv(b)
	src := t2side(b)
	big := filepath.Join(b.TempDir(), "big")
	f, _ := os.Create(big)
	h := digest.SHA256.Digester()
	io.Copy(io.MultiWriter(f, h.Hash()), io.LimitReader(rand.Reader, 256<<20))
	f.Seek(0, io.SeekStart)
	if err := src.Store.Put(context.Background(), cache.BlobKey(h.Digest()), f); err != nil {
		b.Fatal(err)
	}
	f.Close()
	for i := range 500 {
		src.Store.Put(context.Background(), "refs/npm/p"+string(rune('a'+i%26))+"/"+strings.Repeat("x", i%7+1)+"/"+string(rune('a'+i/26)), strings.NewReader(strings.Repeat("r", 200+i)))
	}
	b.SetBytes(256<<20 + 500*450)
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		path := b.TempDir()
		dst, err := s3store.Open(context.Background(), srv.Config(srv.NewBucket(b)), s3store.Options{SpoolDir: filepath.Join(path, "spool")})
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		rep, err := transfer.Migrate(context.Background(), src, transfer.Side{Store: dst, Path: path}, transfer.Options{})
		if err != nil || rep.Failed != 0 {
			b.Fatalf("%+v %v", rep, err)
		}
	}
	b.StopTimer()
	if st, err := os.ReadFile("/proc/self/status"); err == nil {
		for _, l := range strings.Split(string(st), "\n") {
			if strings.HasPrefix(l, "VmHWM:") {
				b.Log(strings.Join(strings.Fields(l), " "))
			}
		}
	}
}

func t2side(b *testing.B) transfer.Side {
	path := b.TempDir()
	s, err := disk.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	return transfer.Side{Store: s, Path: path}
}
