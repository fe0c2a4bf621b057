package replicate

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"

	"nora/internal/fault"
)

// Movers are the movers of the package formats (npm, PyPI, Maven, cargo),
// which copy hosted packages through the formats' publish APIs.
func Movers() []Mover { return []Mover{NPM(), PyPI(), Maven(), Cargo()} }

// maxPkgDoc caps a metadata document read whole (a npmDoc, a project
// page, an index file, the admin API's package list).
const maxPkgDoc = 32 << 20

// pkgMaxErrBody caps the part of an error answer kept for the message.
const pkgMaxErrBody = 64 << 10

// pkgClient is e's client, or the default one.
func pkgClient(e Endpoint) *http.Client {
	if e.Client != nil {
		return e.Client
	}
	return http.DefaultClient
}

// pkgURL is e's base URL followed by path (which starts with "/").
func pkgURL(e Endpoint, path string) string { return strings.TrimSuffix(e.URL, "/") + path }

// pkgDo sends a request to e with its token; an answer outside 2xx is an
// error of the Kind its status means, naming what.
func pkgDo(ctx context.Context, e Endpoint, method, path string, body io.Reader, size int64, hdr map[string]string, what string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, pkgURL(e, path), body)
	if err != nil {
		return nil, fault.Wrap(fault.Invalid, err, "cannot build the request for "+what)
	}
	if body != nil {
		req.ContentLength = size
	}
	if e.Token != "" {
		req.Header.Set("Authorization", "Bearer "+e.Token)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := pkgClient(e).Do(req)
	if err != nil {
		return nil, fault.Wrap(fault.Unavailable, err, fmt.Sprintf("cannot reach %s for %s", e.Name, what))
	}
	if resp.StatusCode/100 != 2 {
		defer resp.Body.Close()
		return nil, pkgStatusError(resp, e.Name, what)
	}
	return resp, nil
}

// pkgStatusError turns a refusal into an error: its Kind from the status,
// its message from the first line of the (bounded) body.
func pkgStatusError(resp *http.Response, name, what string) error {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, pkgMaxErrBody))
	msg := strings.TrimSpace(string(b))
	if line, _, ok := strings.Cut(msg, "\n"); ok {
		msg = line
	}
	kind := fault.Invalid
	switch code := resp.StatusCode; {
	case code == http.StatusUnauthorized || code == http.StatusForbidden:
		kind = fault.Denied
	case code == http.StatusNotFound:
		kind = fault.NotFound
	case code == http.StatusConflict:
		kind = fault.Conflict
	case code == http.StatusRequestEntityTooLarge:
		kind = fault.TooLarge
	case code == http.StatusTooManyRequests:
		kind = fault.RateLimited
	case code == http.StatusInsufficientStorage:
		kind = fault.NoSpace
	case code >= 500:
		kind = fault.Unavailable
	}
	return fault.Newf(kind, "%s: %s answered %s: %s", what, name, resp.Status, msg)
}

// pkgJSON GETs path from e and decodes its JSON answer into v; a 404 is
// fault.NotFound.
func pkgJSON(ctx context.Context, e Endpoint, path, accept, what string, v any) error {
	resp, err := pkgDo(ctx, e, http.MethodGet, path, nil, 0, map[string]string{"Accept": accept}, what)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxPkgDoc)).Decode(v); err != nil {
		return fault.Wrap(fault.BadUpstream, err, fmt.Sprintf("%s: %s sent an unreadable answer", what, e.Name))
	}
	return nil
}

// pkgListHosted lists the hosted packages of format on src through its admin
// content API (the caller's token needs the admin permission): one Item
// per version that match accepts.
func pkgListHosted(ctx context.Context, src Endpoint, format string, match func(name, version string) bool) ([]Item, error) {
	var answer struct {
		Packages []struct {
			Name     string `json:"name"`
			Hosted   bool   `json:"hosted"`
			Versions []struct {
				Version string `json:"version"`
				Size    int64  `json:"size"`
			} `json:"versions"`
		} `json:"packages"`
	}
	if err := pkgJSON(ctx, src, "/api/v1/packages/"+format, "application/json", "the list of "+format+" packages", &answer); err != nil {
		return nil, err
	}
	var out []Item
	for _, p := range answer.Packages {
		if !p.Hosted {
			continue
		}
		for _, v := range p.Versions {
			if match == nil || match(p.Name, v.Version) {
				out = append(out, Item{Format: format, Name: p.Name, Version: v.Version, Size: v.Size})
			}
		}
	}
	return out, nil
}

// pkgBody is a file fetched from a source, to be sent with a known
// length: the source's answer itself when it told its length, else a
// temp file it was spooled to.
type pkgBody struct {
	io.Reader
	Size  int64
	close func() error
}

// Close closes the answer, or closes and removes the temp file.
func (b *pkgBody) Close() error { return b.close() }

// pkgOpen GETs path from e, spooling it into a temp file if the answer
// does not tell its length.
func pkgOpen(ctx context.Context, e Endpoint, path, what string) (*pkgBody, error) {
	resp, err := pkgDo(ctx, e, http.MethodGet, path, nil, 0, nil, what)
	if err != nil {
		return nil, err
	}
	if resp.ContentLength >= 0 {
		return &pkgBody{Reader: resp.Body, Size: resp.ContentLength, close: resp.Body.Close}, nil
	}
	defer resp.Body.Close()
	f, err := os.CreateTemp("", "nora-replicate-*")
	if err != nil {
		return nil, fault.Wrap(fault.Internal, err, "cannot spool "+what)
	}
	b := &pkgBody{Reader: f, close: func() error {
		err := f.Close()
		os.Remove(f.Name())
		return err
	}}
	if b.Size, err = io.Copy(f, resp.Body); err != nil {
		b.Close()
		return nil, fault.Wrap(fault.Unavailable, err, fmt.Sprintf("cannot fetch %s from %s", what, e.Name))
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		b.Close()
		return nil, fault.Wrap(fault.Internal, err, "cannot read back "+what)
	}
	return b, nil
}

// pkgCounter counts the bytes read through it and tells progress.
type pkgCounter struct {
	r        io.Reader
	n        int64
	progress func(int64)
}

func (c *pkgCounter) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if n > 0 {
		c.n += int64(n)
		if c.progress != nil {
			c.progress(int64(n))
		}
	}
	return n, err
}

// send sends body (of size bytes) to dst with method, counting what is
// read from it into *sent, and drops the answer.
func pkgSend(ctx context.Context, dst Endpoint, method, path string, body io.Reader, size int64, hdr map[string]string, what string, sent *int64, progress func(int64)) error {
	c := &pkgCounter{r: body, progress: progress}
	resp, err := pkgDo(ctx, dst, method, path, c, size, hdr, what)
	*sent += c.n
	if err != nil {
		return err
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, pkgMaxErrBody))
	resp.Body.Close()
	return nil
}

// pkgNoPrefix refuses a target prefix: packages keep their names (a
// prefix renames images only).
func pkgNoPrefix(dst Endpoint) error {
	if dst.Prefix != "" {
		return fault.Newf(fault.Invalid, "a target prefix (%s) applies to images only; packages keep their names", dst.Prefix)
	}
	return nil
}

// pkgItemError names the item in err (nil if err is).
func pkgItemError(it Item, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s %s@%s: %w", it.Format, it.Name, it.Version, err)
}

// pkgEscape escapes a package name for one path segment, keeping the
// "@scope/" form npm writes as "@scope%2fname".
func pkgEscape(name string) string { return url.PathEscape(name) }
