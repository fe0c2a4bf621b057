package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/opencontainers/go-digest"

	"nora/cache"
	"nora/cache/s3/s3test"
	"nora/proxy/proxytest"
	"nora/upstream/upstreamtest"
)

// Two nora processes (this binary, as TestMain runs it) share one bucket,
// each with a storage path of its own, as instances behind a load balancer.

// startS3Instance runs a nora process on bucket with upstream up as
// docker.io.
func startS3Instance(t testing.TB, srv *s3test.Server, bucket, up string) *noraProcess {
	t.Helper()
	config := fmt.Sprintf("[server]\nlisten = %q\n[storage]\nbackend = \"s3\"\npath = %q\n"+
		"[storage.s3]\nendpoint = %q\nbucket = %q\nregion = %q\npath_style = true\n"+
		"[[docker.upstreams]]\nname = \"docker.io\"\nurl = %q\n",
		freeAddr(t), t.TempDir(), srv.Endpoint, bucket, s3test.Region, up)
	return runProcess(t, os.Args[0], append(s3test.ProcessEnv(), "NORATEST_MAIN=1"), config)
}

// anonCrane runs the real crane with a home of its own and no credentials.
func anonCrane(t *testing.T, args ...string) string {
	t.Helper()
	path, err := exec.LookPath("crane")
	if err != nil {
		t.Fatalf("crane is not installed (.ci/setup-oci.sh installs it): %v", err)
	}
	home := t.TempDir()
	cmd := exec.Command(path, append([]string{"--insecure"}, args...)...)
	cmd.Env = proxytest.Env(home, "DOCKER_CONFIG="+home)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("crane %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// TestS3InstancesShareFills: an image pulled through the first instance
// is served by the second with the upstream gone: the second never saw
// it, so every manifest and blob comes from the bucket.
func TestS3InstancesShareFills(t *testing.T) {
	srv := s3test.Start(t)
	bucket := srv.NewBucket(t)
	up := upstreamtest.New(t, upstreamtest.Options{})
	img := up.PushRandomImage(t, "library/app", "1", 3, 256<<10)
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	want := d.String()
	a := startS3Instance(t, srv, bucket, up.URL)
	b := startS3Instance(t, srv, bucket, up.URL)

	anonCrane(t, "pull", a.addr+"/library/app:1", filepath.Join(t.TempDir(), "a.tar"))
	up.Stop()
	if got := anonCrane(t, "digest", b.addr+"/library/app@"+want); got != want {
		t.Fatalf("digest through the second instance: %s, want %s", got, want)
	}
	anonCrane(t, "pull", b.addr+"/library/app@"+want, filepath.Join(t.TempDir(), "b.tar"))
	if got := anonCrane(t, "digest", b.addr+"/library/app:1"); got != want {
		t.Fatalf("tag through the second instance with the upstream gone: %s, want %s", got, want)
	}
	anonCrane(t, "pull", b.addr+"/library/app:1", filepath.Join(t.TempDir(), "b-tag.tar"))
}

// TestS3InstancesFillOneBlob: both instances fill the same cold blob at
// once (the upstream holds its answers until both asked). Both clients get
// the right bytes and the bucket holds one object with them, and no
// multipart upload is left behind.
func TestS3InstancesFillOneBlob(t *testing.T) {
	srv := s3test.Start(t)
	bucket := srv.NewBucket(t)
	up := upstreamtest.New(t, upstreamtest.Options{})
	// Over the adapter's 16 MiB part size: each commit is a multipart upload.
	data := make([]byte, 40<<20)
	rand.NewChaCha8([32]byte{14}).Read(data)
	d := digest.FromBytes(data)
	gets := holdUntilBoth(up, d, data)
	a := startS3Instance(t, srv, bucket, up.URL)
	b := startS3Instance(t, srv, bucket, up.URL)

	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, p := range []*noraProcess{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = getBlob(p.addr, d, data)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("client of instance %d: %v", i, err)
		}
	}
	// No instance knows of the other's fill: one upstream GET each, no more.
	if n := gets.Load(); n != 2 {
		t.Fatalf("upstream GETs of the blob: %d, want one per instance", n)
	}
	c := srv.Client()
	ctx := context.Background()
	settled(t, "the blob in the bucket", bucketHas(c, bucket, cache.BlobKey(d)))
	list, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: &bucket, Prefix: aws.String("blobs/")})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Contents) != 1 || aws.ToString(list.Contents[0].Key) != cache.BlobKey(d) {
		var keys []string
		for _, o := range list.Contents {
			keys = append(keys, aws.ToString(o.Key))
		}
		t.Fatalf("blobs in the bucket: %v, want only %s", keys, cache.BlobKey(d))
	}
	out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: &bucket, Key: aws.String(cache.BlobKey(d))})
	if err != nil {
		t.Fatal(err)
	}
	stored, err := io.ReadAll(out.Body)
	out.Body.Close()
	if err != nil || !bytes.Equal(stored, data) {
		t.Fatalf("the bucket's object: %d bytes, %v; want the blob's %d", len(stored), err, len(data))
	}
	ups, err := c.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: &bucket})
	if err != nil {
		t.Fatal(err)
	}
	if len(ups.Uploads) != 0 {
		t.Fatalf("%d multipart uploads left in the bucket", len(ups.Uploads))
	}
}

// holdUntilBoth makes up serve data as blob d, holding each GET until two
// have arrived (or 20 s passed) and then sending slowly, so that two
// fills of it overlap from start to end. It returns the count of GETs.
func holdUntilBoth(up *upstreamtest.Registry, d digest.Digest, data []byte) *atomic.Int64 {
	var gets atomic.Int64
	both := make(chan struct{})
	var once sync.Once
	up.SetHook(func(w http.ResponseWriter, r *http.Request) bool {
		if !strings.HasSuffix(r.URL.Path, "/blobs/"+d.String()) {
			return false
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(data)))
		if r.Method != http.MethodGet {
			return true
		}
		if gets.Add(1) == 2 {
			once.Do(func() { close(both) })
		}
		select {
		case <-both:
		case <-time.After(20 * time.Second):
		}
		for off := 0; off < len(data); off += 1 << 20 {
			if _, err := w.Write(data[off : off+1<<20]); err != nil {
				return true
			}
			time.Sleep(5 * time.Millisecond)
		}
		return true
	})
	return &gets
}

// getBlob GETs blob d through nora at addr and compares it with want.
func getBlob(addr string, d digest.Digest, want []byte) error {
	resp, err := http.Get("http://" + addr + "/v2/library/big/blobs/" + d.String())
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	got, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("status %d, read %d bytes: %w", resp.StatusCode, len(got), err)
	}
	if resp.StatusCode != 200 || !bytes.Equal(got, want) {
		return fmt.Errorf("status %d, %d bytes, not the blob's %d", resp.StatusCode, len(got), len(want))
	}
	return nil
}

// BenchmarkS3ProcessRSS1GiB measures the peak RSS (VmHWM) of a nora
// process filling a 1 GiB blob into S3 while one client reads it (it
// moves 1 GiB three times; one fill per iteration, each on a new bucket):
//
//	go test -run '^$' -bench S3ProcessRSS1GiB -benchtime 1x ./cmd/nora/
func BenchmarkS3ProcessRSS1GiB(b *testing.B) {
	for range b.N {
		start, peak := fill1GiB(b)
		b.ReportMetric(float64(start>>20), "start-VmHWM-MiB")
		b.ReportMetric(float64(peak>>20), "peak-VmHWM-MiB")
	}
}

// fill1GiB runs a nora process on a new bucket, pulls a 1 GiB blob
// through it and returns its VmHWM after start and after the fill.
func fill1GiB(t testing.TB) (start, peak int64) {
	t.Helper()
	const size = 1 << 30
	seed := [32]byte{1, 4}
	h := sha256.New()
	io.Copy(h, io.LimitReader(rand.NewChaCha8(seed), size))
	d := digest.NewDigest(digest.SHA256, h)
	srv := s3test.Start(t)
	bucket := srv.NewBucket(t)
	up := upstreamtest.New(t, upstreamtest.Options{})
	up.SetHook(func(w http.ResponseWriter, r *http.Request) bool {
		if !strings.HasSuffix(r.URL.Path, "/blobs/"+d.String()) {
			return false
		}
		w.Header().Set("Content-Length", strconv.Itoa(size))
		if r.Method == http.MethodGet {
			io.Copy(w, io.LimitReader(rand.NewChaCha8(seed), size))
		}
		return true
	})
	p := startS3Instance(t, srv, bucket, up.URL)
	start = procHWM(t, p.cmd.Process.Pid)
	url := "http://" + p.addr + "/v2/library/big/blobs/" + d.String()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	got := sha256.New()
	n, err := io.Copy(got, resp.Body)
	resp.Body.Close()
	if err != nil || n != size || digest.NewDigest(digest.SHA256, got) != d {
		t.Fatalf("GET of the 1 GiB blob: %d bytes, %v", n, err)
	}
	settled(t, "the blob in the bucket", bucketHas(srv.Client(), bucket, cache.BlobKey(d)))
	head, err := srv.Client().HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: &bucket, Key: aws.String(cache.BlobKey(d))})
	if err != nil || aws.ToInt64(head.ContentLength) != size {
		t.Fatalf("the blob in the bucket: %v", err)
	}
	return start, procHWM(t, p.cmd.Process.Pid)
}

// bucketHas reports whether bucket holds key: a fill's upload goes on
// after its reply.
func bucketHas(c *s3.Client, bucket, key string) func() bool {
	return func() bool {
		_, err := c.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: &bucket, Key: &key})
		return err == nil
	}
}

// procHWM is the peak resident set of process pid in bytes.
func procHWM(t testing.TB, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmHWM")
	return 0
}
