// Package s3 is the Store adapter for an S3-compatible object store (AWS
// S3, Ceph RGW, MinIO, Garage, SeaweedFS, versitygw). Objects live under
// [storage.s3] prefix + key in one bucket. Every write becomes visible
// whole: a single PutObject, or a multipart upload that is completed only
// after every part is in. Fills and uploads keep their temp files on the
// local disk (the cache's spool) and reach the bucket once verified.
//
// Credentials come from the standard AWS chain (environment, shared files,
// instance role), as aws-sdk-go-v2 reads them; AWS_CA_BUNDLE and the other
// standard variables are honoured because the SDK builds the HTTP client.
package s3

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"nora/cache"
	"nora/internal/fault"
)

// Options tune the adapter beyond its [storage.s3] section; the zero value
// takes the defaults.
type Options struct {
	// SpoolDir holds the temp files of Puts whose reader is not a file.
	SpoolDir string
	// PartSize is the multipart part size (default 16 MiB, at least 5 MiB).
	PartSize int64
	// Stall ends a read of an object that moves no byte for this long
	// (default 60 s): a store that stops answering must not hold a client.
	Stall time.Duration
}

// Store keeps objects in one bucket. It implements cache.Store,
// cache.Lister and cache.Presigner.
type Store struct {
	client  *s3.Client
	presign *s3.PresignClient
	bucket  string
	prefix  string
	spool   string
	part    int64
	stall   time.Duration
}

const (
	defaultPartSize = 16 << 20
	minPartSize     = 5 << 20
	maxParts        = 10000
	// partWorkers upload parts of one object at once; each streams a
	// section of the file, so memory does not grow with them.
	partWorkers = 4
)

// Open connects to the bucket of cfg and checks that it answers: a
// missing bucket, a wrong endpoint or refused credentials is one error
// here, not a failure on the first pull.
func Open(ctx context.Context, cfg cache.S3Config, o Options) (*Store, error) {
	s, err := New(ctx, cfg, o)
	if err != nil {
		return nil, err
	}
	if err := s.Check(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// New builds the client without contacting the store.
func New(ctx context.Context, cfg cache.S3Config, o Options) (*Store, error) {
	if cfg.Bucket == "" {
		return nil, errors.New("storage.s3.bucket is empty")
	}
	if o.PartSize < minPartSize {
		o.PartSize = defaultPartSize
	}
	if o.Stall <= 0 {
		o.Stall = 60 * time.Second
	}
	if o.SpoolDir == "" {
		o.SpoolDir = os.TempDir()
	}
	if err := os.MkdirAll(o.SpoolDir, 0o750); err != nil {
		return nil, fmt.Errorf("cannot create %s: %w", o.SpoolDir, err)
	}
	// The SDK's own buildable client: it applies AWS_CA_BUNDLE and the
	// other standard settings, which a client of ours would refuse. No
	// overall timeout: a large object to a slow client takes minutes;
	// stalls are bounded per read instead.
	httpClient := awshttp.NewBuildableClient().WithDialerOptions(func(d *net.Dialer) {
		d.Timeout = 10 * time.Second
		d.KeepAlive = 30 * time.Second
	}).WithTransportOptions(func(tr *http.Transport) {
		tr.TLSHandshakeTimeout = 10 * time.Second
		tr.ResponseHeaderTimeout = 60 * time.Second
		tr.ExpectContinueTimeout = time.Second
		tr.MaxIdleConns = 256
		tr.MaxIdleConnsPerHost = 64
		tr.IdleConnTimeout = 90 * time.Second
	})
	opts := []func(*config.LoadOptions) error{config.WithHTTPClient(httpClient),
		config.WithRetryMaxAttempts(5)}
	if cfg.Region != "" {
		opts = append(opts, config.WithRegion(cfg.Region))
	}
	awsCfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("storage.s3: cannot load the AWS configuration: %w", err)
	}
	client := s3.NewFromConfig(awsCfg, func(so *s3.Options) {
		if cfg.Endpoint != "" {
			so.BaseEndpoint = aws.String(cfg.Endpoint)
		}
		so.UsePathStyle = cfg.PathStyle
		// S3-compatible stores differ in the checksums they know; the
		// signed payload hash already protects every body in transit.
		so.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
		so.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
	})
	prefix := strings.Trim(cfg.Prefix, "/")
	if prefix != "" {
		prefix += "/"
	}
	return &Store{client: client, presign: s3.NewPresignClient(client), bucket: cfg.Bucket,
		prefix: prefix, spool: o.SpoolDir, part: o.PartSize, stall: o.Stall}, nil
}

// Check asks the bucket one cheap question (a HEAD of the bucket) and
// words what went wrong.
func (s *Store) Check(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	_, err := s.client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(s.bucket)})
	if err == nil {
		return nil
	}
	var ae smithy.APIError
	switch {
	case errors.As(err, &ae) && (ae.ErrorCode() == "NotFound" || ae.ErrorCode() == "NoSuchBucket"):
		return fmt.Errorf("storage.s3: bucket %q does not exist", s.bucket)
	case status(err) == http.StatusForbidden || status(err) == http.StatusUnauthorized:
		return fmt.Errorf("storage.s3: access to bucket %q refused (check the AWS credentials): %w", s.bucket, cause(err))
	}
	return fmt.Errorf("storage.s3: bucket %q does not answer: %w", s.bucket, cause(err))
}

// cause is the part of an SDK error a person acts on: the store's answer
// or the network's, without the SDK's request IDs and retry counts.
func cause(err error) error {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae
	}
	var ne *net.OpError
	if errors.As(err, &ne) {
		return ne
	}
	return err
}

// scoped is the context of one SDK call: ctx's deadline and
// cancellation, none of its values, and a cancel of its own called when
// the call is over. net/http reads a request's context from goroutines
// of its own (a dial can outlive its request; the read loop cancels a
// child after the call returned), and a server's request context
// (fasthttp's RequestCtx) may be read only by its handler, and is reused
// for the next request once the handler returns.
func scoped(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithCancel(noValues{ctx})
}

// noValues is a context without the values of the one it wraps.
type noValues struct{ context.Context }

func (noValues) Value(any) any { return nil }

func (s *Store) key(key string) (string, error) {
	if err := cache.CheckKey(key); err != nil {
		return "", err
	}
	return s.prefix + key, nil
}

// status is the HTTP status of an SDK error, 0 if none came back.
func status(err error) int {
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}

// wrap turns the SDK's not-found answers into cache.ErrNotFound and every
// other failure into an Unavailable fault naming the key.
func wrap(op, key string, err error) error {
	var nsk *types.NoSuchKey
	var nf *types.NotFound
	if errors.As(err, &nsk) || errors.As(err, &nf) || status(err) == http.StatusNotFound {
		return cache.ErrNotFound
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return fault.Wrap(fault.Unavailable, err, fmt.Sprintf("storage: %s %s", op, key))
}

func (s *Store) Stat(ctx context.Context, key string) (cache.Info, error) {
	k, err := s.key(key)
	if err != nil {
		return cache.Info{}, err
	}
	ctx, cancel := scoped(ctx)
	defer cancel()
	out, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &s.bucket, Key: &k})
	if err != nil {
		return cache.Info{}, wrap("stat", key, err)
	}
	return cache.Info{Size: aws.ToInt64(out.ContentLength), ModTime: aws.ToTime(out.LastModified)}, nil
}

func (s *Store) Delete(ctx context.Context, key string) error {
	k, err := s.key(key)
	if err != nil {
		return err
	}
	// S3 answers a delete of a missing key with success; the port wants
	// ErrNotFound, which eviction and GC rely on to count.
	if _, err := s.Stat(ctx, key); err != nil {
		return err
	}
	ctx, cancel := scoped(ctx)
	defer cancel()
	if _, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &s.bucket, Key: &k}); err != nil {
		return wrap("delete", key, err)
	}
	return nil
}

// List calls fn with every object under prefix, a page of keys at a time.
func (s *Store) List(ctx context.Context, prefix string, fn func(key string, info cache.Info) error) error {
	p := s.prefix + prefix
	ctx, cancel := scoped(ctx)
	defer cancel()
	pages := s3.NewListObjectsV2Paginator(s.client, &s3.ListObjectsV2Input{Bucket: &s.bucket, Prefix: &p})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return wrap("list", prefix, err)
		}
		for _, o := range page.Contents {
			key := strings.TrimPrefix(aws.ToString(o.Key), s.prefix)
			// Some gateways list the directories their backend keeps.
			if strings.HasSuffix(key, "/") || cache.CheckKey(key) != nil {
				continue
			}
			if err := fn(key, cache.Info{Size: aws.ToInt64(o.Size), ModTime: aws.ToTime(o.LastModified)}); err != nil {
				return err
			}
		}
	}
	return nil
}

// PresignGet is a URL that reads key without credentials until ttl ends.
func (s *Store) PresignGet(ctx context.Context, key string, ttl time.Duration) (string, error) {
	k, err := s.key(key)
	if err != nil {
		return "", err
	}
	req, err := s.presign.PresignGetObject(ctx, &s3.GetObjectInput{Bucket: &s.bucket, Key: &k},
		s3.WithPresignExpires(ttl))
	if err != nil {
		return "", wrap("presign", key, err)
	}
	return req.URL, nil
}

// ensure the interfaces stay implemented.
var (
	_ cache.Store     = (*Store)(nil)
	_ cache.Lister    = (*Store)(nil)
	_ cache.Presigner = (*Store)(nil)
	_ io.Closer       = (*body)(nil)
)
