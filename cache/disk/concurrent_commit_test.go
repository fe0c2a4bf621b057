package disk_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"sync"
	"testing"

	"nora/cache/disk"
)

// Commits that land together, into new and shared directories, each
// return only once their object is in place, whole.
func TestConcurrentCommits(t *testing.T) {
	s, err := disk.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	sizes := []int{0, 1, 2048, 2 << 20}
	var wg sync.WaitGroup
	for i := range 64 {
		wg.Go(func() {
			size := sizes[i%len(sizes)]
			key := fmt.Sprintf("refs/group/%d/%02x/obj", i%7, i)
			if err := s.Put(ctx, key, bytes.NewReader(body(i, size))); err != nil {
				t.Errorf("put %s: %v", key, err)
			}
		})
	}
	wg.Wait()
	for i := range 64 {
		key := fmt.Sprintf("refs/group/%d/%02x/obj", i%7, i)
		r, _, err := s.Get(ctx, key, 0)
		if err != nil {
			t.Fatalf("get %s: %v", key, err)
		}
		got, err := io.ReadAll(r)
		r.Close()
		if err != nil || !bytes.Equal(got, body(i, sizes[i%len(sizes)])) {
			t.Fatalf("%s: %d bytes, %v", key, len(got), err)
		}
	}
}

func body(i, size int) []byte {
	return bytes.Repeat([]byte{byte(i)}, size)
}
