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

// BenchmarkPutSmall: writers (1: the latency of one commit; 16: the
// shape of a cold npm install) commit small objects, each to a new key,
// half of them in a directory of their own, as refs are. An op is one
// durable commit.
func BenchmarkPutSmall(b *testing.B) {
	for _, writers := range []int{1, 16} {
		b.Run(fmt.Sprintf("writers=%d", writers), func(b *testing.B) { putSmall(b, writers) })
	}
}

func putSmall(b *testing.B, writers int) {
	s, err := disk.Open(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	body := bytes.Repeat([]byte("x"), 2048)
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	for range writers {
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
