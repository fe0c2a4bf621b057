package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"

	"nora/internal/fault"
	"nora/proxy/offline"
	"nora/proxy/prefetch"
)

// Offline is what serves /api/v1/export and /api/v1/import (issue 17).
type Offline struct {
	// Export writes the tar of items to w as it fetches them.
	Export func(ctx context.Context, items []prefetch.Item, platform string, w io.Writer) error
	// Import verifies the tar read from r and commits it whole, or
	// nothing of it.
	Import func(ctx context.Context, r io.Reader) (offline.Summary, error)
}

// SetOffline serves o at /api/v1/export and /api/v1/import. Call it
// before Serve.
func (s *Server) SetOffline(o Offline) { s.offline = &o }

// serveOffline implements POST /api/v1/export and POST /api/v1/import.
func (s *Server) serveOffline(w http.ResponseWriter, r *http.Request, name string) {
	if r.Method != http.MethodPost {
		s.methodNotAllowed(w, r, "POST")
		return
	}
	if name == "export" {
		s.serveExport(w, r)
		return
	}
	sum, err := s.offline.Import(r.Context(), r.Body)
	if err != nil {
		s.log.Warn("import refused", "err", err)
		writeError(w, faultStatus(err), fault.Message(err), nil)
		return
	}
	s.log.Info("imported", "images", len(sum.Images), "packages", len(sum.Packages), "blobs", sum.Blobs, "bytes", sum.Bytes)
	writeJSON(w, http.StatusOK, sum)
}

// serveExport answers with the tar, streamed. An error before its first
// byte is a JSON error; after it, the answer is cut off, so that the
// client never takes a short tar for a whole one.
func (s *Server) serveExport(w http.ResponseWriter, r *http.Request) {
	items, platform, ok := readList(w, r)
	if !ok {
		return
	}
	if err := offline.Check(items); err != nil {
		writeError(w, faultStatus(err), fault.Message(err), nil)
		return
	}
	tw := &tarAnswer{w: w}
	if err := s.offline.Export(r.Context(), items, platform, tw); err != nil {
		s.log.Warn("export failed", "err", err)
		if !tw.started {
			writeError(w, faultStatus(err), err.Error(), nil)
			return
		}
		panic(http.ErrAbortHandler)
	}
	s.log.Info("exported", "items", len(items), "platform", platform)
}

// tarAnswer sends the headers of a tar answer with its first byte.
type tarAnswer struct {
	w       http.ResponseWriter
	started bool
}

func (t *tarAnswer) Write(p []byte) (int, error) {
	if !t.started {
		t.started = true
		t.w.Header().Set("Content-Type", "application/x-tar")
		t.w.WriteHeader(http.StatusOK)
	}
	return t.w.Write(p)
}

// faultStatus is the HTTP status of err's fault kind.
func faultStatus(err error) int {
	switch {
	case errors.Is(err, fault.Invalid):
		return http.StatusBadRequest
	case errors.Is(err, fault.NotFound):
		return http.StatusNotFound
	case errors.Is(err, fault.TooLarge):
		return http.StatusRequestEntityTooLarge
	case errors.Is(err, fault.NoSpace):
		return http.StatusInsufficientStorage
	case errors.Is(err, fault.Unavailable), errors.Is(err, fault.BadUpstream):
		return http.StatusBadGateway
	}
	return http.StatusInternalServerError
}

// Export posts list (POST /api/v1/export) and copies the tar into w as
// it arrives; platform "" takes every platform of an index. A tar cut
// off by the server is an error.
func (c *Client) Export(ctx context.Context, list []byte, platform string, w io.Writer) (int64, error) {
	path := prefix + "export"
	if platform != "" {
		path += "?platform=" + url.QueryEscape(platform)
	}
	resp, err := c.postStream(ctx, path, "text/plain; charset=utf-8", bytes.NewReader(list))
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	n, err := io.Copy(w, resp.Body)
	if err != nil {
		return n, fmt.Errorf("the export ended after %d bytes: %w", n, err)
	}
	return n, nil
}

// Import posts the tar read from r (POST /api/v1/import).
func (c *Client) Import(ctx context.Context, r io.Reader) (offline.Summary, error) {
	var sum offline.Summary
	req, err := c.request(ctx, http.MethodPost, prefix+"import", r)
	if err != nil {
		return sum, err
	}
	req.Header.Set("Content-Type", "application/x-tar")
	return sum, c.send(req, &sum)
}

// postStream POSTs body and returns the answer to read as it comes; an
// error answer is an *Error.
func (c *Client) postStream(ctx context.Context, path, contentType string, body io.Reader) (*http.Response, error) {
	req, err := c.request(ctx, http.MethodPost, path, body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", contentType)
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode >= 300 {
		defer resp.Body.Close()
		var e apiError
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		if json.Unmarshal(b, &e) != nil || e.Error == "" {
			return nil, &Error{Status: resp.StatusCode, Message: "admin API: " + resp.Status}
		}
		return nil, &Error{Status: resp.StatusCode, Message: e.Error}
	}
	return resp, nil
}
