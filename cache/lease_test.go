package cache_test

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/opencontainers/go-digest"

	"nora/cache"
	"nora/cache/cachetest"
	s3store "nora/cache/s3"
	"nora/cache/s3/s3test"
	"nora/internal/fault"
)

// sharedBucket is one versitygw bucket that several caches open.
type sharedBucket struct {
	srv    *s3test.Server
	bucket string
}

func newSharedBucket(t *testing.T) sharedBucket {
	t.Helper()
	s3test.Setenv(t)
	srv := s3test.Start(t)
	return sharedBucket{srv: srv, bucket: srv.NewBucket(t)}
}

// open is one nora instance on the bucket: its own local index and spool.
func (b sharedBucket) open(t *testing.T, clock *testClock) *cache.Cache {
	t.Helper()
	return b.openIn(t, t.TempDir(), clock)
}

func (b sharedBucket) openIn(t *testing.T, dir string, clock *testClock) *cache.Cache {
	t.Helper()
	s, err := s3store.Open(context.Background(), b.srv.Config(b.bucket), s3store.Options{SpoolDir: filepath.Join(dir, "spool")})
	if err != nil {
		t.Fatal(err)
	}
	c, err := cache.New(s, dir, slog.New(slog.DiscardHandler), metrics.NewSet())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if clock != nil {
		c.SetClock(clock.now)
	}
	return c
}

// blobs lists the bucket's content-addressed objects behind nora's back.
func (b sharedBucket) blobs(t *testing.T) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	pages := s3.NewListObjectsV2Paginator(b.srv.Client(), &s3.ListObjectsV2Input{Bucket: &b.bucket, Prefix: aws.String("blobs/")})
	for pages.HasMorePages() {
		page, err := pages.NextPage(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range page.Contents {
			if k := aws.ToString(o.Key); !strings.HasSuffix(k, "/") {
				out[k] = aws.ToInt64(o.Size)
			}
		}
	}
	return out
}

// bytes sums the sizes of the bucket's content-addressed objects.
func (b sharedBucket) bytes(t *testing.T) int64 {
	t.Helper()
	var total int64
	for _, n := range b.blobs(t) {
		total += n
	}
	return total
}

// testClock is the real clock moved by an offset the test sets.
type testClock struct{ off atomic.Int64 }

func (c *testClock) now() time.Time          { return time.Now().Add(time.Duration(c.off.Load())) }
func (c *testClock) advance(d time.Duration) { c.off.Add(int64(d)) }

func step(t *testing.T, c *cache.Cache) bool {
	t.Helper()
	held, err := c.LeaseStep(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return held
}

func TestLeaseOneHolderAtATime(t *testing.T) {
	b := newSharedBucket(t)
	clock := &testClock{}
	a, o := b.open(t, clock), b.open(t, clock)
	if !a.Lease().Shared() {
		t.Fatal("the lease on a bucket is not shared")
	}
	if !step(t, a) || step(t, o) || !a.Lease().Held() || o.Lease().Held() {
		t.Fatalf("after a then o: a %v, o %v", a.Lease().Held(), o.Lease().Held())
	}
	if who, _ := o.Lease().Holder(); who != a.Lease().ID() {
		t.Fatalf("o sees holder %q, want %q", who, a.Lease().ID())
	}
	_, err := o.GC(context.Background(), cache.GCOptions{})
	if !errors.Is(err, cache.ErrLeaseHeld) || fault.KindOf(err) != fault.Conflict || !strings.Contains(err.Error(), a.Lease().ID()) {
		t.Fatalf("gc on the instance without the lease: %v", err)
	}

	// A holder that renews keeps it, however long it runs.
	for range 5 {
		clock.advance(cache.LeaseTTL / 2)
		if !step(t, a) || step(t, o) {
			t.Fatal("the lease moved while its holder renewed it")
		}
	}
	// A holder that stops renewing (killed) loses it after a term, by the
	// clock: its own term ends first, then o takes over.
	clock.advance(cache.LeaseTTL - time.Second)
	if a.Lease().Held() {
		t.Fatal("a holder that did not renew for almost a term still holds the lease")
	}
	if step(t, o) {
		t.Fatal("o took over before a whole term without renewal")
	}
	clock.advance(time.Second)
	if !step(t, o) || step(t, a) || a.Lease().Held() {
		t.Fatalf("after a term without renewal: o %v, a %v", o.Lease().Held(), a.Lease().Held())
	}
	if who, _ := a.Lease().Holder(); who != o.Lease().ID() {
		t.Fatalf("a sees holder %q, want %q", who, o.Lease().ID())
	}
}

func TestLeaseMovesWhenHolderCloses(t *testing.T) {
	b := newSharedBucket(t)
	one, two := b.open(t, nil), b.open(t, nil)
	one.Start(cache.Limits{})
	two.Start(cache.Limits{})
	waitFor(t, "one holder", func() bool { return one.Lease().Held() != two.Lease().Held() })
	holder, other := one, two
	if two.Lease().Held() {
		holder, other = two, one
	}
	if step(t, other) {
		t.Fatal("both hold the lease")
	}
	if err := holder.Close(); err != nil {
		t.Fatal(err)
	}
	if holder.Lease().Held() {
		t.Fatal("a closed cache still holds the lease")
	}
	// Released: the next step takes it, without waiting for a term.
	if !step(t, other) {
		who, _ := other.Lease().Holder()
		t.Fatalf("the lease did not move when its holder closed; holder %q", who)
	}
}

func TestEvictionOnSharedBucketHonoursMaxSize(t *testing.T) {
	b := newSharedBucket(t)
	clock := &testClock{}
	a, o := b.open(t, clock), b.open(t, clock)
	const size, capBytes = 100 << 10, 500 << 10
	var filled []digest.Digest
	for i := range 10 { // by the instance without the lease
		filled = append(filled, pull(t, o, i, size))
	}
	own := pull(t, a, 20, size)
	if !step(t, a) || step(t, o) {
		t.Fatal("a does not hold the lease")
	}
	a.SetLimits(cache.Limits{MaxSize: capBytes})
	o.SetLimits(cache.Limits{MaxSize: capBytes})

	o.EvictPass(context.Background())
	if n := len(b.blobs(t)); n != 11 {
		t.Fatalf("the instance without the lease evicted: %d objects left of 11", n)
	}
	// Everything was written moments ago: another instance may still be
	// about to use it.
	a.EvictPass(context.Background())
	if n := len(b.blobs(t)); n != 11 {
		t.Fatalf("eviction removed objects written within the grace: %d left of 11", n)
	}
	if p, _, n := a.Index().Usage(); p != 11*size || n != 11 {
		t.Fatalf("the holder's reconciled index: %d bytes in %d objects, want %d in 11", p, n, 11*size)
	}

	clock.advance(cache.SharedGrace + time.Minute)
	if !step(t, a) { // renewed, as its loop does meanwhile
		t.Fatal("a lost the lease")
	}
	// The holder reads one that o filled: the LRU sees that access.
	obj, err := a.Open(context.Background(), cache.BlobKey(filled[0]))
	if err != nil {
		t.Fatal(err)
	}
	obj.Body.Close()
	a.EvictPass(context.Background())
	left, total := b.blobs(t), b.bytes(t)
	if total > capBytes || float64(total) < float64(capBytes)*cache.LowWater-size {
		t.Fatalf("the bucket holds %d proxied bytes after eviction, want about %v, at most %d", total, float64(capBytes)*cache.LowWater, capBytes)
	}
	if _, ok := left[cache.BlobKey(filled[0])]; !ok {
		t.Error("the object the holder read last was evicted (not LRU)")
	}
	if _, ok := left[cache.BlobKey(own)]; !ok {
		t.Error("the holder's own most recent fill was evicted before older uploads")
	}
	if p, _, _ := a.Index().Usage(); p != total {
		t.Errorf("the holder's index counts %d proxied bytes, the bucket holds %d", p, total)
	}
}

func TestLeaseHolderAbortsStaleUploads(t *testing.T) {
	b := newSharedBucket(t)
	clock := &testClock{}
	a := b.open(t, clock)
	cl := b.srv.Client()
	ctx := context.Background()
	if _, err := cl.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: &b.bucket,
		Key: aws.String("blobs/sha256/ab/left-by-a-killed-process")}); err != nil {
		t.Fatal(err)
	}
	uploads := func() int {
		out, err := cl.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: &b.bucket})
		if err != nil {
			t.Fatal(err)
		}
		return len(out.Uploads)
	}
	if !step(t, a) {
		t.Fatal("a does not hold the lease")
	}
	a.EvictPass(ctx)
	if n := uploads(); n != 1 {
		t.Fatalf("an upload of moments ago was aborted: %d left", n)
	}
	clock.advance(25 * time.Hour)
	if !step(t, a) {
		t.Fatal("a lost the lease")
	}
	a.EvictPass(ctx)
	if n := uploads(); n != 0 {
		t.Fatalf("%d uploads older than a day left", n)
	}
}

// blockingMarker refers to nothing; a GC run (not the dry marks of a
// reconcile) waits in it until released.
type blockingMarker struct{ marked, release chan struct{} }

func (m blockingMarker) Mark(_ context.Context, o cache.MarkOptions, _ func(digest.Digest)) ([]cache.GCItem, error) {
	if !o.DryRun {
		close(m.marked)
		<-m.release
	}
	return nil, nil
}

// TestGCSparesWhatAnotherInstanceCommitsMidRun: the holder's index says a
// hosted blob is old and unreferenced, but another instance committed it
// again (for a manifest not written yet) after the mark began.
func TestGCSparesWhatAnotherInstanceCommitsMidRun(t *testing.T) {
	b := newSharedBucket(t)
	a, o := b.open(t, nil), b.open(t, nil)
	if !step(t, a) {
		t.Fatal("a does not hold the lease")
	}
	ctx := context.Background()
	dead, again := seeded(30, 3000), seeded(31, 4000)
	deadD, againD := push(t, a, dead), push(t, a, again)
	// Both look a day old to a; dead also to the bucket (posix backend).
	old := time.Now().Add(-48 * time.Hour)
	for _, d := range []digest.Digest{deadD, againD} {
		if err := a.Index().Backdate(cache.BlobKey(d), 48*time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chtimes(filepath.Join(b.srv.Dir, b.bucket, filepath.FromSlash(cache.BlobKey(deadD))), old, old); err != nil {
		t.Fatal(err)
	}
	m := blockingMarker{marked: make(chan struct{}), release: make(chan struct{})}
	a.SetMarkers(m)
	done := make(chan error, 1)
	var rep cache.GCReport
	go func() {
		var err error
		rep, err = a.GC(ctx, cache.GCOptions{})
		done <- err
	}()
	<-m.marked
	// Meanwhile the blob is removed and o commits it afresh.
	if _, err := b.srv.Client().DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &b.bucket, Key: aws.String(cache.BlobKey(againD))}); err != nil {
		t.Fatal(err)
	}
	push(t, o, again)
	close(m.release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	left := b.blobs(t)
	if _, ok := left[cache.BlobKey(againD)]; !ok {
		t.Fatalf("gc removed a blob another instance committed after its mark began: %+v", rep)
	}
	if _, ok := left[cache.BlobKey(deadD)]; ok || rep.Count != 1 || rep.Freed != int64(len(dead)) {
		t.Fatalf("gc did not remove the old unreferenced blob: %+v", rep)
	}
}

// TestEvictionOnSharedBucketRunsInTheBackground: started instances need
// no help: the lease holder reconciles and evicts what the others filled.
func TestEvictionOnSharedBucketRunsInTheBackground(t *testing.T) {
	b := newSharedBucket(t)
	clock := &testClock{}
	a, o := b.open(t, clock), b.open(t, clock)
	const size, capBytes = 64 << 10, 256 << 10
	for i := range 8 {
		pull(t, o, i, size)
	}
	a.Start(cache.Limits{MaxSize: capBytes})
	o.Start(cache.Limits{MaxSize: capBytes})
	clock.advance(cache.SharedGrace + time.Minute) // all of it is old now
	waitFor(t, "the bucket under max_size", func() bool { return b.bytes(t) <= capBytes })
	if a.Lease().Held() && o.Lease().Held() {
		t.Fatal("both instances hold the lease")
	}
}

// TestMinFreeOnSharedBucketWatchesTheLocalDisk: on S3, min_free is about
// the local disk of storage.path (index and spool): /ready turns false
// below it, and nothing is evicted from the bucket for it.
func TestMinFreeOnSharedBucketWatchesTheLocalDisk(t *testing.T) {
	b := newSharedBucket(t)
	clock := &testClock{}
	a := b.openIn(t, cachetest.SmallFS(t, "16m"), clock)
	pull(t, a, 1, 1<<20)
	pull(t, a, 2, 1<<20)
	a.Start(cache.Limits{MinFree: 32 << 20}) // more than the local disk holds
	waitFor(t, "ready to fail below min_free", func() bool {
		err := a.Ready(context.Background())
		return err != nil && strings.Contains(err.Error(), "below min_free")
	})
	st, err := a.Stats(context.Background())
	if err != nil || st.FreeBytes <= 0 || st.TotalBytes > 16<<20 || st.LeaseHolder == "" {
		t.Fatalf("stats %+v %v", st, err)
	}
	clock.advance(cache.SharedGrace + time.Minute)
	if !step(t, a) {
		t.Fatal("a does not hold the lease")
	}
	a.EvictPass(context.Background())
	if n := len(b.blobs(t)); n != 2 {
		t.Fatalf("min_free of the local disk evicted from the bucket: %d objects left of 2", n)
	}
}

// TestGCStopsWhenItsLeaseIsLost: a holder that stalls past its term (the
// store unreachable, the process paused) removes nothing more once
// another instance may have taken over.
func TestGCStopsWhenItsLeaseIsLost(t *testing.T) {
	b := newSharedBucket(t)
	clock := &testClock{}
	a, o := b.open(t, clock), b.open(t, clock)
	if !step(t, a) || step(t, o) {
		t.Fatal("a does not hold the lease")
	}
	ctx := context.Background()
	d := push(t, a, seeded(40, 5000))
	if err := a.Index().Backdate(cache.BlobKey(d), 48*time.Hour); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-48 * time.Hour)
	if err := os.Chtimes(filepath.Join(b.srv.Dir, b.bucket, filepath.FromSlash(cache.BlobKey(d))), old, old); err != nil {
		t.Fatal(err)
	}
	m := blockingMarker{marked: make(chan struct{}), release: make(chan struct{})}
	a.SetMarkers(m)
	done := make(chan error, 1)
	go func() {
		_, err := a.GC(ctx, cache.GCOptions{})
		done <- err
	}()
	<-m.marked
	clock.advance(cache.LeaseTTL)
	if !step(t, o) {
		t.Fatal("o did not take over a lease unrenewed for a term")
	}
	close(m.release)
	if err := <-done; err == nil || fault.KindOf(err) != fault.Conflict {
		t.Fatalf("gc that lost its lease: %v", err)
	}
	if _, ok := b.blobs(t)[cache.BlobKey(d)]; !ok {
		t.Fatal("gc removed a blob after it lost the lease")
	}
}

// TestEvictionOnSharedBucketSparesWhatAnotherInstanceClaimed: a hosted
// write on o refers to a proxied blob; the holder, which has not read
// that manifest yet, must not evict the blob.
func TestEvictionOnSharedBucketSparesWhatAnotherInstanceClaimed(t *testing.T) {
	b := newSharedBucket(t)
	clock := &testClock{}
	a, o := b.open(t, clock), b.open(t, clock)
	ctx := context.Background()
	claimed, other := pull(t, o, 1, 4096), pull(t, o, 2, 4096)
	if _, err := o.Claim(ctx, cache.BlobKey(claimed)); err != nil {
		t.Fatal(err)
	}
	clock.advance(cache.SharedGrace + time.Minute)
	if !step(t, a) {
		t.Fatal("a does not hold the lease")
	}
	a.SetLimits(cache.Limits{MaxSize: 1}) // every proxied object must go
	a.EvictPass(ctx)
	left := b.blobs(t)
	if _, ok := left[cache.BlobKey(claimed)]; !ok {
		t.Fatal("the holder evicted a blob another instance claimed for a hosted write")
	}
	if _, ok := left[cache.BlobKey(other)]; ok {
		t.Fatal("an unclaimed old blob survived")
	}
	// A reconcile that began well after the claim has read the hosted
	// state it led to: the mark is dropped, and what nothing refers to
	// goes at last.
	clock.advance(cache.SharedGrace + time.Minute)
	if !step(t, a) {
		t.Fatal("a lost the lease")
	}
	a.EvictPass(ctx)
	if _, ok := b.blobs(t)[cache.BlobKey(claimed)]; ok {
		t.Fatal("a claim mark outlived the reconcile that read past it")
	}
}
