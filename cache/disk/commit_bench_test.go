package disk_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"nora/cache/disk"
)

// BenchmarkPutSmallParallel: 16 writers commit small objects, each to a
// new key (half of them in a directory of their own, as refs are), the
// shape of a cold npm install. An op is one durable commit.
func BenchmarkPutSmallParallel(b *testing.B) {
	s, err := disk.Open(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	body := bytes.Repeat([]byte("x"), 2048)
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	for range 16 {
		wg.Go(func() {
			for i := next.Add(1); i <= int64(b.N); i = next.Add(1) {
				sum := sha256.Sum256([]byte(fmt.Sprint(i)))
				h := hex.EncodeToString(sum[:])
				key := "blobs/sha256/" + h[:2] + "/" + h
				if i%2 == 0 {
					key = "refs/npm/pkg-" + h[:12] + "/packument"
				}
				if err := s.Put(context.Background(), key, bytes.NewReader(body)); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
}
