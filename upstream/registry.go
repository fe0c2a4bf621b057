package upstream

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"nora/auth"
)

const userAgent = "nora"

// Do sends method to <URL>/v2/<repo>/<path> ("manifests/latest",
// "blobs/sha256:…", "tags/list?n=10") with hdr added; repo "" addresses
// /v2/<path>. It answers auth challenges (bearer tokens cached per scope,
// basic), follows redirects without forwarding Authorization off-origin,
// retries GET and HEAD on connect errors and 5xx, and keeps the breaker.
//
// Any status the upstream answered comes back as a response (the caller
// closes its body and interprets 404, 429 …); an error means the upstream
// could not be reached or its breaker is open (IsUnavailable), or ctx ended.
func (r *Registry) Do(ctx context.Context, method, repo, path string, hdr http.Header) (*http.Response, error) {
	if err := checkRepo(repo); err != nil {
		return nil, fmt.Errorf("cannot %s %s from %s: %w", method, repo, r.name, err)
	}
	u := *r.base
	u.Path += "/v2/"
	if repo != "" {
		u.Path += repo + "/"
	}
	p, query, _ := strings.Cut(path, "?")
	u.Path += p
	u.RawPath = ""
	u.RawQuery = query
	target := u.String()
	what := strings.TrimPrefix(strings.TrimPrefix(repo+"/"+p, "/"), "/")
	return r.roundTrip(ctx, method, target, what, scopeFor(method, repo), hdr)
}

// DoURL is Do for the package formats (npm, PyPI, Maven, cargo): target is
// an absolute http(s) URL, or a path relative to the upstream's base URL.
// Credentials go only to the base's origin, as with Do.
func (r *Registry) DoURL(ctx context.Context, method, target string, hdr http.Header) (*http.Response, error) {
	u, err := r.base.Parse(target)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
		return nil, fmt.Errorf("cannot %s %q from %s: invalid URL", method, auth.RedactURL(target), r.name)
	}
	if !strings.HasPrefix(target, "http://") && !strings.HasPrefix(target, "https://") {
		// A relative path extends the base path, never replaces it.
		u = r.base.JoinPath(strings.TrimPrefix(target, "/"))
		if p, q, ok := strings.Cut(target, "?"); ok {
			u = r.base.JoinPath(strings.TrimPrefix(p, "/"))
			u.RawQuery = q
		}
	}
	return r.roundTrip(ctx, method, u.String(), u.Path, "", hdr)
}

// BaseURL is the upstream's base URL.
func (r *Registry) BaseURL() string { return r.base.String() }

func (r *Registry) roundTrip(ctx context.Context, method, target, what, scope string, hdr http.Header) (*http.Response, error) {
	req, err := newRequest(withScope(ctx, scope), method, target, hdr)
	if err == nil {
		req.Header.Set(HeaderVia, r.c.via.Chain())
		var resp *http.Response
		if resp, err = r.rt.RoundTrip(req); err == nil {
			return resp, nil
		}
	}
	return nil, fmt.Errorf("cannot %s %s from %s: %w", method, what, r.name, err)
}

// newRequest is the request nora sends for a client's: its headers but
// never its credentials, and nora's User-Agent unless it named one.
func newRequest(ctx context.Context, method, target string, hdr http.Header) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, method, target, nil)
	if err != nil {
		return nil, fmt.Errorf("cannot build request: %w", err)
	}
	for k, vs := range hdr {
		if http.CanonicalHeaderKey(k) == "Authorization" {
			continue // never forward a client's credentials upstream
		}
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	if req.Header.Get("User-Agent") == "" {
		req.Header.Set("User-Agent", userAgent)
	}
	return req, nil
}

// redactURL redacts the URL net/http quotes in its errors: a CDN redirect
// carries a signature in its query, and errors reach logs and clients.
func redactURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		ue.URL = auth.RedactURL(ue.URL)
	}
	return err
}

// drain reads a little of a body we do not need, so that its connection
// can be reused, and closes it.
func drain(rc io.ReadCloser) {
	io.Copy(io.Discard, io.LimitReader(rc, maxErrorBody))
	rc.Close()
}

// checkRepo refuses names that would leave /v2/<repo>/ once the URL is
// cleaned; the format handlers validate names properly, this is a backstop.
func checkRepo(repo string) error {
	if repo == "" {
		return nil
	}
	if strings.ContainsAny(repo, "?#%\\") {
		return errors.New("invalid repository name")
	}
	for seg := range strings.SplitSeq(repo, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return errors.New("invalid repository name")
		}
	}
	return nil
}
