package s3

import (
	"context"
	"io"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"golang.org/x/sync/errgroup"
)

// Put stores r under key, visible only once whole. A file (a verified
// fill or upload) goes up from where it is read, in sections: a single
// PutObject up to the part size, else a multipart upload whose parts
// stream from the file, so no part is held in memory. Another reader is
// spooled to a local temp file first. The SDK retries each request.
func (s *Store) Put(ctx context.Context, key string, r io.Reader) error {
	k, err := s.key(key)
	if err != nil {
		return err
	}
	ctx, cancel := scoped(ctx)
	defer cancel()
	f, ok := r.(*os.File)
	if !ok {
		if f, err = s.spoolReader(r); err != nil {
			return err
		}
		defer os.Remove(f.Name())
		defer f.Close()
	}
	start, err := f.Seek(0, io.SeekCurrent)
	if err != nil {
		return err
	}
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	size := fi.Size() - start
	if size <= s.part {
		_, err := s.client.PutObject(ctx, &s3.PutObjectInput{Bucket: &s.bucket, Key: &k,
			Body: io.NewSectionReader(f, start, size), ContentLength: aws.Int64(size)})
		if err != nil {
			return wrap("put", key, err)
		}
		return nil
	}
	return s.putMultipart(ctx, key, k, f, start, size)
}

// spoolReader copies r to a temp file in the spool, positioned at 0.
func (s *Store) spoolReader(r io.Reader) (*os.File, error) {
	f, err := os.CreateTemp(s.spool, "s3-put-*")
	if err != nil {
		return nil, err
	}
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, err
	}
	return f, nil
}

// putMultipart uploads size bytes of f from start as parts of one
// multipart upload, completed only when every part is in; on any failure
// the upload is aborted and nothing appears under key.
func (s *Store) putMultipart(ctx context.Context, key, k string, f *os.File, start, size int64) (err error) {
	part := s.part
	for size/part >= maxParts {
		part *= 2
	}
	up, err := s.client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: &s.bucket, Key: &k})
	if err != nil {
		return wrap("put", key, err)
	}
	defer func() {
		if err != nil {
			// A fresh context: the caller's may be what ended.
			actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
			s.client.AbortMultipartUpload(actx, &s3.AbortMultipartUploadInput{Bucket: &s.bucket, Key: &k, UploadId: up.UploadId})
			cancel()
		}
	}()
	n := int((size + part - 1) / part)
	parts := make([]types.CompletedPart, n)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(partWorkers)
	for i := range n {
		off := int64(i) * part
		length := min(part, size-off)
		g.Go(func() error {
			num := aws.Int32(int32(i + 1))
			out, err := s.client.UploadPart(gctx, &s3.UploadPartInput{Bucket: &s.bucket, Key: &k,
				UploadId: up.UploadId, PartNumber: num,
				Body: io.NewSectionReader(f, start+off, length), ContentLength: aws.Int64(length)})
			if err != nil {
				return err
			}
			parts[i] = types.CompletedPart{ETag: out.ETag, PartNumber: num}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return wrap("put", key, err)
	}
	_, err = s.client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: &s.bucket, Key: &k,
		UploadId: up.UploadId, MultipartUpload: &types.CompletedMultipartUpload{Parts: parts}})
	if err != nil {
		return wrap("put", key, err)
	}
	return nil
}

// AbortStale aborts the multipart uploads under the prefix started before
// before: what a process killed mid-upload left behind (never visible, but
// kept and billed by some stores). It returns how many it aborted.
func (s *Store) AbortStale(ctx context.Context, before time.Time) (int, error) {
	n := 0
	ctx, cancel := scoped(ctx)
	defer cancel()
	in := &s3.ListMultipartUploadsInput{Bucket: &s.bucket, Prefix: aws.String(s.prefix)}
	for {
		out, err := s.client.ListMultipartUploads(ctx, in)
		if err != nil {
			return n, wrap("list uploads", s.prefix, err)
		}
		for _, u := range out.Uploads {
			if u.Initiated == nil || !u.Initiated.Before(before) {
				continue
			}
			if _, err := s.client.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: &s.bucket,
				Key: u.Key, UploadId: u.UploadId}); err == nil {
				n++
			}
		}
		if !aws.ToBool(out.IsTruncated) {
			return n, nil
		}
		in.KeyMarker, in.UploadIdMarker = out.NextKeyMarker, out.NextUploadIdMarker
	}
}
