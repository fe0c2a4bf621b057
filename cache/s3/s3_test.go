package s3_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"strings"
	"testing"

	"nora/cache"
	s3store "nora/cache/s3"
	"nora/cache/s3/s3test"
	"nora/cache/storetest"
)

func open(t *testing.T, srv *s3test.Server, o s3store.Options) *s3store.Store {
	t.Helper()
	if o.SpoolDir == "" {
		o.SpoolDir = t.TempDir()
	}
	s, err := s3store.Open(context.Background(), srv.Config(srv.NewBucket(t)), o)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSuite(t *testing.T) {
	s3test.Setenv(t)
	srv := s3test.Start(t)
	storetest.Run(t, func(t *testing.T) cache.Store { return open(t, srv, s3store.Options{}) })
}

// TestKeysRoundTrip: every name the formats produce lists back as it was
// put and reads back by the listed key.
func TestKeysRoundTrip(t *testing.T) {
	s3test.Setenv(t)
	srv := s3test.Start(t)
	s := open(t, srv, s3store.Options{})
	ctx := context.Background()
	keys := []string{
		"refs/npm/@scope/name",
		"refs/npm/@types%2fnode",
		"refs/cargo/index/se/rd/serde+1.0.0",
		"refs/pypi/simple/zope.interface",
		"hosted/maven/org/apache/maven/plugins/maven-surefire-plugin/3.0.0-M7/maven-surefire-plugin-3.0.0-M7-jdk8+linux x86_64.pom",
		"refs/docker/docker.io/library/nginx/tags/1.25.3-alpine3.18",
		"refs/a b/c=d&e?f#g",
		"refs/" + strings.Repeat("long-maven-path-part/", 30) + "end.jar",
		"refs/ünïcode/名前",
	}
	for i, k := range keys {
		if err := s.Put(ctx, k, strings.NewReader(k)); err != nil {
			t.Fatalf("Put %q: %v", k, err)
		}
		_ = i
	}
	got := map[string]bool{}
	if err := s.List(ctx, "", func(key string, info cache.Info) error {
		got[key] = true
		body, _, err := s.Get(ctx, key, 0)
		if err != nil {
			return err
		}
		defer body.Close()
		b, err := io.ReadAll(body)
		if err != nil {
			return err
		}
		if string(b) != key || info.Size != int64(len(key)) {
			t.Errorf("listed %q reads %q (size %d)", key, b, info.Size)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if !got[k] {
			t.Errorf("key %q did not list back; listed %v", k, got)
		}
	}
}

// TestMultipart: an object larger than a part goes up in parts and reads
// back byte for byte, from an offset and by a range section.
func TestMultipart(t *testing.T) {
	s3test.Setenv(t)
	srv := s3test.Start(t)
	s := open(t, srv, s3store.Options{PartSize: 5 << 20})
	ctx := context.Background()
	data := make([]byte, 12<<20+123)
	rand.Read(data)
	if err := s.Put(ctx, "blobs/sha256/aa/big", bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	body, info, err := s.Get(ctx, "blobs/sha256/aa/big", 7<<20)
	if err != nil || info.Size != int64(len(data)) {
		t.Fatalf("Get = %+v, %v", info, err)
	}
	b, err := io.ReadAll(body)
	body.Close()
	if err != nil || !bytes.Equal(b, data[7<<20:]) {
		t.Fatalf("read from offset: %d bytes, %v", len(b), err)
	}
	body, _, err = s.Get(ctx, "blobs/sha256/aa/big", 0)
	if err != nil {
		t.Fatal(err)
	}
	r, err := body.(interface {
		Section(start, length int64) (io.Reader, error)
	}).Section(100, 1000)
	if err != nil {
		t.Fatal(err)
	}
	b, err = io.ReadAll(r)
	body.Close()
	if err != nil || !bytes.Equal(b, data[100:1100]) {
		t.Fatalf("section: %d bytes, %v", len(b), err)
	}
}

// TestOpenErrors: a missing bucket, a wrong endpoint and bad credentials
// are each one clear error at open.
func TestOpenErrors(t *testing.T) {
	s3test.Setenv(t)
	srv := s3test.Start(t)
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		cfg  cache.S3Config
		env  map[string]string
		want string
	}{
		{"missing bucket", srv.Config("no-such-bucket"), nil, `bucket "no-such-bucket" does not exist`},
		{"wrong endpoint", cache.S3Config{Endpoint: "http://127.0.0.1:1", Bucket: "b", Region: "us-east-1", PathStyle: true}, nil, "does not answer"},
		{"bad credentials", srv.Config(srv.NewBucket(t)), map[string]string{"AWS_SECRET_ACCESS_KEY": "wrong"}, "access to bucket"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			_, err := s3store.Open(ctx, tc.cfg, s3store.Options{SpoolDir: t.TempDir()})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Open = %v, want an error with %q", err, tc.want)
			}
		})
	}
}

// TestStoreDown: a stopped server is an Unavailable error, not ErrNotFound.
func TestStoreDown(t *testing.T) {
	s3test.Setenv(t)
	srv := s3test.Start(t)
	s := open(t, srv, s3store.Options{})
	srv.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), 60e9)
	defer cancel()
	if _, err := s.Stat(ctx, "refs/x"); err == nil || errors.Is(err, cache.ErrNotFound) {
		t.Fatalf("Stat with the store down = %v", err)
	}
	srv.Resume()
	if _, err := s.Stat(ctx, "refs/x"); !errors.Is(err, cache.ErrNotFound) {
		t.Fatalf("Stat after the store came back = %v", err)
	}
}

// TestCABundle: a store with a private CA is reached when AWS_CA_BUNDLE
// names that CA, as the SDK's standard settings say, and refused without
// it; an AWS_CA_BUNDLE of the system's store does not break a plain-HTTP
// endpoint (some clients fail there when they bring their own HTTP client).
func TestCABundle(t *testing.T) {
	s3test.Setenv(t)
	srv := s3test.StartTLS(t)
	bucket := srv.NewBucket(t)
	ctx := context.Background()
	if _, err := s3store.Open(ctx, srv.Config(bucket), s3store.Options{SpoolDir: t.TempDir()}); err == nil ||
		!strings.Contains(err.Error(), "certificate") {
		t.Fatalf("Open without the CA: %v", err)
	}
	t.Setenv("AWS_CA_BUNDLE", srv.CAFile)
	s, err := s3store.Open(ctx, srv.Config(bucket), s3store.Options{SpoolDir: t.TempDir()})
	if err != nil {
		t.Fatalf("Open with AWS_CA_BUNDLE: %v", err)
	}
	if err := s.Put(ctx, "refs/x", strings.NewReader("over TLS")); err != nil {
		t.Fatal(err)
	}
	plain := s3test.Start(t)
	if _, err := s3store.Open(ctx, plain.Config(plain.NewBucket(t)), s3store.Options{SpoolDir: t.TempDir()}); err != nil {
		t.Fatalf("plain endpoint with AWS_CA_BUNDLE set: %v", err)
	}
}
