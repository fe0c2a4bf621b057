package docker

import (
	"encoding/json"
	"strconv"

	"github.com/valyala/fasthttp"
)

// OCI distribution error codes, with the status each is sent with.
const (
	codeNameInvalid         = "NAME_INVALID"
	codeNameUnknown         = "NAME_UNKNOWN"
	codeManifestUnknown     = "MANIFEST_UNKNOWN"
	codeManifestInvalid     = "MANIFEST_INVALID"
	codeManifestBlobUnknown = "MANIFEST_BLOB_UNKNOWN"
	codeBlobUnknown         = "BLOB_UNKNOWN"
	codeBlobUploadUnknown   = "BLOB_UPLOAD_UNKNOWN"
	codeBlobUploadInvalid   = "BLOB_UPLOAD_INVALID"
	codeDigestInvalid       = "DIGEST_INVALID"
	codeSizeInvalid         = "SIZE_INVALID"
	codeTagInvalid          = "TAG_INVALID"
	codeUnsupported         = "UNSUPPORTED"
	codeTooManyRequests     = "TOOMANYREQUESTS"
	codeUnauthorized        = "UNAUTHORIZED"
	codeDenied              = "DENIED"
	codeUnavailable         = "UNAVAILABLE"
	codeUnknown             = "UNKNOWN"
	// codeInsufficientStorage is not one of the spec's codes, none of
	// which fits a full disk; clients show an unknown code with its
	// message. UNKNOWN would make go-containerregistry retry the upload
	// into the full disk.
	codeInsufficientStorage = "INSUFFICIENT_STORAGE"
	// codePaginationNumberInvalid is distribution's code for a bad n of
	// the catalog or a tag list; the spec has none for it, and
	// UNSUPPORTED means a method the registry does not offer (405).
	codePaginationNumberInvalid = "PAGINATION_NUMBER_INVALID"
)

var codeStatus = map[string]int{
	codeNameInvalid:         fasthttp.StatusBadRequest,
	codeNameUnknown:         fasthttp.StatusNotFound,
	codeManifestUnknown:     fasthttp.StatusNotFound,
	codeManifestInvalid:     fasthttp.StatusBadRequest,
	codeManifestBlobUnknown: fasthttp.StatusBadRequest,
	codeBlobUnknown:         fasthttp.StatusNotFound,
	codeBlobUploadUnknown:   fasthttp.StatusNotFound,
	codeBlobUploadInvalid:   fasthttp.StatusBadRequest,
	codeDigestInvalid:       fasthttp.StatusBadRequest,
	codeSizeInvalid:         fasthttp.StatusBadRequest,
	codeTagInvalid:          fasthttp.StatusBadRequest,
	codeUnsupported:         fasthttp.StatusMethodNotAllowed,
	codeTooManyRequests:     fasthttp.StatusTooManyRequests,
	codeUnauthorized:        fasthttp.StatusUnauthorized,
	codeDenied:              fasthttp.StatusForbidden,
	codeUnavailable:         fasthttp.StatusServiceUnavailable,
	codeUnknown:             fasthttp.StatusBadGateway,
	codeInsufficientStorage: fasthttp.StatusInsufficientStorage,

	codePaginationNumberInvalid: fasthttp.StatusBadRequest,
}

type wireError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// ociError writes the spec's {"errors":[...]} body. HEAD gets the status
// and headers only.
func ociError(ctx *fasthttp.RequestCtx, code, message string) {
	status, ok := codeStatus[code]
	if !ok {
		status = fasthttp.StatusInternalServerError
	}
	ociErrorStatus(ctx, status, code, message)
}

// ociErrorStatus is ociError with a status other than the code's usual one
// (413 for a manifest too large, 416 for a chunk out of order).
func ociErrorStatus(ctx *fasthttp.RequestCtx, status int, code, message string) {
	ctx.Response.Reset()
	ctx.SetStatusCode(status)
	ctx.Response.Header.Set("Docker-Distribution-API-Version", "registry/2.0")
	b, _ := json.Marshal(struct {
		Errors []wireError `json:"errors"`
	}{[]wireError{{code, message}}})
	ctx.SetContentType("application/json")
	if ctx.IsHead() {
		ctx.Response.Header.SetContentLength(len(b))
		ctx.Response.SkipBody = true
		return
	}
	ctx.SetBody(b)
}

// tooManyRequests relays an upstream 429, keeping its Retry-After.
func tooManyRequests(ctx *fasthttp.RequestCtx, retryAfter int) {
	ociError(ctx, codeTooManyRequests, "upstream rate limit reached; retry later")
	if retryAfter <= 0 {
		retryAfter = 60
	}
	ctx.Response.Header.Set("Retry-After", strconv.Itoa(retryAfter))
}
