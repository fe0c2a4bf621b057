package docker

import (
	"errors"
	"fmt"
	"io/fs"
	"syscall"
	"testing"

	"nora/cache"
	"nora/hosted/oci"
	"nora/proxy/httpx"
)

// The hosted registry's errors reach the wire only through hostedWire:
// each refusal keeps its code, status and text however it was wrapped; the
// store's failures never show their text.
func TestHostedWire(t *testing.T) {
	f := func(err error, status int, code, msg string) {
		t.Helper()
		gs, gc, gm := hostedWire(err)
		if gs != status || gc != code || gm != msg {
			t.Errorf("hostedWire(%v) = %d %s %q, want %d %s %q", err, gs, gc, gm, status, code, msg)
		}
	}
	f(oci.ErrNameUnknown, 404, codeNameUnknown, "repository is not hosted here")
	f(fmt.Errorf("%w: tag v1", oci.ErrManifestUnknown), 404, codeManifestUnknown, "manifest unknown: tag v1")
	f(oci.ErrBlobUnknown, 404, codeBlobUnknown, "blob unknown")
	f(oci.ErrManifestBlobUnknown, 400, codeManifestBlobUnknown, "manifest references an unknown blob or manifest")
	f(fmt.Errorf("%w: schemaVersion must be 2", oci.ErrManifestInvalid), 400, codeManifestInvalid, "manifest invalid: schemaVersion must be 2")
	f(oci.ErrDigestInvalid, 400, codeDigestInvalid, "digest invalid")
	f(oci.ErrUploadUnknown, 404, codeBlobUploadUnknown, "upload session unknown")
	f(oci.ErrUploadBusy, 400, codeBlobUploadInvalid, "upload session is in use by another request")
	f(fmt.Errorf("%w after 3 bytes: %w", oci.ErrTruncated, errors.New("reset")), 400, codeBlobUploadInvalid, "upload body ended early after 3 bytes: reset")
	f(fmt.Errorf("%w: at 9", oci.ErrRangeInvalid), 416, codeBlobUploadInvalid, "chunk does not continue the upload: at 9")
	f(fmt.Errorf("%w: 64 are open", oci.ErrTooManyUploads), 429, codeTooManyRequests, "too many uploads in progress; retry later")
	pathErr := &fs.PathError{Op: "write", Path: "tmp/upload-1", Err: syscall.EIO}
	f(fmt.Errorf("%w after 3 bytes: %w", oci.ErrTruncated, pathErr), 500, codeUnknown, "internal error")
	f(fmt.Errorf("cannot commit: %w", &fs.PathError{Op: "write", Path: "tmp/x", Err: syscall.ENOSPC}), 507, codeInsufficientStorage, httpx.NoSpaceMessage)
	f(cache.ErrNoSpace, 507, codeInsufficientStorage, httpx.NoSpaceMessage)
	f(errors.New("bbolt: database not open"), 500, codeUnknown, "internal error")
}
