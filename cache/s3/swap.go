package s3

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"nora/cache"
)

// ReadVersion reads key whole (at most max bytes); its ETag is the version.
func (s *Store) ReadVersion(ctx context.Context, key string, max int64) ([]byte, string, error) {
	k, err := s.key(key)
	if err != nil {
		return nil, "", err
	}
	ctx, cancel := scoped(ctx)
	defer cancel()
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: &s.bucket, Key: &k})
	if err != nil {
		return nil, "", wrap("get", key, err)
	}
	defer out.Body.Close()
	if aws.ToInt64(out.ContentLength) > max {
		return nil, "", fmt.Errorf("%s is larger than %d bytes", key, max)
	}
	b, err := io.ReadAll(io.LimitReader(out.Body, max+1))
	if err != nil {
		return nil, "", wrap("read", key, err)
	}
	if int64(len(b)) > max {
		return nil, "", fmt.Errorf("%s is larger than %d bytes", key, max)
	}
	return b, aws.ToString(out.ETag), nil
}

// PutIf writes b under key with a conditional PutObject: If-Match the
// version read, or If-None-Match * when there was none. The store decides,
// so two instances never both win.
func (s *Store) PutIf(ctx context.Context, key string, b []byte, version string) error {
	k, err := s.key(key)
	if err != nil {
		return err
	}
	in := &s3.PutObjectInput{Bucket: &s.bucket, Key: &k, Body: bytes.NewReader(b), ContentLength: aws.Int64(int64(len(b)))}
	if version == "" {
		in.IfNoneMatch = aws.String("*")
	} else {
		in.IfMatch = aws.String(version)
	}
	ctx, cancel := scoped(ctx)
	defer cancel()
	if _, err := s.client.PutObject(ctx, in); err != nil {
		// 412: the precondition failed; 409: a concurrent conditional
		// write is in progress. Either way, read again.
		if st := status(err); st == http.StatusPreconditionFailed || st == http.StatusConflict {
			return cache.ErrChanged
		}
		// A missing object under If-Match is a change too.
		if st := status(err); st == http.StatusNotFound && version != "" {
			return cache.ErrChanged
		}
		return wrap("put", key, err)
	}
	return nil
}
